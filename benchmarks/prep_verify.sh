#!/bin/bash
# One device call (about 5 minutes) on the prep's options for few chunks (`_prep_heads`, `cb_tiles` None): the GPU
# tests of the prep's options and of the launch shortcut, `bambaprof bench ssd` of the default against mamba_ssm at
# the five Bamba-9B shapes, then `bambaprof check` of the default at the Bamba-9B shapes where at least 70 seconds
# of the call's END_S (300) are left.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
gpu_tests 100 4 tests/ssm/test_gpu_triton_ssd.py -k "prep or kept or whole or cpu_memory"
BENCH_S=${BENCH_S:-170} bench_ssd_cores
if (( ${END_S:-300} - SECONDS >= 70 )); then check_triton auto $((${END_S:-300} - SECONDS - 5)); fi
echo "done at ${SECONDS}s"
