"""A training step under the PyTorch profiler with ``with_stack=True``: the nn.Module calls of the forward
pass and the backward pass on autograd's thread, to check bambaprof's module (and backward) attribution on a
real trace.

    python benchmarks/modules_train.py OUT.json     # writes OUT.json (gzip it for a fixture)
    nsys profile --capture-range=cudaProfilerApi ... python benchmarks/modules_train.py --emit-nvtx
                                                     # the same steps under emit_nvtx, for Nsight Systems

A small two-block MLP (Linear, GELU, LayerNorm) in bf16 on the GPU (float32 on the CPU), two profiled steps
of forward, backward and an SGD update; each block's record_function range (``block.<i>``) gives the phases
the modules must agree with.
"""

from __future__ import annotations

import sys

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.up = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.down = nn.Linear(4 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.down(self.act(self.up(x))))


class Net(nn.Module):
    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            with torch.profiler.record_function(f"block.{i}"):
                x = block(x)
        return self.head(x)


def main(out: str) -> None:
    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    torch.manual_seed(0)
    net = Net(1024, 2).to(device, dtype)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    x = torch.randn(4096, 1024, device=device, dtype=dtype)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        net(x).float().square().mean().backward()
        opt.step()

    for _ in range(3):
        step()
    if out == "--emit-nvtx":  # operators (and backward Functions, with their stashed seq) as NVTX ranges
        if not cuda:
            raise SystemExit("--emit-nvtx is for Nsight Systems on a GPU")
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        with torch.autograd.profiler.emit_nvtx():
            for _ in range(2):
                step()
            torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
        return
    with torch.profiler.profile(activities=activities, with_stack=True, record_shapes=True) as prof:
        for _ in range(2):
            step()
            prof.step()
        if cuda:
            torch.cuda.synchronize()
    prof.export_chrome_trace(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "modules-train.json")
