#!/usr/bin/env bash
# One device call: re-run the SSD footprint and GPU tests (foundation), and capture a trace
# and Nsight Compute metrics of the analyzer's validation workloads. Everything lands in $OUT.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader;
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)";
  ncu --version | tail -1; } | tee "$OUT/env.txt"
python3 -m pytest -m gpu -q -p no:cacheprovider tests 2>&1 | tail -3 | tee "$OUT/gpu-tests.log"
python3 benchmarks/ssd_footprint.py "$OUT/ssd-footprint.json" --seq-len 512 2048 8192 --reps 5 2>&1 | tail -9
python3 benchmarks/ncu_workloads.py trace "$OUT/validation-trace.json.gz"
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__bytes.sum.per_second,gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,sm__maximum_warps_per_active_cycle_pct,launch__registers_per_thread,launch__grid_size,launch__block_size,launch__shared_mem_per_block,launch__waves_per_multiprocessor,launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem,launch__occupancy_limit_warps,launch__occupancy_limit_blocks
ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics "$METRICS" \
  python3 benchmarks/ncu_workloads.py ncu > "$OUT/validation-ncu.csv" 2> "$OUT/ncu-stderr.log"
echo "ncu rc=$? lines=$(wc -l < "$OUT/validation-ncu.csv")"
tail -3 "$OUT/ncu-stderr.log"
grep -c '"ID"' "$OUT/validation-ncu.csv" || head -20 "$OUT/validation-ncu.csv"
