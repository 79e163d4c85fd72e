#!/usr/bin/env bash
# One device call (about 8 minutes): every gpu-marked test, then the host time of each call of a cached decode
# token and a synchronised token's split into host issue and GPU wait (benchmarks/decode_host_costs.py).
set -uo pipefail
source benchmarks/device_env.sh
timeout ${TEST_S:-380} python3 -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 | tee "$OUT/gpu-tests.log" \
  | grep -E "passed|failed|FAILED|Error|SKIPPED" | tail -12
timeout ${COSTS_S:-150} python3 benchmarks/decode_host_costs.py -o "$OUT/decode-host-costs.json" 2>&1 | grep -v Warn
