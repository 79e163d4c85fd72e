#!/usr/bin/env bash
# One device call (about 4 minutes): the mixer-kernel, model and launch tests on CUDA with the cached-generation
# GPU tests, then a decode token's forms side by side (eager and graphs), its host costs, and the generate
# workload eagerly twice (16 tokens after 2048).
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
timeout 200 python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_mixer_kernels.py tests/model tests/ssm/test_launch.py \
  tests/collect/test_cudagraph_cache.py tests/ssm/test_gpu_triton_ssd.py 2>&1 | tee "$OUT/tests.log" \
  | grep -E "passed|failed|FAILED|Error" | tail -8
echo "tests done at ${SECONDS}s"
timeout 240 python3 benchmarks/decode_token_forms.py "$OUT/decode-token-forms.json" 2>&1 | grep -v -i warn
timeout 120 python3 benchmarks/decode_host_costs.py -o "$OUT/decode-host-costs.json" 2>&1 | grep -v -i warn | head -34
for run in a b; do generate_run "$run" 16 none; done
rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
