#!/usr/bin/env bash
# The compiled SSD forward on the H200 in one device call (about 5 minutes): the GPU tests of torch.compile and
# CUDA graphs (among them the scan's registers eager against compiled), then the max-autotune mixer rows of
# the profile matrix (bamba-9b, 4 layers, no attention, bf16, 512 and 2048 tokens), run directories tarred.
set -uo pipefail
source benchmarks/device_env.sh
timeout ${TEST_S:-200} python3 -m pytest -q -p no:cacheprovider tests/ssm/test_gpu_triton_ssd.py \
  -k "compile or cuda_graph" 2>&1 | grep -E "passed|failed|Error|assert" | tail -8
mkdir -p "$OUT/runs"
timeout ${MA_S:-200} python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
  --workload mixer --seq-len 512 --seq-len 2048 --warmup 2 --iters 10 --profile-warmup 1 --profile-active 1 \
  --device cuda --runs "$OUT/runs" --variant triton --compile max-autotune --format json \
  -o "$OUT/summary-max-autotune.json" 2>&1 | grep -v "^USDT" | grep -v Warn | tail -2
tar czf "$OUT/runs.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs" && ls -la "$OUT"
