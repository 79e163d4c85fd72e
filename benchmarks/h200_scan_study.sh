#!/usr/bin/env bash
# The triton chunk scan on the H200, in one device call (about 8 minutes): the variant's GPU tests and
# `bambaprof check` at the target shapes (bf16 and float32, initial states, prefill and decode), the committed
# kernel beside another form of kernels/ssd.py (FORM=NAME=PATH, e.g. a branch's file carried in .peers/) and
# mamba_ssm at the five target shapes (benchmarks/tune_triton_ssd.py), and Nsight Compute's stall reasons, pipe
# use and occupancy for each form's chunk scan at 1x2048 and 8x8192. Results and a log under $OUT.
set -uo pipefail
source benchmarks/device_env.sh
FORMS=${FORM:+--kernels $FORM}
[ -z "${NO_TESTS:-}" ] && timeout ${TEST_S:-200} python3 -m pytest -q -p no:cacheprovider tests/ssm/test_gpu_triton_ssd.py \
  ${TEST_EXTRA:-} 2>&1 | grep -E "passed|failed|Error" | tail -12
for dt in bfloat16 float32; do
  [ -z "${NO_CHECK:-}" ] && timeout 120 python3 -m bambaprof check --variant triton --preset bamba-9b --batch 1 --batch 8 \
    --seq-len 512 --seq-len 2048 --seq-len 8192 --dtype $dt --initial-state --device cuda --format json \
    -o "$OUT/check-$dt.json" 2>/dev/null; echo "check $dt rc=$?"
done
[ -z "${NO_TUNE:-}" ] && timeout ${TUNE_S:-200} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only base $FORMS > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$?"; tail -2 "$OUT/tune.err"
python3 benchmarks/summarize_tune.py "$OUT/tune.json"
FORM_ARGS=${FORM:+--form $FORM}
timeout ${NCU_S:-180} ncu --clock-control none -k regex:_chunk_scan --section SpeedOfLight --section Occupancy \
  --section LaunchStats --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis --section InstructionStats --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,\
regex:sm__pipe_tensor_op_.*_cycles_active\.avg\.pct_of_peak_sustained_active" python3 benchmarks/ncu_chunk_scan.py $FORM_ARGS 1x2048 8x8192 > "$OUT/ncu.txt" 2>&1
echo "ncu rc=$?"; grep -E "launched|_chunk_scan|Duration|Warp Cycles Per Issued|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|stalled|pipe_tensor" "$OUT/ncu.txt" \
  | awk '$NF+0 >= 0.05 || !/stalled/' | head -150
