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
for compile in none reduce-overhead; do
  dir="$OUT/runs/$compile"
  timeout 150 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
    --workload generate --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 --profile-warmup 1 --profile-active 1 \
    --device cuda --runs "$dir" --variant triton --compile "$compile" --format json -o "$OUT/summary-$compile.json" \
    > /dev/null 2>"$OUT/profile-$compile.err" || tail -3 "$OUT/profile-$compile.err"
  python3 - "$dir" "$compile" <<'PY'
import glob, json, sys
for m in glob.glob(sys.argv[1] + "/*/bambaprof/manifest.json"):
    t = json.load(open(m))["timings"]["inter_token_ms"]
    print(sys.argv[2], "inter-token ms median %.3f p10 %.3f p90 %.3f n %d" % (t["median"], t["p10"], t["p90"], t["n"]))
PY
done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
