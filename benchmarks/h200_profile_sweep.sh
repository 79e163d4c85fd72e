#!/usr/bin/env bash
# Issue 4's matrix (examples/sweeps/h200-profile-matrix.toml) on a two-GPU machine, within one device
# call's limit: run it with --resume so a second call (machine still warm, same /tmp) finishes what the
# first left (the budget sends SIGINT, so the sweep stops its workers and marks them pending). Summaries and the index come back under $OUT; the run directories stay in $ROOT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; ROOT=${ROOT:-/tmp/sweeps/profile-matrix}; mkdir -p "$OUT"
timeout -s INT -k 20 ${BUDGET_S:-540} python3 -m bambaprof sweep run examples/sweeps/h200-profile-matrix.toml --root "$ROOT" \
  --devices ${DEVICES:-0,1} --timeout ${RUN_TIMEOUT_S:-420} --resume --no-report --format json -o "$OUT/summary.json" 2>/dev/null
echo "sweep rc=$?"
python3 -m bambaprof sweep status "$ROOT" 2>/dev/null | tail -40
cp "$ROOT/index.json" "$OUT/index.json" 2>/dev/null
