#!/usr/bin/env bash
# H200, diagnosis issue, last batch: the examples re-recorded with the SSD cores' step ranges (every variant
# eager, triton under max-autotune), then default-optimized under max-autotune with the recompilation fix
# (mixer, then generate, in the time left). Everything lands in $OUT/runs.tar.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
t0=$(date +%s)
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --seq-len 512 --new-tokens 8 --warmup 2 --iters 5
  --profile-warmup 1 --profile-active 1 --device cuda --runs $OUT/runs --format json"
timeout 150 python3 -m bambaprof profile $COMMON --workload mixer --workload generate --variant triton \
  --variant default-optimized --variant independent --variant default -o /tmp/eager.json 2>&1 | grep -v USDT | tail -2
echo "eager done at $(( $(date +%s) - t0 )) s"
timeout 200 python3 -m bambaprof profile $COMMON --workload mixer --workload generate --variant triton \
  --compile max-autotune -o /tmp/ma-triton.json 2>&1 | grep -v USDT | tail -2
echo "triton max-autotune done at $(( $(date +%s) - t0 )) s"
left=$(( ${BUDGET_S:-540} - ($(date +%s) - t0) ))
timeout $left python3 -m bambaprof profile $COMMON --workload mixer --workload generate --variant default-optimized \
  --compile max-autotune -o /tmp/ma-dopt.json 2>&1 | grep -v USDT | tail -2
echo "default-optimized max-autotune done at $(( $(date +%s) - t0 )) s"
tar cf $OUT/runs.tar -C $OUT runs && rm -rf $OUT/runs
