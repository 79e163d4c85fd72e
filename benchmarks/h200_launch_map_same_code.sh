#!/usr/bin/env bash
# H200: the launch map from the measured compilation's cached code. GPU tests of graphs_left_out and the CUDA
# graph cache copy, then the triton max-autotune examples (mixer, generate) re-recorded; here, their known
# bytes and the launch map's kernel names against the run's.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
SECONDS=0
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/collect/test_compile.py \
  tests/collect/test_cudagraph_cache.py 2>&1 | tail -3
echo "tests done at ${SECONDS}s"
timeout 330 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer \
  --workload generate --seq-len 512 --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 \
  --device cuda --runs $OUT/examples --format json --variant triton --compile max-autotune \
  -o $OUT/examples-max-autotune.json 2>&1 | grep -v "^USDT" | tail -6
echo "max-autotune done at ${SECONDS}s"
for r in $OUT/examples/*/; do python3 -m bambaprof analyze $r --format json 2>/dev/null | python3 -c "
import json,sys; s=json.load(sys.stdin)['summary']; print('$(basename $r)', s['kernel_count'], s['kernel_time_with_known_bytes_pct'])"; done
tar czf "$OUT/examples.tar.gz" -C "$OUT" examples && rm -rf "$OUT/examples"
