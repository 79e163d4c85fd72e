#!/bin/bash
# The triton variant with the Gluon chunk scan as its default on Hopper: `bambaprof bench ssd` against mamba_ssm
# at the five target shapes, the variant's GPU tests and the Gluon scan's, then where the scan's warps stall
# (Nsight Compute source counters, 1x2048, one launch; the SASS page as CSV).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
bench_ssd_cores
TEST_S=${TEST_S:-230} gpu_tests 230 12 tests/ssm/test_gpu_triton_ssd.py tests/ssm/test_gpu_ssd_sm90.py
timeout 120 ncu --clock-control none -k regex:_chunk_scan_sm90 --section WarpStateStats --section SourceCounters \
  -o "$OUT/scan-1x2048" python3 benchmarks/ncu_chunk_scan.py 1x2048 > "$OUT/ncu-run.txt" 2>&1
echo "ncu rc=$? at ${SECONDS}s"
ncu -i "$OUT/scan-1x2048.ncu-rep" --page source --csv --print-source sass > "$OUT/sass-1x2048.csv" 2>&1
ncu -i "$OUT/scan-1x2048.ncu-rep" --page details --print-details all > "$OUT/details-1x2048.txt" 2>&1
rm -f "$OUT/scan-1x2048.ncu-rep"
echo "done at ${SECONDS}s"
