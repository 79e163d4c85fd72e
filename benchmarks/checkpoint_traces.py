"""Record real traces of a small model trained with every block checkpointed, and without checkpointing.

    python benchmarks/checkpoint_traces.py OUT [--device cpu|cuda]

Writes ``OUT/checkpointed.json.gz`` (each block under ``torch.utils.checkpoint``, non-reentrant: its forward runs
again in the backward pass) and ``OUT/plain.json.gz``: 8 blocks of Linear(256, 256), GELU, Linear(256, 256), batch
64, three profiled training steps (forward, backward, SGD) after a warm-up step, with shapes and memory; and
``OUT/gradient-penalty.json.gz``: one step with a gradient penalty (``create_graph=True``) and no checkpointing.
These traces are fixtures of ``tests/analysis/test_checkpointing.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import profile, schedule
from torch.utils.checkpoint import checkpoint

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, record_cases, written  # noqa: E402


def gradient_penalty(path: Path, device: str) -> None:
    """A step with a gradient penalty (torch.autograd.grad with create_graph=True) and no checkpointing: its backward
    builds a graph of its own, with gradient ops that carry sequence numbers too."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1)).to(device)
    x = torch.randn(64, 256, device=device, requires_grad=True)
    with profile(activities=activities(device), record_shapes=True) as prof:
        y = net(x).sum()
        (grad,) = torch.autograd.grad(y, x, create_graph=True)
        (y + grad.pow(2).sum()).backward()
    export_trace(prof, path)


def record(checkpointed: bool, path: Path, device: str) -> None:
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.GELU(),
                                                     torch.nn.Linear(256, 256)) for _ in range(8)).to(device)
    opt = torch.optim.SGD(blocks.parameters(), lr=1e-3)
    x = torch.randn(64, 256, device=device)
    with profile(activities=activities(device), record_shapes=True, profile_memory=True,
                 schedule=schedule(wait=0, warmup=1, active=3, repeat=1)) as prof:
        for _ in range(4):
            y = x
            for block in blocks:
                y = checkpoint(block, y, use_reentrant=False) if checkpointed else block(y)
            y.pow(2).mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            prof.step()
    export_trace(prof, path)


def main() -> None:
    args = record_cases(__doc__, record, (("checkpointed", True), ("plain", False)))
    gradient_penalty(args.out / "gradient-penalty.json.gz", args.device)
    written(args.out / "gradient-penalty.json.gz")


if __name__ == "__main__":
    main()
