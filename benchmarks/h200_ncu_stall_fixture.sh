#!/bin/bash
# Fixtures for reading warp-stall reasons from Nsight Compute: the Bamba-9B mixer's kernels of
# benchmarks/ncu_models.py profiled once by the PyTorch profiler ($OUT/stall-trace.json.gz) and once under ncu with
# the WarpStateStats, SpeedOfLight, Occupancy and LaunchStats sections, exported three ways: the details page as
# ncu --csv writes it, the same with --print-details all, and the raw page ($OUT/stall-ncu-*.csv). About a minute.
# BENCH=1 then runs `bambaprof bench ssd` against mamba_ssm (bench_ssd_cores, at most BENCH_S seconds).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; ncu --version | tail -1
python3 benchmarks/ncu_models.py trace "$OUT/stall-trace.json.gz"
timeout 150 ncu --clock-control none --nvtx --nvtx-include "measure/" --section WarpStateStats --section SpeedOfLight \
  --section Occupancy --section LaunchStats -o "$OUT/stall" python3 benchmarks/ncu_models.py ncu > /tmp/ncu.log 2>&1
echo "ncu rc=$? at ${SECONDS}s"; tail -2 /tmp/ncu.log
ncu -i "$OUT/stall.ncu-rep" --csv --page details > "$OUT/stall-ncu-details.csv"
ncu -i "$OUT/stall.ncu-rep" --csv --page details --print-details all > "$OUT/stall-ncu-details-all.csv"
ncu -i "$OUT/stall.ncu-rep" --csv --page raw > "$OUT/stall-ncu-raw.csv"
gzip -9 "$OUT"/stall-ncu-*.csv; rm -f "$OUT/stall.ncu-rep"; ls -la "$OUT"
[ -n "${BENCH:-}" ] && bench_ssd_cores
echo "done at ${SECONDS}s"
