#!/usr/bin/env bash
# One device call for `bambaprof profile` (issue 4 evidence): the study's matrix on bamba-9b
# (4 layers, no attention, bf16): every variant, mixer and generate, 512 and 2048 tokens, eager
# and max-autotune; then the sampler-cost benchmark. Outputs (tarred run directories) in $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT/runs"
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate
  --seq-len 512 --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 --profile-warmup 1 --profile-active 1
  --device cuda --runs $OUT/runs"
timeout 170 python3 -m bambaprof profile $COMMON --compile none --format json -o "$OUT/summary-none.json" 2>&1 | grep -v "^USDT" | grep -v Warn | tail -4
timeout 120 python3 benchmarks/sampler_overhead.py "$OUT/sampler-overhead.json" 3 2>&1 | grep -v "^USDT" | tail -3
timeout 210 python3 -m bambaprof profile $COMMON --compile max-autotune --format json -o "$OUT/summary-max-autotune.json" 2>&1 | grep -v "^USDT" | grep -v Warn | tail -4
python3 - "$OUT/runs" <<'PY'
import sys, pathlib
from bambaprof.analysis import analyze
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    if d.name.startswith("."):
        continue
    try:
        a = analyze(d)
    except Exception as e:
        print(d.name, "->", str(e).splitlines()[0][:100]); continue
    s = a.summary
    srcs = sorted({k["bytes_source"] for k in a.kernels if k["bytes_source"]})
    tel = a.telemetry or {}
    print(d.name, f"busy={s['gpu_busy_pct']:.0f}%", "bytes:", ",".join(srcs),
          "gpm_dram=%s" % (tel.get("gpm.dram_bw_util_pct") or {}).get("mean"), "power=%s" % (tel.get("nvml.power_w") or {}).get("mean"))
PY
tar czf "$OUT/runs.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs" && ls -la "$OUT"
