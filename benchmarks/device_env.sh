# Sourced by the h200_*.sh device scripts: installs the carried wheels (.whl/) without a network, puts them
# and the repository on PYTHONPATH, finds mamba_ssm's source under .peers/ (MAMBA, empty when absent), makes
# $OUT and sends everything the script prints to $OUT/log.txt too (it comes back even when the call times out).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
MAMBA=$(ls -d .peers/mamba_ssm-*/ 2>/dev/null | head -1)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1

# generate_run LABEL NEW_TOKENS COMPILE [PROMPT]: the generate workload once (bamba-9b, 4 layers, no attention, bf16,
# the triton variant, a 2048-token prompt by default) into $OUT/runs/LABEL, its summary in
# $OUT/summary-generate-LABEL.json; prints the inter-token median, p10 and p90 (ms) from its manifest.
generate_run() {
  local label=$1 tokens=$2 compile=$3 prompt=${4:-2048} dir="$OUT/runs/$1"
  timeout ${GENERATE_S:-150} python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
    --workload generate --seq-len "$prompt" --new-tokens "$tokens" --warmup 2 --iters 10 --profile-warmup 1 \
    --profile-active 1 --device cuda --runs "$dir" --variant triton --compile "$compile" --format json \
    -o "$OUT/summary-generate-$label.json" > /dev/null 2>"$OUT/profile-$label.err" || tail -3 "$OUT/profile-$label.err"
  python3 - "$dir" "$label" <<'PY'
import glob, json, sys
for m in glob.glob(sys.argv[1] + "/*/bambaprof/manifest.json"):
    t = json.load(open(m))["timings"]["inter_token_ms"]
    print(sys.argv[2], "inter-token ms median %.3f p10 %.3f p90 %.3f n %d" % (t["median"], t["p10"], t["p90"], t["n"]))
PY
}

# gpu_tests DEFAULT_S LINES PYTEST_ARGS...: the tests named, run by pytest for at most ${TEST_S:-DEFAULT_S} seconds, the
# whole log in $OUT/${TEST_LOG:-tests}.log and its last LINES summary lines printed; NO_TESTS=1 leaves them out. The limit sends
# SIGINT, which pytest takes as an interruption: it still prints what passed and failed (SIGTERM left no summary).
gpu_tests() {
  local limit=$1 lines=$2
  shift 2
  if [ -z "${NO_TESTS:-}" ]; then
    timeout -s INT -k 20 "${TEST_S:-$limit}" python3 -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 \
      | tee "$OUT/${TEST_LOG:-tests}.log" | grep -E "passed|failed|FAILED|Error|Interrupted" | tail -"$lines"
  fi
  echo "${TEST_LOG:-tests} done at ${SECONDS}s"
}

# bench_ssd_cores: `bambaprof bench ssd` of the triton variant against mamba_ssm ($MAMBA) at the five target shapes
# into $OUT/bench-ssd.json (at most BENCH_S seconds, 240 unless set: mamba_ssm re-tunes at every shape), then a line a row (wall and kernel
# time, launches, ratio, % of the FLOP floor) and the configurations mamba_ssm's autotuner chose. BENCH_SCAN names the
# chunk scan (BAMBAPROF_SSD_SCAN: auto, the default, triton or a Gluon form).
bench_ssd_cores() {
  BAMBAPROF_SSD_SCAN=${BENCH_SCAN:-auto} timeout ${BENCH_S:-240} python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --variant triton --format json -o "$OUT/bench-ssd.json" 2>/dev/null
  echo "bench rc=$? at ${SECONDS}s"
  python3 - "$OUT/bench-ssd.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(f"{r['variant']:10s} {r['batch']}x{r['seq_len']:<5d} wall {r['median_ms']:.4f} kernel {r['kernel_ms']:.4f} ms"
          f" launches {r['launches']:.0f} kernel/base {r['kernel_vs_baseline']:.3f} kernel%floor {r['kernel_pct_of_roofline']:.1f}"
          f" kernel%FLOPfloor {r.get('kernel_pct_of_flop_floor') or float('nan'):.1f}")
    for kernel, pick in (r.get("autotune") or {}).items():  # what the peer's autotuner chose at this shape
        print(f"    {kernel}: {', '.join(p for p in pick.split(', ') if not p.endswith('None'))}")
PY
}

# bench_scans SCAN...: `bambaprof bench ssd` of the triton variant with each chunk scan named (`--scan`, side by side
# in the same rounds) against mamba_ssm ($MAMBA) at the five target shapes into $OUT/bench-ssd.json (at most BENCH_S
# seconds, 300 unless set), then a line a row (wall and kernel time, ratio, % of the FLOP floor, median SM MHz).
bench_scans() {
  local scans=""
  for s in "$@"; do scans="$scans --scan $s"; done
  timeout ${BENCH_S:-300} python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --variant triton $scans --format json \
    -o "$OUT/bench-ssd.json" 2>/dev/null
  echo "bench rc=$? at ${SECONDS}s"
  python3 - "$OUT/bench-ssd.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(f"{r['variant']:24s} {r['batch']}x{r['seq_len']:<5d} wall {r['median_ms']:.4f} kernel {r['kernel_ms']:.4f} ms"
          f" kernel/base {r['kernel_vs_baseline']:.3f} %FLOPfloor {r.get('kernel_pct_of_flop_floor') or float('nan'):.1f}"
          f" MHz {r.get('sm_clock_mhz')}")
