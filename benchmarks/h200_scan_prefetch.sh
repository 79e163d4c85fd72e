#!/usr/bin/env bash
# One device call (about 7 minutes): the GPU tests of the mixer kernels, model, launch, CUDA-graph cache and
# triton SSD (verifying the tree on CUDA), then the chunk scan's forms side by side with mamba_ssm
# (benchmarks/tune_triton_ssd.py): the committed kernel under head-dim blocks of 32 with lower register caps,
# and forms under .peers/forms/ (FORMS, NAME=FILE pairs) with their own default configurations.
# NO_TESTS=1 leaves the tests out. Results under $OUT: tests.log, scan-forms.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 220 8 tests/ssm/test_mixer_kernels.py tests/model tests/ssm/test_launch.py tests/collect/test_cudagraph_cache.py tests/ssm/test_gpu_triton_ssd.py
forms=()
for f in ${FORMS:-}; do forms+=(--kernels "$f"); done
timeout ${SCAN_S:-330} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only ${ONLY:-base} "${forms[@]}" \
  > "$OUT/scan-forms.json" 2> "$OUT/scan-forms.err"
echo "scan forms rc=$? at ${SECONDS}s"; grep -i "fail\|error" "$OUT/scan-forms.err" | head -5
python3 benchmarks/print_tune.py "$OUT/scan-forms.json"
echo "all done at ${SECONDS}s"
