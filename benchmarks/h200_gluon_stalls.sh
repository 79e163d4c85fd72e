#!/bin/bash
# The GPU tests of the triton variant and its Gluon scan, `bambaprof check` at the Bamba-9B shapes, then where
# the Gluon forms' warps stall: Nsight Compute at 1x2048 (one launch of each of SCAN_FORMS; warp states, source
# counters, speed of light, memory and occupancy), its SASS page as CSV and its details into $OUT. About 6 minutes.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
TEST_S=${TEST_S:-200} gpu_tests 200 8 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py
check_triton "${BENCH_SCAN:-auto}" 100
# SCAN_FORMS: the Gluon forms profiled, each once (gluon_slim unless named); the cubins that ran are kept (from
# Triton's cache) so that their SASS can be read against the source lines where it was compiled (nvdisasm -g)
export TRITON_CACHE_DIR=/tmp/triton-cache
for form in ${SCAN_FORMS:-gluon_slim}; do
  timeout 150 ncu --clock-control none -k regex:_chunk_scan_sm90 --section WarpStateStats --section SourceCounters \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section SchedulerStats \
    -o "$OUT/scan-$form" python3 benchmarks/ncu_chunk_scan.py --scan-kernel "$form" 1x2048 > "$OUT/ncu-$form.txt" 2>&1
  echo "ncu $form rc=$? at ${SECONDS}s"; tail -2 "$OUT/ncu-$form.txt"
  ncu -i "$OUT/scan-$form.ncu-rep" --page source --csv --print-source sass > "$OUT/sass-$form.csv" 2>&1
  ncu -i "$OUT/scan-$form.ncu-rep" --page details --print-details all > "$OUT/details-$form.txt" 2>&1
  rm -f "$OUT/scan-$form.ncu-rep"
  grep -E "Duration|Warp Cycles Per Issued|Issued Warp|Achieved Occupancy|Theoretical Occupancy|L2 Cache Throughput" \
    "$OUT/details-$form.txt" | head -8
done
mkdir -p "$OUT/cubin" && find /tmp/triton-cache -name "_chunk_scan_sm90*.cubin" -exec sh -c 'cp "$1" "$2/$(basename $(dirname $1)).cubin"' _ {} "$OUT/cubin" \;
ls "$OUT/cubin"
echo "done at ${SECONDS}s"
