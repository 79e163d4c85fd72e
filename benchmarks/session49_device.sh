#!/bin/bash
# One device call (forty-ninth session): on an H200, issue #17's mixer bench at the five Bamba-9B shapes and the
# cores beside mamba_ssm (session47_device.sh with CORES=1 MIXER=1, into $OUT/h200); then, on any card, the GPU
# tests and fixtures the forty-eighth session prepared (session48_device.sh, into $OUT/fixtures).
OUT=${OUT:-/tmp/out}
SKIP_FIXTURES=1 CORES=1 MIXER=1 BENCH_S=150 OUT="$OUT/h200" timeout 330 bash benchmarks/session47_device.sh
echo "h200 part done at ${SECONDS}s"
OUT="$OUT/fixtures" timeout $((585 - SECONDS)) bash benchmarks/session48_device.sh
echo "all done at ${SECONDS}s"
