#!/bin/bash
# One device call (at most about 9 minutes) for when device time is short: the chunk-scan forms timed side by side
# with mamba_ssm at the five target shapes (benchmarks/tune_triton_ssd.py, which checks each against float64
# first; progress lines in $OUT/tune.err survive a time-out), the GPU tests of the variant and of the Gluon scan,
# and `bambaprof check` of the triton variant with CHECK_SCAN (default gluon_packed) run eagerly: bf16, initial
# states, 1 and 8 x 512 / 2048 / 8192. FORMS: the candidates (default: triton and the three async Gluon forms);
# TEST_K: a pytest -k expression choosing the tests.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
timeout "${TUNE_S:-300}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" \
  --only ${FORMS:-triton gluon_async gluon_packed gluon_lean} > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"
grep -i "error\|fail" "$OUT/tune.err" | head -5
python3 benchmarks/print_tune.py "$OUT/tune.json" || tail -12 "$OUT/tune.err"
TEST_S=${TEST_S:-120} gpu_tests 120 6 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py ${TEST_K:+-k "$TEST_K"}
check_triton "${CHECK_SCAN:-gluon_packed}" ${CHECK_S:-90}
echo "done at ${SECONDS}s"
