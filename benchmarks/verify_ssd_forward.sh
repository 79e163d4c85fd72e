#!/bin/bash
# The GPU tests of `ssd_forward`'s launch paths in one device call (about 8 minutes, either card): the repeated-forwards
# test of both diag_first forms (eleven forwards of 4x2048, the same bits whether a program waited for its chain or
# not), the Gluon scan's tests of auto's form (gluon_ordered) and of the fused form (one launch for scan and outputs),
# then the triton variant's GPU tests through the default scan. Each part's log is $OUT/<part>.log.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BAMBAPROF_TEST_FORMS="gluon_diag_first gluon_fused_diag_first" TEST_LOG=diag-first \
  gpu_tests ${DIAG_S:-90} 6 tests/ssm/test_gpu_ssd_sm90.py -k "the_diag_first_forms_give_the_same_bits"
BAMBAPROF_TEST_FORMS="gluon_ordered gluon_fused" TEST_LOG=sm90 gpu_tests ${SM90_S:-240} 6 tests/ssm/test_gpu_ssd_sm90.py
BAMBAPROF_TEST_FORMS=gluon_ordered TEST_LOG=triton gpu_tests ${TRITON_S:-150} 6 tests/ssm/test_gpu_triton_ssd.py
