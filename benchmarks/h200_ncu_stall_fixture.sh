#!/bin/bash
# Fixtures for reading warp-stall reasons from Nsight Compute: the Bamba-9B mixer's kernels of
# benchmarks/ncu_models.py profiled once by the PyTorch profiler ($OUT/stall-trace.json.gz) and once under ncu with
# the WarpStateStats, SpeedOfLight, Occupancy and LaunchStats sections, exported three ways: the details page as
# ncu --csv writes it, the same with --print-details all, and the raw page ($OUT/stall-ncu-*.csv). About a minute.
# BENCH=1 then runs `bambaprof bench ssd` against mamba_ssm (bench_ssd_cores, at most BENCH_S seconds).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; ncu --version | tail -1
ncu_fixture benchmarks/ncu_models.py stall
ls -la "$OUT"
[ -n "${BENCH:-}" ] && bench_ssd_cores
echo "done at ${SECONDS}s"
