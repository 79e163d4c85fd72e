#!/bin/bash
# One device call (about 4 minutes), on an H200 only (elsewhere it prints the card and stops): `bambaprof bench ssd
# --mixer` of the triton variant (its scan `auto`) beside a mixer on mamba_ssm's core, one shape a run so that a call
# cut short keeps the shapes done ($OUT/bench-mixer-BxL.json), the issue's 1x2048 first; a line a row.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
case "$name" in *H200*) ;; *) echo "not an H200 ($name): nothing run"; exit 0 ;; esac
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
for shape in ${SHAPES:-1x2048 1x512 8x2048 1x8192 8x8192}; do
  timeout ${SHAPE_S:-90} python3 -m bambaprof bench ssd --mixer --mamba-ssm "$MAMBA" --variant triton --shape "$shape" \
    --format json -o "$OUT/bench-mixer-$shape.json" 2>/dev/null
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
