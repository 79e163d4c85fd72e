#!/usr/bin/env bash
# The chunk scan with batch-slowest tickets on the H200, in one device call (about 9 minutes): the GPU tests of
# the triton SSD, its kernels and `bench` (on 2026-12-04 a 170 s limit stopped them after the variant's 27
# passed; the default is now 320 s, not yet run), then `bambaprof bench ssd` against mamba_ssm at the five target
# shapes (wall and kernel time), then `bambaprof check` at the target shapes in bf16 and float32 (initial
# states, prefill then decode). Results under $OUT: tests.log, bench-ssd.json, check-*.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
gpu_tests 320 6 tests/ssm/test_gpu_triton_ssd.py tests/ssm/test_triton_ssd.py tests/bench/test_bench_ssd.py \
  tests/ssm/test_mixer_kernels.py
bench_ssd_cores
for dt in bfloat16 float32; do
  timeout 110 python3 -m bambaprof check --variant triton --preset bamba-9b --batch 1 --batch 8 --seq-len 512 \
    --seq-len 2048 --seq-len 8192 --dtype $dt --initial-state --device cuda --format json -o "$OUT/check-$dt.json" \
    > /dev/null 2>&1
  echo "check $dt rc=$? at ${SECONDS}s"
done
echo "all done at ${SECONDS}s"
