#!/bin/bash
# One device call (about 8 minutes) on two trial forms of gluon_scaled: gluon_ordered (work by launch index, no
# ticket's atomic) and gluon_early (x's tile read and weighted while the diagonal product runs), and both:
# `bambaprof bench ssd` of the four side by side with mamba_ssm, whether each gives gluon_scaled's bits
# (benchmarks/scan_forms_equal.py), scan_phases of gluon_scaled and gluon_ordered at 1x2048 and 8x2048, then the
# Gluon scan's GPU tests of gluon_ordered until the call's 540th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
BENCH_S=${BENCH_S:-300} bench_scans gluon_scaled gluon_ordered gluon_early gluon_ordered_early
for form in gluon_ordered gluon_early gluon_ordered_early; do
  timeout 60 python3 benchmarks/scan_forms_equal.py gluon_scaled $form 2x700 1x2048 8x2048; echo "equal rc=$?"
done
for scan in gluon_scaled gluon_ordered; do
  timeout 60 python3 benchmarks/scan_phases.py --scan $scan --shape 1x2048 --shape 8x2048 \
    > $OUT/scan-phases-$scan.json 2>$OUT/scan-phases-$scan.err; echo "phases $scan rc=$? at ${SECONDS}s"
  cut -c1-700 $OUT/scan-phases-$scan.err | tail -2
done
BAMBAPROF_TEST_FORMS="gluon_ordered" gpu_tests $((540 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
