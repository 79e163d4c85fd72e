#!/bin/bash
# One device call (about 5 minutes) on gluon_diag_first with block 0 summed alike whether or not the program waited
# for its chain (ssd_sm90_slim._scaled_outputs): the form against itself (twenty forwards a shape, bit for bit) and
# beside gluon_ordered, its GPU tests (the repeated-forwards test among them), `bambaprof bench ssd` of
# gluon_ordered and gluon_diag_first side by side with mamba_ssm, then `bambaprof check` of it. Either card.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 120 python3 benchmarks/scan_forms_equal.py gluon_diag_first gluon_diag_first 2x700 8x2048 1x2048
echo "repeat rc=$? at ${SECONDS}s"
timeout 60 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_diag_first 2x256 2x700 8x2048
echo "compare rc=$? at ${SECONDS}s"
BAMBAPROF_TEST_FORMS="gluon_diag_first" gpu_tests ${TEST_S:-100} 6 tests/ssm/test_gpu_ssd_sm90.py -k "not fused"
BENCH_S=${BENCH_S:-100} bench_scans gluon_ordered gluon_diag_first
check_triton gluon_diag_first 60
