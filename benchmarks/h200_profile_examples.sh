#!/usr/bin/env bash
# One device call: the sampler-cost benchmark (process sampler) and a few small example run
# directories (bamba-9b, 4 layers, no attention, bf16, 512 tokens) for traces/examples/.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
timeout 200 python3 benchmarks/sampler_overhead.py "$OUT/sampler-overhead.json" 3 2>&1 | grep -v "^USDT" | tail -3
timeout 150 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
  --workload mixer --workload generate --seq-len 512 --new-tokens 8 --warmup 2 --iters 5 \
  --profile-warmup 1 --profile-active 1 --device cuda --runs "$OUT/examples" --format json \
  -o "$OUT/summary-examples.json" 2>&1 | grep -v "^USDT" | grep -v Warn | tail -3
tar czf "$OUT/examples.tar.gz" -C "$OUT" examples && rm -rf "$OUT/examples" && ls -la "$OUT"
