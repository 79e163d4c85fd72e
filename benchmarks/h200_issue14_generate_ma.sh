#!/usr/bin/env bash
# H200, diagnosis issue: the one run left, default-optimized cached generation under max-autotune (bamba-9b,
# 4 layers, no attention, bf16, 512 tokens, 8 new), with its launch map. It compiles for minutes, so it has a
# device call of its own; every line of progress is stamped with the seconds since the start, and inductor's
# on-disk cache comes back in $OUT if the run outlasts its limit (so a later call can start from it).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-cache
[ -f .inductor-cache.tar.gz ] && mkdir -p $TORCHINDUCTOR_CACHE_DIR && tar xzf .inductor-cache.tar.gz -C $TORCHINDUCTOR_CACHE_DIR
SECONDS=0
timeout ${RUN_S:-540} python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
  --workload generate --seq-len 512 --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 \
  --device cuda --compile max-autotune --variant default-optimized --runs $OUT/runs --format json \
  -o $OUT/ma-dopt-generate.json 2>&1 | grep --line-buffered -v USDT | while IFS= read -r line; do
    printf '%4ds %s\n' "$SECONDS" "$line"; done | tee $OUT/log.txt | tail -c 6000
rc=${PIPESTATUS[0]}
echo "rc=$rc after ${SECONDS}s"
if [ -d $OUT/runs ]; then tar cf $OUT/runs.tar -C $OUT runs && rm -rf $OUT/runs; fi
if [ "$rc" != 0 ]; then tar czf $OUT/inductor-cache.tar.gz -C $TORCHINDUCTOR_CACHE_DIR . ; ls -la $OUT; fi
