#!/usr/bin/env bash
# One device call (about 4 minutes; 6 with SWEEP=1): the CUDA tests of the decode GEMVs, mixer kernels, launch,
# model and graph cache, then the decode GEMVs against the ops they replace and the eager token with them
# against the ops apart (benchmarks/decode_gemv.py; SWEEP=1 also tries 46 one-row configurations a shape),
# then the generate workload eagerly twice (16 tokens after 2048). Results under $OUT: tests.log,
# decode-gemv.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 220 6 tests/ssm/test_gemv.py tests/ssm/test_mixer_kernels.py tests/ssm/test_launch.py tests/model tests/collect/test_cudagraph_cache.py
SWEEP=${SWEEP:-0} timeout 420 python3 benchmarks/decode_gemv.py "$OUT/decode-gemv.json" 2>&1 | grep -v -i warn
echo "gemv done at ${SECONDS}s"
for run in a b; do GENERATE_S=100 generate_run "$run" 16 none; done
rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
