#!/usr/bin/env bash
# The triton rows of the profile matrix on the H200 (bamba-9b, 4 layers, no attention, bf16; mixer and generate,
# 512 and 2048 tokens), eager and max-autotune, in one device call of up to 10 minutes (max-autotune compiles for
# most of it). Summaries and a log under $OUT; run directories tarred.
set -uo pipefail
source benchmarks/device_env.sh
mkdir -p "$OUT/runs"
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate
  --seq-len 512 --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 --profile-warmup 1 --profile-active 1
  --device cuda --runs $OUT/runs --variant triton"
# MODES: the compile modes to run (default both); MA_S: seconds allowed for max-autotune
for mode in ${MODES:-none max-autotune}; do
  limit=90; [ "$mode" = max-autotune ] && limit=${MA_S:-420}
  timeout $limit python3 -m bambaprof profile $COMMON --compile $mode --format json -o "$OUT/summary-$mode.json" 2>&1 \
    | grep -v "^USDT" | grep -v Warn | tail -2
done
tar czf "$OUT/runs.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs" && ls -la "$OUT"
