#!/usr/bin/env bash
# Time other forms of the triton variant's kernels (kernels/ssd.py files) beside the committed one and
# mamba_ssm, in one device call (about 30 s a form): benchmarks/tune_triton_ssd.py checks each against the
# float64 recurrence, then times all of them in interleaved rounds at the five Bamba-9B shapes.
#   FORMS="tma=.peers/ssd_tma_s2.py st3=.peers/ssd_stages3.py" bash benchmarks/h200_scan_forms.sh
# The form files are carried (e.g. under .peers/, `git show exp/ssd-tma:bambaprof/ssm/kernels/ssd.py`);
# the result is $OUT/tune.json, summarised into the log.
set -uo pipefail
source benchmarks/device_env.sh
args=()
for form in ${FORMS:-}; do args+=(--kernels "$form"); done
timeout ${TUNE_S:-400} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only base "${args[@]}" \
  > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$?"
grep -E "check FAILED|Error" "$OUT/tune.err" | tail -8
python3 benchmarks/summarize_tune.py "$OUT/tune.json"
