#!/bin/bash
# One device call (about 7 minutes) on a Hopper GPU, for the Gluon scan's launch host time: the launch shortcut's and
# the scan's host-side tests on this Triton, then the Gluon scan's GPU tests (every form's kernel and options, CUDA
# graphs, eager launches from kept descriptor encodings, the default's rule) and the target shapes of auto's forms;
# then benchmarks/gluon_launch_host.py (host time a forward with the encodings kept and re-encoded, and its parts);
# then, where OLD names a copy of an earlier bambaprof package (a folder holding bambaprof/), the core's host time
# with it and with this tree, alternately (scan_launch_host.py); then four eager mixers back to back with each scan
# (eager_scan_mixer.py), all into $OUT. Tests run under `timeout -s INT`, so pytest prints its summary if cut short.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
SHAPES=${SHAPES:---shape 1x512 --shape 1x2048}
if [ -z "${NO_TESTS:-}" ]; then
  timeout -s INT 60 python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_launch.py tests/ssm/test_ssd_sm90_host.py \
    > "$OUT/tests-host.log" 2>&1
  echo "host-side tests rc=$? at ${SECONDS}s"; tail -2 "$OUT/tests-host.log"
  timeout -s INT "${TEST_S:-200}" python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py \
    -k "kernel_that_runs or options_it_serves or eager_launches or default_runs or pair_form or cuda_graph" \
    > "$OUT/tests-forms.log" 2>&1
  echo "form tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-forms.log" | tail -8
  BAMBAPROF_TEST_FORMS="gluon_late gluon_slim" timeout -s INT 90 python3 -m pytest -q -rs -p no:cacheprovider \
    tests/ssm/test_gpu_ssd_sm90.py -k target_shapes > "$OUT/tests-targets.log" 2>&1
  echo "target-shape tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-targets.log" | tail -4
fi
timeout "${HOST_S:-150}" python3 benchmarks/gluon_launch_host.py $SHAPES -o "$OUT/gluon-launch-host.json"
echo "gluon host rc=$? at ${SECONDS}s"
if [ -n "${OLD:-}" ]; then
  for tree in "$OLD" "$PWD" "$OLD" "$PWD"; do
    (cd benchmarks && PYTHONPATH=/tmp/site:$tree timeout 120 python3 scan_launch_host.py $SHAPES --scan triton \
      --scan gluon_late -o "$OUT/scan-launch-host-$(basename "$tree")-${SECONDS}.json" | sed "s|^|$(basename "$tree") |")
  done
  echo "old/new rc=$? at ${SECONDS}s"
fi
timeout "${MIXER_S:-150}" python3 benchmarks/eager_scan_mixer.py $SHAPES --scan triton --scan gluon_late \
  --scan gluon_slim -o "$OUT/eager-scan-mixer.json" 2>"$OUT/mixer.err"
echo "mixer rc=$? at ${SECONDS}s"; grep -i "error" "$OUT/mixer.err" | tail -3
echo "done at ${SECONDS}s"
