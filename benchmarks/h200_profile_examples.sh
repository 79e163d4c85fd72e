#!/usr/bin/env bash
# One device call: the run directories of traces/examples/ (bamba-9b, 4 layers, no attention, bf16, 512 tokens,
# 8 new; mixer and cached generation): every variant eager, and triton under max-autotune. They come back in
# $OUT/examples.tar.gz; here, `tar xzf` it and replace traces/examples/ with its folders.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
  date -u +%FT%TZ; } | tee "$OUT/env.txt"
SECONDS=0
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate --seq-len 512
  --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 --device cuda --runs $OUT/examples
  --format json"
timeout 200 python3 -m bambaprof profile $COMMON --variant triton --variant default-optimized --variant independent \
  --variant default -o "$OUT/examples-eager.json" 2>&1 | grep -v "^USDT" | tail -3
echo "eager done at ${SECONDS}s"
timeout 260 python3 -m bambaprof profile $COMMON --variant triton --compile max-autotune \
  -o "$OUT/examples-max-autotune.json" 2>&1 | grep -v "^USDT" | tail -3
echo "max-autotune done at ${SECONDS}s"
tar czf "$OUT/examples.tar.gz" -C "$OUT" examples && rm -rf "$OUT/examples" && ls -la "$OUT"
