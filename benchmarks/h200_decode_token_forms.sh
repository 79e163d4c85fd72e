#!/usr/bin/env bash
# One device call (about 7 minutes): a decode token before and after the residual adds in the norms, the stacked
# gate/up GEMV and the 4-warp decode step (benchmarks/decode_token_forms.py, eager and reduce-overhead), the
# host time of each call of a token (benchmarks/decode_host_costs.py), then the generate workload eager and
# under reduce-overhead (bambaprof profile; inter-token medians from the manifests).
set -uo pipefail
source benchmarks/device_env.sh
timeout ${FORMS_S:-300} python3 benchmarks/decode_token_forms.py "$OUT/decode-token-forms.json" 2>&1 | grep -v -i warn
timeout ${COSTS_S:-150} python3 benchmarks/decode_host_costs.py -o "$OUT/decode-host-costs.json" 2>&1 | grep -v -i warn \
  | head -40
for compile in none reduce-overhead; do generate_run "$compile" 16 "$compile"; done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
