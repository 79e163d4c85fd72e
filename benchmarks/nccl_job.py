"""A small data-parallel step under the PyTorch profiler, one trace per rank: the fixture the collectives table
(:mod:`bambaprof.analysis.comms`) is to be checked on with real NCCL kernels.

Each rank runs ``steps`` steps of a two-matmul "layer" and all-reduces its bf16 "gradients" (``--mib`` MiB a
bucket) twice a step: once blocking after the compute (exposed), once asynchronously on the side while the next
matmul runs (``async_op=True``: compute can hide it). Under NCCL (``torchrun --nproc-per-node 2``, one GPU each)
the trace's NCCL kernels carry PyTorch's collective parameters; under gloo (``--backend gloo``, CPU) the script
runs anywhere, so it is tested on the CPU.

    torchrun --nproc-per-node 2 benchmarks/nccl_job.py OUT [--steps 6] [--mib 64]
    torchrun --nproc-per-node 2 benchmarks/nccl_job.py OUT --backend gloo --mib 1   # CPU
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--backend", default="nccl", choices=["nccl", "gloo"])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--mib", type=float, default=64.0, help="MiB per all-reduce (bf16)")
    parser.add_argument("--size", type=int, default=4096, help="matmul size")
    args = parser.parse_args()
    dist.init_process_group(args.backend)
    rank = dist.get_rank()
    on_gpu = args.backend == "nccl"
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if on_gpu else torch.device("cpu")
    if on_gpu:
        torch.cuda.set_device(device)
    dtype = torch.bfloat16 if on_gpu else torch.float32
    size = args.size if on_gpu else 256
    x = torch.randn(size, size, device=device, dtype=dtype) / size ** 0.5
    w = torch.randn(size, size, device=device, dtype=dtype) / size ** 0.5
    grads = [torch.randn(int(args.mib * 2**20 / 2), device=device, dtype=dtype) for _ in range(2)]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    sched = schedule(wait=0, warmup=1, active=args.steps - 1, repeat=1)
    with profile(activities=activities, schedule=sched, record_shapes=True,
                 on_trace_ready=tensorboard_trace_handler(args.out, worker_name=f"rank{rank}", use_gzip=True)) as prof:
        for _ in range(args.steps):
            y = torch.relu(x @ w) @ w
            dist.all_reduce(grads[0])  # blocking: nothing to hide it
            work = dist.all_reduce(grads[1], async_op=True)  # on the side, while the next product runs
            y = y @ w
            work.wait()
            if on_gpu:
                torch.cuda.synchronize()
            prof.step()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
