#!/bin/bash
# One device call (about 9 minutes) on gluon_split (ssd_sm90_split: each chunk's outputs between two programs, the
# first forming the state, the hand-off and output blocks 0 and 1, the second blocks 2 and 3): its bits beside
# gluon_ordered's (2x700, 1x512, 1x2048, 8x2048), `bambaprof bench ssd` of auto, gluon_ordered and gluon_split side
# by side with mamba_ssm, `bambaprof check` of gluon_split at the Bamba-9B shapes, then the Gluon scan's GPU tests of
# gluon_split until the call's 540th second.
# Needs benchmarks/forms/ssd-split-outputs.patch applied (git apply, at 8b1cf5c) with every chunk split: that run's
# _half_work gave each chunk two programs (grid 2x); the patch keeps the later form (a first chunk's program whole).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 90 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_split 2x700 1x512 1x2048 8x2048 2>&1 | tail -6
echo "equal rc=$? at ${SECONDS}s"
BENCH_S=${BENCH_S:-300} bench_scans auto gluon_ordered gluon_split
check_triton gluon_split 90
BAMBAPROF_TEST_FORMS="gluon_split" gpu_tests $((540 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
