#!/bin/bash
# One device call (about 7 minutes) on gluon_diag_first (gluon_ordered whose programs, where the chain's previous
# chunk has not yet handed its state on, form output block 0's diagonal product while they wait): its outputs beside
# gluon_ordered's, `bambaprof bench ssd` of gluon_ordered and gluon_diag_first side by side with mamba_ssm,
# `bambaprof check` of it at the Bamba-9B shapes, then the Gluon scan's GPU tests of gluon_diag_first until the call's
# 430th second (END_S). On an H200 it runs benchmarks/h200_record.sh instead (the record the H200 still lacks).
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if [[ "$name" == *H200* ]]; then
  exec bash benchmarks/h200_record.sh
fi
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 120 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_diag_first 2x700 1x512 1x2048 2x256 8x2048
echo "compare rc=$? at ${SECONDS}s"
BENCH_S=${BENCH_S:-220} bench_scans gluon_ordered gluon_diag_first
check_triton gluon_diag_first 90
BAMBAPROF_TEST_FORMS="gluon_diag_first" gpu_tests $((${END_S:-430} - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
