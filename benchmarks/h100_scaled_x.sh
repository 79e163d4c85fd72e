#!/bin/bash
# One device call (about 9 minutes) on the slim Gluon scan with x's tiles weighted once for the C B^T tiles below
# the diagonal (gluon_scaled, ssd_sm90_slim._scaled_outputs): `bambaprof check` of it at the Bamba-9B shapes, then
# `bambaprof bench ssd` of auto, gluon_slim and gluon_scaled side by side with mamba_ssm, benchmarks/scan_phases.py
# at 1x512 and 1x2048, and the Gluon scan's GPU tests for gluon_scaled and gluon_slim until the call's 540th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
check_triton gluon_scaled 110
mv $OUT/check-triton.json $OUT/check-triton-scaled.json
BENCH_S=${BENCH_S:-260} bench_scans auto gluon_slim gluon_scaled
timeout 45 python3 benchmarks/scan_phases.py --shape 1x512 --shape 1x2048 \
  > $OUT/scan-phases.json 2>$OUT/scan-phases.err; echo "phases rc=$? at ${SECONDS}s"; tail -2 $OUT/scan-phases.err
BAMBAPROF_TEST_FORMS="gluon_scaled gluon_slim" gpu_tests $((540 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
