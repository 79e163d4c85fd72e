#!/usr/bin/env bash
# H200: GPU tests of the mixer kernels (the one-launch decode step), the static cache under CUDA graphs, then
# cached decoding per token: one-launch step vs the variant's step vs torch conv+norm, eager and reduce-overhead
# (benchmarks/fused_decode.py).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
SECONDS=0
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/ssm/test_mixer_kernels.py tests/collect/test_cudagraph_cache.py 2>&1 | tail -4
echo "tests done at ${SECONDS}s"
timeout 380 python3 benchmarks/fused_decode.py $OUT/h200-fused-decode.json 2>&1 | grep -v USDT | grep -v Warning | tail -14
echo "bench done at ${SECONDS}s"