PY
}

# bench_mixers SHAPE...: `bambaprof bench ssd --mixer` of the triton variant (its scan `auto`) beside a mixer on
# mamba_ssm's core ($MAMBA), one shape a run (at most SHAPE_S seconds each, 90 unless set) so that a call cut short
# keeps the shapes done ($OUT/bench-mixer-BxL.json), then a line a row (wall and kernel time, ratio, SM MHz, the
# share of samples with the clock held down).
bench_mixers() {
  for shape in "$@"; do
    timeout ${SHAPE_S:-90} python3 -m bambaprof bench ssd --mixer --mamba-ssm "$MAMBA" --variant triton \
      --shape "$shape" --format json -o "$OUT/bench-mixer-$shape.json" 2>/dev/null
    echo "mixer $shape rc=$? at ${SECONDS}s"
    python3 - "$OUT/bench-mixer-$shape.json" <<'PY'
import json, sys
try:
    rows = json.load(open(sys.argv[1]))["rows"]
except Exception as exc:
    raise SystemExit(f"no result: {exc}")
for r in rows:
    print(f"{r['variant']:18s} {r['batch']}x{r['seq_len']:<5d} wall {r['median_ms']:.4f} kernel {r['kernel_ms']:.4f} ms"
          f" kernel/base {r['kernel_vs_baseline']:.3f} MHz {r.get('sm_clock_mhz')} held {r.get('clock_held_pct')}")
PY
  done
}

# use_nsys: finds the nsys CLI that ships inside Nsight Compute (NSYS) and its importer's folder (NSYS_HOST),
# whose capture import needs libdw (elfutils): carried under .peers/libs and put on LD_LIBRARY_PATH; prints
# its version.
use_nsys() {
  NSYS=${NSYS:-$(ls /opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys 2>/dev/null | head -1)}
  NSYS_HOST=${NSYS_HOST:-$(ls -d /opt/nvidia/nsight-compute/*/host/linux-desktop-glibc_*-x64 2>/dev/null | head -1)}
  export LD_LIBRARY_PATH=$PWD/.peers/libs:$NSYS_HOST:${LD_LIBRARY_PATH:-}
  "$NSYS" --version
}

# check_triton SCAN LIMIT_S: `bambaprof check` of the triton variant with the chunk scan SCAN (BAMBAPROF_SSD_SCAN)
# at the Bamba-9B target shapes (bf16, initial states, 1 and 8 x 512 / 2048 / 8192) into $OUT/check-triton.json,
# then a line a shape (status, errors against float64).
check_triton() {
  BAMBAPROF_SSD_SCAN=$1 timeout "$2" python3 -m bambaprof check --variant triton --preset bamba-9b --device cuda \
    --dtype bfloat16 --initial-state --batch 1 --batch 8 --seq-len 512 --seq-len 2048 --seq-len 8192 --format json \
    -o "$OUT/check-triton.json" > /dev/null 2> "$OUT/check.err"
  echo "check rc=$? at ${SECONDS}s"
  python3 - "$OUT/check-triton.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as exc:
    raise SystemExit(f"no check result: {exc}")
print("scan", d["environment"]["ssd_scan"])
for r in d["rows"]:
    print(f"check {r['batch']}x{r['seq_len']} {r['status']} y {r['rel_err']:.2e} state {r['state_rel_err']:.2e}"
          f" decode {r['decode_rel_err']:.2e}")
PY
}

# ncu_fixture SCRIPT PREFIX: a fixture for `bambaprof analyze --ncu` from a workload script with `trace OUT` and `ncu`
# modes (benchmarks/ncu_workloads.py's run_workloads): its PyTorch profiler trace ($OUT/PREFIX-trace.json.gz), then
# its NVTX range "measure" under ncu (WarpStateStats, SpeedOfLight, Occupancy, LaunchStats) exported as the details
# page, the details page with --print-details all and the raw page ($OUT/PREFIX-ncu-{details,details-all,raw}.csv.gz).
ncu_fixture() {
  local script=$1 prefix=$2
  python3 "$script" trace "$OUT/$prefix-trace.json.gz" 2>&1 | tail -1
  timeout 150 ncu --clock-control none --nvtx --nvtx-include "measure/" --section WarpStateStats --section SpeedOfLight \
    --section Occupancy --section LaunchStats -o "$OUT/$prefix" python3 "$script" ncu > /tmp/ncu.log 2>&1
  echo "ncu rc=$? at ${SECONDS}s"; tail -2 /tmp/ncu.log
  ncu -i "$OUT/$prefix.ncu-rep" --csv --page details > "$OUT/$prefix-ncu-details.csv"
  ncu -i "$OUT/$prefix.ncu-rep" --csv --page details --print-details all > "$OUT/$prefix-ncu-details-all.csv"
  ncu -i "$OUT/$prefix.ncu-rep" --csv --page raw > "$OUT/$prefix-ncu-raw.csv"
  gzip -9 "$OUT/$prefix"-ncu-*.csv; rm -f "$OUT/$prefix.ncu-rep"
}
