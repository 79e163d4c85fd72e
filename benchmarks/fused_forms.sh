#!/bin/bash
# One device call (about 8 minutes) on gluon_fused (gluon_ordered with the prep's work folded into its launch: each
# scan program forms its chunk's dt' and cs, and a chunk's C B^T tiles come from programs of the same launch, one
# tile each; see bambaprof/ssm/kernels/ssd_sm90_fused.py) and gluon_fused_diag_first: their outputs beside
# gluon_ordered's (a time limit first, as a wrong wait would hang), the form's GPU tests, `bambaprof bench ssd` of
# gluon_ordered, gluon_diag_first and both fused forms side by side with mamba_ssm, `bambaprof check` of gluon_fused,
# then gluon_diag_first's GPU tests at a state of 64 until the call's END_S-th second. It runs on an H100 or an H200
# alike (on an H200 its bench is also the default's against mamba_ssm there).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 150 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_fused 2x700 1x512 1x2048 2x256 8x2048 1x100
echo "compare rc=$? at ${SECONDS}s"
timeout 90 python3 benchmarks/scan_forms_equal.py gluon_diag_first gluon_fused_diag_first 2x700 1x2048 8x2048
echo "compare rc=$? at ${SECONDS}s"
BAMBAPROF_TEST_FORMS="gluon_fused" gpu_tests 110 6 tests/ssm/test_gpu_ssd_sm90.py
cp "$OUT/tests.log" "$OUT/tests-fused.log" 2>/dev/null
BENCH_S=${BENCH_S:-240} bench_scans gluon_ordered gluon_diag_first gluon_fused gluon_fused_diag_first
check_triton gluon_fused 80
BAMBAPROF_TEST_FORMS="gluon_diag_first" gpu_tests $((${END_S:-560} - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py -k "64"
