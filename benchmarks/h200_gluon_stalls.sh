#!/bin/bash
# The GPU tests of the triton variant and its Gluon scan, `bambaprof check` at the Bamba-9B shapes, then where
# the default Gluon form's warps stall: Nsight Compute at 1x2048 (one launch of SCAN_FORM, gluon_packed unless
# named; warp states, source counters, speed of light, memory and occupancy), its SASS page as CSV and its
# details into $OUT. About 6 minutes.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
TEST_S=${TEST_S:-200} gpu_tests 200 8 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py
check_triton "${BENCH_SCAN:-auto}" 100
form=${SCAN_FORM:-gluon_packed}
timeout 150 ncu --clock-control none -k regex:_chunk_scan_sm90 --section WarpStateStats --section SourceCounters \
  --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section SchedulerStats \
  -o "$OUT/scan-1x2048" python3 benchmarks/ncu_chunk_scan.py --scan-kernel "$form" 1x2048 > "$OUT/ncu-run.txt" 2>&1
echo "ncu rc=$? at ${SECONDS}s"; tail -3 "$OUT/ncu-run.txt"
ncu -i "$OUT/scan-1x2048.ncu-rep" --page source --csv --print-source sass > "$OUT/sass-1x2048.csv" 2>&1
ncu -i "$OUT/scan-1x2048.ncu-rep" --page details --print-details all > "$OUT/details-1x2048.txt" 2>&1
rm -f "$OUT/scan-1x2048.ncu-rep"
grep -E "Duration|Warp Cycles Per Issued|Issued Warp|Achieved Occupancy|Theoretical Occupancy|L2 Cache Throughput|DRAM Throughput" \
  "$OUT/details-1x2048.txt" | head -12
echo "done at ${SECONDS}s"
