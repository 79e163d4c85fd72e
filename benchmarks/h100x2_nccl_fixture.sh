#!/usr/bin/env bash
# A real NCCL trace for the collectives table (one call on an nvidia-h100-x2 or nvidia-h200-x2 machine, about a
# minute): benchmarks/nccl_job.py on two GPUs (a blocking and an overlapped bf16 all-reduce a step, 64 MiB each),
# one trace per rank in $OUT/nccl-job/; then `analyze` of the folder (ranks side by side), of rank 0 alone with
# --table collectives (kinds, exposed time, bytes, algbw, busbw from the kernels' record_param_comms parameters),
# and the same bucket size timed by torch.distributed alone ($OUT/nccl-busbw.json: the busbw nccl-tests would
# report for it, to hold the trace's figure against). Small traces (2 steps, 4 MiB) go to $OUT/fixture/ for
# tests/data/.
set -uo pipefail
source benchmarks/device_env.sh
run2() { timeout 240 python3 -m torch.distributed.run --nproc-per-node 2 --master-port "$1" benchmarks/nccl_job.py "${@:2}"; }
nvidia-smi topo -m 2>&1 | head -6

echo "== 1. the job, 64 MiB buckets"
run2 29641 "$OUT/nccl-job" --steps 6 --mib 64 2>&1 | grep -v -e USDT -e OMP_NUM_THREADS -e '^\*' | tail -3
python3 -m bambaprof analyze "$OUT/nccl-job" 2>&1 | head -20
python3 -m bambaprof analyze "$(ls "$OUT"/nccl-job/rank0.*.json.gz | head -1)" --table collectives 2>&1
python3 -m bambaprof analyze "$(ls "$OUT"/nccl-job/rank0.*.json.gz | head -1)" --table findings 2>&1 | head -8

echo "== 2. the same all-reduce timed alone (CUDA events, 20 calls after 5)"
cat > /tmp/busbw.py <<'PY'
import json, os, sys, torch, torch.distributed as dist
dist.init_process_group("nccl"); r = dist.get_rank(); torch.cuda.set_device(r)
x = torch.randn(int(64 * 2**20 / 2), device="cuda", dtype=torch.bfloat16)
for _ in range(5): dist.all_reduce(x)
torch.cuda.synchronize(); s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(20): dist.all_reduce(x)
e.record(); torch.cuda.synchronize(); us = s.elapsed_time(e) * 1e3 / 20
n = dist.get_world_size(); algbw = x.numel() * 2 / (us * 1e3)
if r == 0:
    json.dump({"bytes": x.numel() * 2, "us": us, "algbw_gbps": algbw, "busbw_gbps": algbw * 2 * (n - 1) / n},
              open(sys.argv[1], "w"))
    print("alone: %.1f us, algbw %.1f GB/s, busbw %.1f GB/s" % (us, algbw, algbw * 2 * (n - 1) / n))
dist.destroy_process_group()
PY
timeout 120 python3 -m torch.distributed.run --nproc-per-node 2 --master-port 29642 /tmp/busbw.py "$OUT/nccl-busbw.json" \
  2>&1 | grep -v -e USDT -e OMP_NUM_THREADS -e '^\*' | tail -2

echo "== 3. small traces for tests/data"
run2 29643 "$OUT/fixture" --steps 3 --mib 4 --size 1024 2>&1 | grep -v -e USDT -e OMP_NUM_THREADS -e '^\*' | tail -2
ls -la "$OUT/fixture"
echo "done at ${SECONDS}s"
