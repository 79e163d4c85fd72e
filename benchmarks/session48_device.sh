#!/bin/bash
# One device call (for the session after the forty-eighth, which had no device), any card: the GPU tests of the
# attention and optimizer tables, and real traces to keep as fixtures: bf16 attention through PyTorch's choice, pinned
# to the math fallback and written by hand (benchmarks/attention_traces.py), and AdamW's three implementations
# (benchmarks/optimizer_traces.py), and a compiled function with graph breaks and without
# (benchmarks/graph_break_traces.py), and a KV cache grown by torch.cat and written in place
# (benchmarks/kv_cache_traces.py), and checkpointed training (benchmarks/checkpoint_traces.py), each analysed
# (--table attention / optimizer / compiled / growing / checkpoint, the findings).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
TEST_LOG=gpu-tests gpu_tests 240 20 -s -m gpu tests/analysis/test_attention_gpu.py
timeout 150 python3 benchmarks/attention_traces.py "$OUT/attention" --dtype bfloat16 --heads 8 --tokens 1024 --head-dim 64
timeout 150 python3 benchmarks/optimizer_traces.py "$OUT/optimizer" --layers 8
timeout 200 python3 benchmarks/graph_break_traces.py "$OUT/compiled"
timeout 120 python3 benchmarks/kv_cache_traces.py "$OUT/growing" --prompt 4096 --tokens 32
timeout 120 python3 benchmarks/checkpoint_traces.py "$OUT/checkpoint"
for t in "$OUT"/attention/*.json.gz "$OUT"/optimizer/*.json.gz "$OUT"/compiled/*.json.gz "$OUT"/growing/*.json.gz \
    "$OUT"/checkpoint/*.json.gz; do
  echo "== $t"
  python3 -m bambaprof analyze "$t" --table "$(basename "$(dirname "$t")")" 2>&1 | cut -c1-300
  python3 -m bambaprof analyze "$t" --table findings 2>&1 | cut -c1-400 | head -12
done
for cache in --no-cache --use-cache; do  # bambaprof's tiny model generating without and with its cache, on the GPU
  timeout 200 python3 -m bambaprof profile --preset tiny --workload generate --variant triton $cache --device cuda \
    --runs "$OUT/generation$cache" --new-tokens 6 --seq-len 16 --profile-active 1 --profile-warmup 1 > /dev/null 2>&1
  python3 -m bambaprof analyze "$OUT"/generation$cache/*/ --table generation 2>&1 | cut -c1-300
  python3 -m bambaprof analyze "$OUT"/generation$cache/*/ --table findings 2>&1 | cut -c1-400 | head -8
done
tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
