"""A two-rank job for the multi-process Nsight Systems check: `torchrun --nproc-per-node 2` (gloo) of ranks that
share one GPU, rank 1 doing 1.5x the GPU work of rank 0 (the straggler), each step ending in an all-reduce.

Under `nsys profile ... torchrun ...` every rank lands in one report; with `kineto DIR` each rank writes its own
PyTorch profiler trace into DIR (a folder of ranks). `bambaprof analyze` of the export's processes and of the
folder should give the same kernels per rank and find rank 1 the slowest. Without CUDA it runs on the CPU
(to check the script itself). `benchmarks/h200_nsys_job.sh` runs it both ways on the GPU machine.
"""

import os
import sys

import torch
import torch.distributed as dist


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randn(2048, 2048, device=device)
    w = torch.randn(2048, 2048, device=device) / 64
    matmuls = 6 if rank == 1 else 4

    def step() -> None:
        with torch.profiler.record_function("step"):
            y = x
            for _ in range(matmuls):
                y = torch.tanh(y @ w)
            total = y.sum().cpu()
            dist.all_reduce(total)

    for _ in range(3):  # warm up
        step()
    steps = 5
    if len(sys.argv) > 2 and sys.argv[1] == "kineto":
        from torch.profiler import ProfilerActivity, profile, tensorboard_trace_handler

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with profile(activities=activities,
                     on_trace_ready=tensorboard_trace_handler(sys.argv[2], worker_name=f"rank{rank}", use_gzip=True)):
            for _ in range(steps):
                step()
    else:
        for _ in range(steps):
            step()
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        print(f"ranks done on {device} (pid {os.getpid()})")


if __name__ == "__main__":
    main()
