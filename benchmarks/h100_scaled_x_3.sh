#!/bin/bash
# The third device call on gluon_scaled, with the committed rule (auto runs it from 1,024 programs): `bambaprof
# bench ssd` of auto, gluon_slim and gluon_scaled side by side with mamba_ssm, scan_phases at 8x2048 for both
# forms, `bambaprof check` of auto at the Bamba-9B shapes, then the variant's GPU tests and the Gluon scan's for
# auto's two forms until the call's 520th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BENCH_S=${BENCH_S:-300} bench_scans auto gluon_slim gluon_scaled
for scan in gluon_slim gluon_scaled; do
  timeout 60 python3 benchmarks/scan_phases.py --scan $scan --shape 8x2048 \
    > $OUT/scan-phases-$scan.json 2>$OUT/scan-phases-$scan.err; echo "phases $scan rc=$? at ${SECONDS}s"
  cut -c1-600 $OUT/scan-phases-$scan.err | tail -1
done
check_triton auto 100
BAMBAPROF_TEST_FORMS="gluon_scaled gluon_late" gpu_tests $((520 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py \
  tests/ssm/test_gpu_triton_ssd.py
