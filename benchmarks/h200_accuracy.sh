#!/usr/bin/env bash
# Issue 7's evidence: `bambaprof accuracy` at the full depth of bamba-9b (32 layers, attention included,
# seeded weights) at 512 and 2048 tokens, every variant against the reference. One JSON per length in $OUT.
# At 2048 tokens the reference's no-cache generation dominates: allow several minutes.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for L in ${LENGTHS:-512 2048}; do
  timeout ${PER_LENGTH_S:-400} python3 -m bambaprof accuracy --preset bamba-9b --seq-len $L --new-tokens ${NEW_TOKENS:-4} \
    --reference-dtype ${REFERENCE_DTYPE:-float32} --format json -o "$OUT/h200-accuracy-bamba9b-L$L.json" 2>&1 | tail -2
  echo "L=$L rc=${PIPESTATUS[0]}"
done
