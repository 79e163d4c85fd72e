#!/usr/bin/env bash
# One device call (about 8 minutes): the CUDA tests of the decode GEMVs, mixer kernels, launch, model and graph
# cache, then the GEMVs' padded-rows form weighed at batches 2 to 16 against the ops apart, kernels and eager
# token (benchmarks/decode_gemv_batch.py). Results under $OUT: tests.log, decode-gemv-batch.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 270 6 tests/ssm/test_gemv.py tests/ssm/test_mixer_kernels.py tests/ssm/test_launch.py tests/model tests/collect/test_cudagraph_cache.py
timeout ${BATCH_S:-270} python3 benchmarks/decode_gemv_batch.py "$OUT/decode-gemv-batch.json" 2>&1 | grep -v -i warn
echo "all done at ${SECONDS}s"
