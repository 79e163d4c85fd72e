#!/bin/bash
# Issue #17's H200 record in one device call of at most 10 minutes, its parts in the order they matter so that a
# call cut short still returns the first (each part's output under its own folder of $OUT):
#   1. bench/  `bambaprof bench ssd` of the default (auto) against mamba_ssm at the five target shapes, then
#              `bambaprof check` at the Bamba-9B shapes (h200_gluon_close.sh's bench and check);
#   2. eager/  the triton rows of the eager profile matrix (mixer and generate, 512 and 2048 tokens, 4 layers);
#   3. tests/  the variant's and the Gluon scan's GPU tests, the form tests cut to gluon_ordered (TEST_S, 150 s);
#   4. max-autotune/  the same matrix rows under max-autotune, with whatever time is left (MA_S, 150 s).
# On any card but an H200 it runs nothing and says so: a lent H100 has the regression set of close_call.sh.
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "$name"
if [[ "$name" != *H200* ]]; then
  echo "not an H200: nothing run (benchmarks/close_call.sh runs the regression set on other cards)"
  exit 0
fi
root=${OUT:-/tmp/out}
OUT=$root/bench SKIP_PROFILE=1 NO_TESTS=1 bash benchmarks/h200_gluon_close.sh
OUT=$root/eager SKIP_BENCH=1 NO_TESTS=1 SKIP_CHECK=1 PROFILE_S=${PROFILE_S:-100} bash benchmarks/h200_gluon_close.sh
OUT=$root/tests SKIP_BENCH=1 SKIP_CHECK=1 SKIP_PROFILE=1 TEST_S=${TEST_S:-150} BAMBAPROF_TEST_FORMS=gluon_ordered \
  bash benchmarks/h200_gluon_close.sh
OUT=$root/max-autotune SKIP_BENCH=1 NO_TESTS=1 SKIP_CHECK=1 PROFILE_COMPILE=max-autotune PROFILE_S=${MA_S:-150} \
  bash benchmarks/h200_gluon_close.sh
