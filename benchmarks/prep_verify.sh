#!/bin/bash
# One device call (about 7 minutes) on the prep's options for few chunks (`_prep_heads`, `cb_tiles` None): `bambaprof
# bench ssd` of the default against mamba_ssm at the five Bamba-9B shapes, the GPU tests of the prep's options and of
# the launch shortcut, `bambaprof check` of the default at the Bamba-9B shapes, then the variant's other GPU tests
# (the Gluon scan's cut to auto's form) until the call's END_S-th second (420).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BENCH_S=${BENCH_S:-200} bench_ssd_cores
OUT_LOG=$OUT/tests.log
gpu_tests 120 4 tests/ssm/test_gpu_triton_ssd.py -k "prep or kept or whole or cpu_memory"
mv "$OUT_LOG" "$OUT/tests-prep.log"
check_triton auto 100
BAMBAPROF_TEST_FORMS=gluon_ordered gpu_tests $((${END_S:-420} - SECONDS)) 4 tests/ssm/test_gpu_triton_ssd.py \
  tests/ssm/test_gpu_ssd_sm90.py -k "not prep and not kept and not whole and not cpu_memory"
echo "done at ${SECONDS}s"
