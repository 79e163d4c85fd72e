#!/usr/bin/env bash
# One device call: the whole test suite on the GPU (gpu-marked tests included), fixture traces
# recaptured with bambaprof's kernel metadata, and `check` at Bamba-9B shapes. Outputs in $OUT.
# Needs the msgspec wheel carried in .whl/ (the device has no network).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT/traces"
python3 -m pytest -q -rs -p no:cacheprovider tests 2>&1 | tee "$OUT/test-suite.log" | tail -15
python3 benchmarks/capture_fixture_traces.py "$OUT/traces" 2>&1 | grep -v Warning | tail -4
for dt in bfloat16 float32; do
  python3 -m bambaprof check --preset bamba-9b --batch 1 --seq-len 512 --seq-len 2048 --dtype $dt \
    --device cuda --format json -o "$OUT/check-bamba9b-$dt.json"; echo "check $dt rc=$?"
done
python3 -m bambaprof analyze "$OUT/traces/ssd-default-optimized-eager-b1-L512-h16.json.gz" --table kernels --top 6
