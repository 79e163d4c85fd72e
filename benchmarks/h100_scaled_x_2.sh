#!/bin/bash
# The second device call (about 9 minutes) on gluon_scaled, with it as auto's form from ssd.SLIM_PROGRAMS programs:
# `bambaprof bench ssd` of auto, gluon_late, gluon_slim and gluon_scaled side by side with mamba_ssm,
# benchmarks/scan_phases.py at 1x512 and 1x2048 for gluon_slim and gluon_scaled, then the variant's GPU tests
# (auto's forms) and the Gluon scan's for gluon_scaled until the call's 540th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BENCH_S=${BENCH_S:-330} bench_scans auto gluon_late gluon_slim gluon_scaled
for scan in gluon_slim gluon_scaled; do
  timeout 45 python3 benchmarks/scan_phases.py --scan $scan --shape 1x512 --shape 1x2048 \
    > $OUT/scan-phases-$scan.json 2>$OUT/scan-phases-$scan.err; echo "phases $scan rc=$? at ${SECONDS}s"
  cut -c1-400 $OUT/scan-phases-$scan.err | tail -2
done
BAMBAPROF_TEST_FORMS="gluon_scaled" gpu_tests $((540 - SECONDS)) 6 tests/ssm/test_gpu_triton_ssd.py \
  tests/ssm/test_gpu_ssd_sm90.py
