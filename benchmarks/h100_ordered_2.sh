#!/bin/bash
# The second device call on gluon_ordered, with the committed rule (auto runs it at every size in CUDA graphs and
# eagerly from 1,024 programs): `bambaprof bench ssd` of auto, gluon_late, gluon_scaled and gluon_ordered side by
# side with mamba_ssm, `bambaprof check` of auto at the Bamba-9B shapes, then the variant's GPU tests and the Gluon
# scan's for gluon_ordered and gluon_scaled until the call's 540th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BENCH_S=${BENCH_S:-300} bench_scans auto gluon_late gluon_scaled gluon_ordered
check_triton auto 100
BAMBAPROF_TEST_FORMS="gluon_ordered gluon_scaled" gpu_tests $((540 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py \
  tests/ssm/test_gpu_triton_ssd.py
