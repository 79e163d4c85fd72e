#!/usr/bin/env bash
# H200: GPU tests of the fused mixer kernels and the triton variant, then the fused-vs-unfused mixer benchmark.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
SECONDS=0
[ -n "${SKIP_TESTS:-}" ] || timeout 200 python3 -m pytest -q -p no:cacheprovider tests/ssm/test_mixer_kernels.py tests/ssm/test_gpu_triton_ssd.py \
  tests/ssm/test_gpu_bamba_shapes.py 2>&1 | tail -4
echo "tests done at ${SECONDS}s"
timeout 200 python3 benchmarks/fused_mixer.py $OUT/h200-fused-mixer.json 2>&1 | grep -v USDT | tail -8
echo "bench done at ${SECONDS}s"
