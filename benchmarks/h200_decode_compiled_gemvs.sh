#!/usr/bin/env bash
# One device call (about 9 minutes): the CUDA tests of the decode GEMVs, model, mixer kernels and graph cache,
# then a decode token under reduce-overhead with the GEMVs' library ops against torch's form, side by side
# (benchmarks/decode_compiled_gemvs.py, BATCH rows, default 1), then (GENERATE=1) the generate workload under
# reduce-overhead. The ops are not merged: the script first applies benchmarks/forms/decode-gemv-ops-compiled.patch
# to the device's copy of the tree. Results under $OUT: tests.log, decode-compiled-gemvs.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
patch -p1 -s -N < benchmarks/forms/decode-gemv-ops-compiled.patch || exit 1
SECONDS=0
gpu_tests 200 6 tests/ssm/test_gemv.py tests/model tests/ssm/test_mixer_kernels.py tests/collect/test_cudagraph_cache.py
timeout ${BENCH_S:-330} python3 benchmarks/decode_compiled_gemvs.py "$OUT/decode-compiled-gemvs.json" ${BATCH:-1} 2>&1 \
  | grep -v -i warn
echo "bench done at ${SECONDS}s"
if [ -n "${GENERATE:-}" ]; then for run in a b; do GENERATE_S=120 generate_run "$run" 16 reduce-overhead; done; fi
rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
