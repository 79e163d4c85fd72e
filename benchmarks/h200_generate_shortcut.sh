#!/usr/bin/env bash
# The cached generate workload (bambaprof profile, bamba-9b, 4 layers, no attention, bf16, 2048-token prompt,
# 16 new tokens, eager, the triton variant) in each mode of the launch shortcut, in two interleaved rounds
# (about 3 minutes); prints each run's inter-token median, p10 and p90 (ms) from its manifest.
set -uo pipefail
source benchmarks/device_env.sh
for round in 1 2; do
  for mode in on:1 off:0 kept:kept; do
    name=${mode%%:*}; dir="$OUT/runs/$name-$round"
    BAMBAPROF_TRITON_FAST_LAUNCH=${mode#*:} timeout 120 python3 -m bambaprof profile --preset bamba-9b --layers 4 \
      --no-attention --dtype bf16 --workload generate --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 \
      --profile-warmup 1 --profile-active 1 --device cuda --runs "$dir" --variant triton --compile none \
      --format json -o "$OUT/summary-$name-$round.json" > /dev/null 2>&1
    python3 - "$dir" "$name" "$round" <<'PY'
import glob, json, sys
for m in glob.glob(sys.argv[1] + "/*/bambaprof/manifest.json"):
    t = json.load(open(m))["timings"]["inter_token_ms"]
    print(sys.argv[2], sys.argv[3], "inter-token ms median %.3f p10 %.3f p90 %.3f n %d" % (t["median"], t["p10"], t["p90"], t["n"]))
PY
  done
done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
