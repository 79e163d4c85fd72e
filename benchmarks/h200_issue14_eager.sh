#!/usr/bin/env bash
# H200 evidence for the diagnosis issue, part 1: GPU tests of the launch hook and cache copy, Nsight Compute
# checks of the byte/FLOP models (the mixer's GEMMs, conv, elementwise and reduction kernels at 1x2048), and
# the eager bamba-9b 4-layer bf16 mixer and generate runs of every variant. Everything lands in $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
  ncu --version | tail -1; date -u +%FT%TZ; } | tee $OUT/env.txt
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/collect/test_triton_launches.py \
  tests/collect/test_cudagraph_cache.py tests/api/test_record.py 2>&1 | tail -3
python3 benchmarks/ncu_models.py trace $OUT/models-trace.json.gz
ncu --query-metrics --chip gh100 > /tmp/metrics.txt 2>&1
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__bytes.sum.per_second,launch__grid_size,launch__block_size,launch__registers_per_thread
for m in smsp__sass_thread_inst_executed_op_ffma_pred_on smsp__sass_thread_inst_executed_op_fadd_pred_on \
         smsp__sass_thread_inst_executed_op_fmul_pred_on sm__ops_path_tensor_src_bf16_dst_fp32 \
         sm__inst_executed_pipe_tensor_op_gmma sm__inst_executed_pipe_tensor_op_hmma; do
  grep -q "^$m " /tmp/metrics.txt && M=$M,$m.sum
done
echo "metrics: $M" | tee -a $OUT/env.txt
timeout 120 ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics "$M" \
  python3 benchmarks/ncu_models.py ncu > $OUT/models-ncu.csv 2> /tmp/ncu.err; echo "ncu rc=$?"; tail -2 /tmp/ncu.err
COMMON="--preset bamba-9b --layers 4 --no-attention --dtype bf16 --workload mixer --workload generate --seq-len 512
  --new-tokens 8 --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 --device cuda --runs $OUT/runs"
timeout 300 python3 -m bambaprof profile $COMMON --variant triton --variant default-optimized --variant independent \
  --variant default --format json -o $OUT/eager.json 2>&1 | grep -v USDT | tail -5
tar cf $OUT/runs.tar -C $OUT runs && rm -rf $OUT/runs
