#!/usr/bin/env bash
# One device call (about 6 minutes): the CUDA tests of greedy sampling, the GEMVs, the model and the workloads,
# then the one-launch argmax against torch's (benchmarks/greedy_argmax.py), the triton rows of the profile
# matrix eagerly (mixer and generate, 512 and 2048 tokens), and the generate workload twice eagerly and once
# under reduce-overhead (16 tokens after 2048). Results under $OUT: tests.log, greedy-argmax.json,
# summary-*.json, runs.tar.gz, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 150 6 tests/ssm/test_sample.py tests/ssm/test_gemv.py tests/model tests/collect/test_cudagraph_cache.py
timeout 120 python3 benchmarks/greedy_argmax.py "$OUT/greedy-argmax.json" 2>&1 | grep -v -i warn
echo "argmax done at ${SECONDS}s"
mkdir -p "$OUT/runs"
timeout 100 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer \
  --workload generate --seq-len 512 --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 --profile-warmup 1 \
  --profile-active 1 --device cuda --runs "$OUT/runs/matrix" --variant triton --compile none --format json \
  -o "$OUT/summary-none.json" 2>&1 | grep -v "^USDT" | grep -v Warn | tail -1
echo "matrix done at ${SECONDS}s"
for run in a b; do GENERATE_S=100 generate_run "$run" 16 none; done
GENERATE_S=${RO_S:-150} generate_run ro 16 reduce-overhead
tar czf "$OUT/runs.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
