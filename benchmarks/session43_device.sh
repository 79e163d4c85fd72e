#!/bin/bash
# One device call (forty-third session): on an H200, `bench ssd --mixer` at the five Bamba-9B shapes (issue #17's
# mixer re-run with the current scan) and then the cores beside mamba_ssm; on another card, the mixer at the two
# shapes the H100 run of the same session left out (1x8192, 8x8192).
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
case "$name" in
  *H200*) SHAPE_S=80 bench_mixers 1x2048 1x512 8x2048 1x8192 8x8192; BENCH_S=200 bench_ssd_cores ;;
  *) SHAPE_S=120 bench_mixers 1x8192 8x8192 ;;
esac
echo "done at ${SECONDS}s"
