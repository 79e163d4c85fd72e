#!/usr/bin/env bash
# Forms of the fused decode step's kernel against the committed one on the H200, one process a form (about
# 20 s each): benchmarks/decode_step_kernel.py checks bit-equality, then times both by kernel time.
#   FORMS=".peers/mixer_bp8w4.py .peers/mixer_bp8w8.py" bash benchmarks/h200_decode_step_forms.sh
# The form files are carried (copies of bambaprof/ssm/kernels/mixer.py with absolute imports and without the
# torch.library registrations, e.g. with another DECODE_BP or number of warps). Results: $OUT/<form>.json.
set -uo pipefail
source benchmarks/device_env.sh
for form in ${FORMS:-}; do
  name=$(basename "$form" .py)
  echo "== $name"
  timeout ${FORM_S:-90} python3 benchmarks/decode_step_kernel.py --form "$form" -o "$OUT/$name.json" 2>&1 \
    | grep -v -i warn | tail -3
done
