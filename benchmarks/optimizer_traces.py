"""Record real traces of one small model trained three steps with AdamW in each of its implementations.

    python benchmarks/optimizer_traces.py OUT [--device cpu|cuda] [--layers 16] [--width 256]

Writes ``OUT/<implementation>.json.gz`` for ``for-loop`` (``foreach=False``: a few ops per parameter),
``foreach`` (``foreach=True``: each op over all parameters at once; the default on CUDA) and ``fused``
(``fused=True``: one op for the whole update). The model: ``--layers`` blocks of Linear(width, width), LayerNorm
and GELU (4 parameters a block), batch 64; three profiled steps (forward, backward, ``opt.step()``,
``opt.zero_grad()``) after a warm-up step, with shapes. It also prints each implementation's median step time over
20 more steps, timed outside the profiler. These traces are the fixtures of ``tests/analysis/test_optimizer.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402

IMPLEMENTATIONS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def model(layers: int, width: int, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    blocks = [torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.LayerNorm(width), torch.nn.GELU())
              for _ in range(layers)]
    return torch.nn.Sequential(*blocks).to(device)


def step(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    net(x).pow(2).mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def record(name: str, out: Path, device: str, layers: int, width: int) -> tuple:
    net = model(layers, width, device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, **IMPLEMENTATIONS[name])
    x = torch.randn(64, width, device=device)
    with profile(activities=activities(device), record_shapes=True,
                 schedule=schedule(wait=0, warmup=1, active=3, repeat=1)) as prof:
        for _ in range(4):
            step(net, opt, x)
            prof.step()
    path = out / f"{name}.json.gz"
    export_trace(prof, path)
    times = []
    for _ in range(20):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(net, opt, x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return path, statistics.median(times) * 1e3


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in IMPLEMENTATIONS:
        path, ms = record(name, args.out, args.device, args.layers, args.width)
        written(path, f"{name}: median step {ms:.3f} ms ({args.device}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
