#!/bin/bash
# One device call (about 7 minutes) on gluon_ce_last, whose chains' last chunks form their outputs' own part before
# they wait for the entering state (ssd_sm90_slim._last_chunk): its outputs beside gluon_ordered's (with a time
# limit first: a wrong wait would hang), `bambaprof bench ssd` of gluon_ordered and gluon_ce_last side by side with
# mamba_ssm, its GPU tests, `bambaprof check` of it, then (where the call has the time) the mixer bench with `auto`
# beside mamba_ssm's mixer. Either card. The form is not in the package: apply benchmarks/forms/ssd-ce-last.patch
# first (`git apply`). Its run on an H100 SXM is h100-bench-ssd-ce-last.json and h100-ce-last-log.txt.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 120 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_ce_last 2x256 2x700 1x512 8x2048
echo "compare rc=$? at ${SECONDS}s"
BENCH_S=${BENCH_S:-120} bench_scans gluon_ordered gluon_ce_last
BAMBAPROF_TEST_FORMS="gluon_ce_last" TEST_LOG=tests-ce-last gpu_tests ${TEST_S:-150} 8 \
  tests/ssm/test_gpu_ssd_sm90.py -k "not fused and not pair and not diag_first" -s
grep -E "^gluon_ce_last .*states equal" "$OUT/tests-ce-last.log"
check_triton gluon_ce_last 60
if [ "$SECONDS" -lt "${MIXER_BEFORE_S:-330}" ]; then
  bench_mixers 1x512 1x2048 1x8192 8x2048 8x8192
fi
