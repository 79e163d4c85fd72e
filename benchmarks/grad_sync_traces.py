"""Record real traces of data-parallel training with gradient accumulation, with and without ``no_sync``.

    python benchmarks/grad_sync_traces.py OUT [--backend gloo|nccl] [--accumulate 3] [--world 2]

``--world`` processes (``torch.multiprocessing.spawn``, CPU tensors with gloo, one GPU each with nccl; one process
alone still all-reduces, through NCCL on one GPU) train a 4-layer MLP
under ``DistributedDataParallel``, accumulating gradients over ``--accumulate`` micro-batches for each SGD step.
Writes ``OUT/sync/rank<r>.json.gz`` (every micro-batch's backward all-reduces its gradients) and
``OUT/no-sync/rank<r>.json.gz`` (every micro-batch but a step's last runs inside ``ddp.no_sync()``): two profiled
steps after a warm-up step each, shapes recorded. These traces are fixtures of ``tests/analysis/test_grad_sync.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.profiler import ProfilerActivity, profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import written  # noqa: E402


def train(rank: int, world: int, backend: str, no_sync: bool, accumulate: int, out: Path, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world)
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(4)]).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if backend == "nccl" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=1e-3)
    x = torch.randn(32, 256, device=device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if backend == "nccl" else [])
    path = out / f"rank{rank}.json.gz"
    with profile(activities=activities, record_shapes=True, schedule=schedule(wait=0, warmup=1, active=2, repeat=1),
                 on_trace_ready=lambda p: export_trace(p, path)) as prof:
        for _ in range(3):
            for micro in range(accumulate):
                skip = no_sync and micro < accumulate - 1
                with ddp.no_sync() if skip else contextlib.nullcontext():
                    ddp(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            prof.step()
    dist.barrier()
    dist.destroy_process_group()
    written(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    parser.add_argument("--accumulate", type=int, default=3)
    parser.add_argument("--world", type=int, default=2)
    args = parser.parse_args()
    for port, (name, no_sync) in enumerate((("sync", False), ("no-sync", True)), start=29517):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        mp.spawn(train, args=(args.world, args.backend, no_sync, args.accumulate, folder, port), nprocs=args.world)


if __name__ == "__main__":
    main()
