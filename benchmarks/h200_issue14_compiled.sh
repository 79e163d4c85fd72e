#!/usr/bin/env bash
# H200 evidence for the diagnosis issue, part 2: the bamba-9b 4-layer bf16 mixer and generate runs of every
# variant under max-autotune, each with its launch map. A first pass compiles all four variants in parallel
# into a scratch folder (filling inductor's on-disk caches); the measured runs follow one at a time.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
VARIANTS=${VARIANTS:-triton default-optimized independent default}
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate --seq-len 512
  --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 --device cuda --compile max-autotune"
t0=$(date +%s)
for v in $VARIANTS; do
  timeout ${WARM_S:-300} python3 -m bambaprof profile $COMMON --variant $v --runs /tmp/warm-$v --no-telemetry \
    --format json -o /tmp/warm-$v.json > /tmp/warm-$v.log 2>&1 &
done
wait
echo "warm pass: $(( $(date +%s) - t0 )) s"
for v in $VARIANTS; do
  t=$(date +%s)
  timeout ${RUN_S:-150} python3 -m bambaprof profile $COMMON --variant $v --runs $OUT/runs --format json \
    -o $OUT/compiled-$v.json 2>&1 | grep -v USDT | tail -2
  echo "$v: $(( $(date +%s) - t )) s"
done
tar cf $OUT/runs.tar -C $OUT runs && rm -rf $OUT/runs
