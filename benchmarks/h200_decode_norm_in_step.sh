#!/usr/bin/env bash
# One device call (about 5 minutes): the mixer-kernel, model, launch, CUDA-graph cache and triton SSD tests on
# CUDA, then the eager decode token with the gated norm in the decode step's launch against the norm apart
# (benchmarks/decode_norm_in_step.py), then the generate workload eagerly twice (16 tokens after 2048).
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 240 8 tests/ssm/test_mixer_kernels.py tests/model tests/ssm/test_launch.py tests/collect/test_cudagraph_cache.py tests/ssm/test_gpu_triton_ssd.py
timeout 150 python3 benchmarks/decode_norm_in_step.py "$OUT/decode-norm-in-step.json" 2>&1 | grep -v -i warn
echo "sides done at ${SECONDS}s"
for run in a b; do generate_run "$run" 16 none; done
rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
