#!/bin/bash
# A second device call (forty-ninth session), any card: the attention GPU tests again after the fixes the first
# call's H100 traces led to (cuDNN's forward op, eager flex_attention's backward), then on an H200 issue #17's
# benches (session47_device.sh with CORES=1 MIXER=1, into $OUT/h200).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
TEST_LOG=gpu-tests gpu_tests 200 20 -s -m gpu tests/analysis/test_attention_gpu.py tests/diagnose/test_float32_matmul_gpu.py
grep -E "^(sdpa|math|eager|flex|flex-compiled) \[" "$OUT/gpu-tests.log" | cut -c1-400
# the attention model against Nsight Compute: trace, then the same kernels under ncu (DRAM bytes, bf16 tensor ops)
python3 benchmarks/ncu_attention.py trace "$OUT/attention-trace.json.gz" 2>&1 | tail -1
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__ops_path_tensor_src_bf16_dst_fp32.sum
timeout 150 ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics "$M" \
  python3 benchmarks/ncu_attention.py ncu > "$OUT/attention-ncu.csv" 2> /tmp/ncu.err; echo "ncu rc=$? at ${SECONDS}s"
tail -2 /tmp/ncu.err; gzip -9 "$OUT/attention-ncu.csv"
python3 -m bambaprof analyze "$OUT/attention-trace.json.gz" --table kernels --top 12 2>&1 | grep -iE "^kernel|fmha|flash|sdpa|cudnn" | cut -c1-80,200-330
SKIP_FIXTURES=1 CORES=1 MIXER=1 BENCH_S=150 OUT="$OUT/h200" timeout 420 bash benchmarks/session47_device.sh
echo "all done at ${SECONDS}s"
