#!/usr/bin/env bash
# The cached generate workload (bambaprof profile, bamba-9b, 4 layers, no attention, bf16, 2048-token prompt,
# 16 new tokens, eager, the triton variant) in each mode of the launch shortcut, in two interleaved rounds
# (about 3 minutes); prints each run's inter-token median, p10 and p90 (ms) from its manifest.
set -uo pipefail
source benchmarks/device_env.sh
for round in 1 2; do
  for mode in on:1 off:0 kept:kept; do
    BAMBAPROF_TRITON_FAST_LAUNCH=${mode#*:} GENERATE_S=120 generate_run "${mode%%:*}-$round" 16 none
  done
done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
