#!/bin/bash
# The triton variant with the chunk scan `auto` picks, measured for the record in one device call (about 9 minutes;
# 322 s on an H200 in the twenty-fourth session, with the tests cut at 150 s, where they take about 200):
# `bambaprof bench ssd` against mamba_ssm at the five target shapes (bench_ssd_cores), the GPU tests of the variant
# and of the Gluon scan, `bambaprof check` at the Bamba-9B shapes, then the triton rows of the profile matrix (mixer
# and generate, 512 and 2048 tokens, 4 layers) compiled as PROFILE_COMPILE says (none unless set; max-autotune for
# the second half of the matrix) into $OUT (summary JSON and the run directories tarred). SKIP_BENCH=1, NO_TESTS=1,
# SKIP_CHECK=1 and SKIP_PROFILE=1 leave a part out, so that a second call can run `SKIP_BENCH=1 NO_TESTS=1
# SKIP_CHECK=1 PROFILE_COMPILE=max-autotune` alone.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
[ -z "${SKIP_BENCH:-}" ] && bench_ssd_cores
# the Gluon scan's tests of auto's form and its ticketed twin (the file runs every form of ssd_sm90.FORMS otherwise)
BAMBAPROF_TEST_FORMS=${BAMBAPROF_TEST_FORMS:-gluon_ordered gluon_scaled} TEST_S=${TEST_S:-220} \
  gpu_tests 220 6 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py
[ -z "${SKIP_CHECK:-}" ] && check_triton "${BENCH_SCAN:-auto}" 100
if [ -z "${SKIP_PROFILE:-}" ]; then
  compile=${PROFILE_COMPILE:-none}
  mkdir -p "$OUT/runs"
  timeout -k 10 "${PROFILE_S:-150}" python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
    --workload mixer --workload generate --seq-len 512 --seq-len 2048 --new-tokens 16 --warmup 2 --iters 10 \
    --profile-warmup 1 --profile-active 1 --device cuda --runs "$OUT/runs" --variant triton --compile "$compile" \
    --format json -o "$OUT/summary-$compile.json" > "$OUT/profile-$compile.out" 2>&1
  echo "profile ($compile) rc=$? at ${SECONDS}s"
  # to a file, not a pipe: inductor's compile workers outlive a profile the limit stopped and held a pipe's
  # reader open until the call's end (the thirty-ninth session lost the rest of a call so)
  grep -v "^USDT" "$OUT/profile-$compile.out" | grep -v Warn | tail -2
  tar czf "$OUT/runs-$compile.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs"
fi
echo "done at ${SECONDS}s"
