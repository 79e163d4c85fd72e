#!/bin/bash
# One device call (about 8 minutes) on a Hopper GPU: gluon_slim's ring depth and register cap side by side with
# gluon_late and mamba_ssm at the five target shapes (benchmarks/tune_triton_ssd.py's TRIAL_FORMS: 3 slots at 168
# registers, three programs an SM; 3 uncapped, 4 and 7 slots uncapped, two an SM), then the Nsight Compute
# fixture of the SSD core at 8 x 2048 (benchmarks/ncu_ssd_core.py: a trace and ncu's SpeedOfLight, WarpStateStats,
# Occupancy and LaunchStats sections, as the raw page and the details pages, gzipped: ncu_fixture) into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; ncu --version | tail -1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
if [ -z "${SKIP_TUNE:-}" ]; then
  timeout "${TUNE_S:-380}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" \
    --only ${FORMS:-gluon_late gluon_slim gluon_slim_r3u gluon_slim_r4 gluon_slim_r7} > "$OUT/tune.json" 2> "$OUT/tune.err"
  echo "tune rc=$? at ${SECONDS}s"
  grep -i "error\|fail" "$OUT/tune.err" | head -5
  python3 benchmarks/print_tune.py "$OUT/tune.json" || tail -12 "$OUT/tune.err"
fi
ncu_fixture benchmarks/ncu_ssd_core.py scan
python3 -m bambaprof analyze "$OUT/scan-trace.json.gz" --ncu "$OUT/scan-ncu-raw.csv.gz" --table findings 2>&1 | head -30
ls -la "$OUT"
echo "done at ${SECONDS}s"
