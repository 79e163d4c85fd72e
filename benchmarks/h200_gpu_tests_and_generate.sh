#!/usr/bin/env bash
# One device call (about 8 minutes): every gpu-marked test and the CUDA runs of the mixer-kernel, model and
# launch tests; the generate workload eagerly (16 new tokens twice, then 64: a 2048-token prefill gives the host
# a head start that 16 tokens may not use up); the reduce-overhead part of decode_token_forms.py with its
# committed side compiled first.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
timeout ${TEST_S:-330} python3 -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 \
  | tee "$OUT/gpu-tests.log" | grep -E "passed|failed|FAILED|Error|SKIPPED" | tail -12
timeout ${TEST_S:-330} python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_mixer_kernels.py tests/model \
  tests/ssm/test_launch.py 2>&1 | tee "$OUT/cuda-tests.log" | grep -E "passed|failed|FAILED|Error" | tail -6
echo "tests done at ${SECONDS}s"
for run in 16-a 16-b 64-a; do generate_run "$run" "${run%-*}" none; done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
echo "generate done at ${SECONDS}s"
GRAPHS_ONLY=1 GRAPH_ORDER=reverse timeout ${GRAPHS_S:-150} python3 benchmarks/decode_token_forms.py \
  "$OUT/decode-token-forms-graphs-reversed.json" 2>&1 | grep -v -i warn
