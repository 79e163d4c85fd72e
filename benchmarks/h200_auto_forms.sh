#!/bin/bash
# One device call (about 8 minutes) on a Hopper GPU: the GPU tests of `auto`'s rule (graphs and eager
# sizes), then the Triton scan, gluon_late and gluon_slim side by side with
# mamba_ssm at the five target shapes (tune_triton_ssd.py, interleaved rounds: which form `auto` should run below
# and above ssd.SLIM_PROGRAMS), then the Gluon scan's GPU
# tests of the forms FORMS names (default: those the close script leaves out) under `timeout -s INT`, so that
# pytest prints its summary when cut short; all into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout -s INT 90 python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py -k "default_runs" \
  tests/ssm/test_scan_setting.py > "$OUT/tests-auto.log" 2>&1
echo "auto tests rc=$? at ${SECONDS}s"; tail -3 "$OUT/tests-auto.log"
timeout "${TUNE_S:-280}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only triton gluon_late gluon_slim \
  > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"
python3 benchmarks/print_tune.py "$OUT/tune.json" || tail -5 "$OUT/tune.err"
BAMBAPROF_TEST_FORMS=${FORMS:-gluon gluon_2d gluon_async gluon_packed gluon_lean gluon_lg2 gluon_stay} \
  timeout -s INT "${TEST_S:-150}" python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py \
  > "$OUT/tests-forms.log" 2>&1
echo "form tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-forms.log" | tail -8
echo "done at ${SECONDS}s"
