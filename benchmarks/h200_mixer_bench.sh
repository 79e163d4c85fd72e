#!/bin/bash
# One device call (about 4 minutes), on an H200 only (elsewhere it prints the card and stops): `bambaprof bench ssd
# --mixer` of the triton variant (its scan `auto`) beside a mixer on mamba_ssm's core, one shape a run
# (device_env.sh's bench_mixers), the 1x2048 first.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
case "$name" in *H200*) ;; *) echo "not an H200 ($name): nothing run"; exit 0 ;; esac
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
bench_mixers ${SHAPES:-1x2048 1x512 8x2048 1x8192 8x8192}
