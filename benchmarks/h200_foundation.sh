#!/usr/bin/env bash
# One device call for the foundation issue: GPU tests, check at Bamba-9B shapes,
# SSD footprint, fixture traces. Writes everything under $OUT.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader;
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"; } | tee "$OUT/env.txt"
python3 -m pytest -m gpu -s -q -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu-tests.log" | tail -40
for dt in bfloat16 float32; do
  python3 -m bambaprof check --preset bamba-9b --batch 1 --seq-len 512 --seq-len 2048 --dtype $dt \
    --device cuda --format json -o "$OUT/check-bamba9b-$dt.json"; echo "check $dt rc=$?"
done
python3 benchmarks/ssd_footprint.py "$OUT/ssd-footprint.json" --seq-len 512 2048 8192
python3 benchmarks/capture_fixture_traces.py "$OUT/traces" 2>&1 | tail -5
python3 -m bambaprof check --preset bamba-9b --batch 1 --seq-len 2048 --dtype bfloat16 --device cuda
