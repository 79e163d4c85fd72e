#!/usr/bin/env bash
# H200: GPU tests of the fused mixer kernels (the decode conv step included), then cached decoding per token,
# fused against torch's conv and norm (benchmarks/fused_decode.py).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
SECONDS=0
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/ssm/test_mixer_kernels.py 2>&1 | tail -2
echo "tests done at ${SECONDS}s"
timeout 120 python3 benchmarks/fused_decode.py $OUT/h200-fused-decode.json 2>&1 | grep -v USDT | tail -14
echo "bench done at ${SECONDS}s"
