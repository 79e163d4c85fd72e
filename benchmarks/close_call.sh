#!/bin/bash
# The session's closing device call (about 9 minutes): on an H200, benchmarks/h200_gluon_close.sh (the issue's
# record); on another card (an H100), the whole GPU-marked suite with the Gluon scan's form tests cut to auto's
# form, then `bambaprof check` of the default at the Bamba-9B shapes and the triton rows of the profile matrix
# (mixer and generate, 512 and 2048 tokens, 4 layers, eager), as h200_gluon_close.sh runs them.
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if [[ "$name" == *H200* ]]; then
  exec bash benchmarks/h200_gluon_close.sh
fi
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
BAMBAPROF_TEST_FORMS=${BAMBAPROF_TEST_FORMS:-gluon_ordered} gpu_tests ${TESTS_S:-270} 10 -m gpu tests
OUT=$OUT/close SKIP_BENCH=1 NO_TESTS=1 PROFILE_S=${PROFILE_S:-120} bash benchmarks/h200_gluon_close.sh
