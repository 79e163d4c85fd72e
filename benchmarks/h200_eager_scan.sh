#!/bin/bash
# One device call (about 7 minutes) on a Hopper GPU, for ssd.auto_scan's eager rule: the SSD core's host and wall
# time with the Triton scan and the Gluon forms in each mode of the launch shortcut (scan_launch_host.py), then the
# core, one Bamba-9B mixer and four mixers back to back with each scan (eager_scan_mixer.py), then the Gluon scan's
# GPU tests (TESTS, default the Gluon scan's file) of the forms FORMS names (default: those the close script
# leaves out) into $OUT. The tests run under
# `timeout -s INT`, so that pytest still prints its summary when the limit cuts them short.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
SHAPES="--shape 1x512 --shape 1x2048 --shape 1x8192"
(cd benchmarks && timeout "${HOST_S:-120}" python3 scan_launch_host.py $SHAPES --scan triton --scan gluon_slim \
  --scan gluon_late -o "$OUT/scan-launch-host.json")
echo "host rc=$? at ${SECONDS}s"
timeout "${MIXER_S:-150}" python3 benchmarks/eager_scan_mixer.py $SHAPES -o "$OUT/eager-scan-mixer.json" 2>"$OUT/mixer.err"
echo "mixer rc=$? at ${SECONDS}s"; grep -i "error" "$OUT/mixer.err" | tail -3
if [ -z "${NO_TESTS:-}" ]; then
  BAMBAPROF_TEST_FORMS=${FORMS:-gluon gluon_2d gluon_async gluon_packed gluon_lean gluon_lg2 gluon_stay} \
    timeout -s INT "${TEST_S:-250}" python3 -m pytest -q -rs -p no:cacheprovider ${TESTS:-tests/ssm/test_gpu_ssd_sm90.py} \
    > "$OUT/tests-forms.log" 2>&1
  echo "tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-forms.log" | tail -8
fi
echo "done at ${SECONDS}s"
