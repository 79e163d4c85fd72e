#!/usr/bin/env bash
# H200 evidence for the diagnosis: bamba-9b (4 layers, no attention, bf16) mixer and cached generation at
# 512 tokens with every variant eager and triton under max-autotune, profiled with the phase ranges; then
# analyze each run (phases, floors, findings) into $OUT/diagnosis.json. Also the record() GPU test.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate --seq-len 512
  --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 --device cuda --runs $OUT/runs"
timeout 200 python3 -m bambaprof profile $COMMON --variant triton --variant default-optimized --variant independent \
  --variant default --format json -o $OUT/eager.json 2>&1 | grep -v USDT | tail -5
timeout 280 python3 -m bambaprof profile $COMMON --variant triton --compile max-autotune --format json \
  -o $OUT/max-autotune.json 2>&1 | grep -v USDT | tail -5
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/api/test_record.py -k cuda 2>&1 | tail -2
python3 - <<'PY'
import glob, json, os
import bambaprof
out = os.environ["OUT"]
rows = []
for d in sorted(glob.glob(f"{out}/runs/*/")):
    a = bambaprof.analyze(d)
    s = a.summary
    rows.append({"run": os.path.basename(d.rstrip("/")),
                 **{k: s.get(k) for k in ("gpu_busy_us", "gpu_window_us", "kernel_us", "phase_coverage_pct",
                                          "kernel_time_with_known_bytes_pct", "floor_us", "floor_coverage_pct",
                                          "above_floor_x", "idle_host_wait_us")},
                 "phase_kinds": [{k: p[k] for k in ("phase", "gpu_us", "share_pct", "count", "floor_us", "excess_us")}
                                 for p in a.phase_kinds[:14]],
                 "findings": [{k: f[k] for k in ("id", "severity", "time_us", "message", "suggestion")}
                              for f in a.findings]})
    print(f"{rows[-1]['run'][:60]:60s} phases {s.get('phase_coverage_pct') or 0:5.1f}% bytes "
          f"{s.get('kernel_time_with_known_bytes_pct') or 0:5.1f}% floor x{s.get('above_floor_x') or 0:4.1f} "
          + " ".join(f["id"] for f in a.findings))
json.dump(rows, open(f"{out}/diagnosis.json", "w"), indent=1)
PY
tar cf $OUT/runs.tar -C $OUT runs && rm -rf $OUT/runs  # every run directory, in one file
