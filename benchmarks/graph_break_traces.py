"""Record real traces of a compiled function that breaks its graph, and of the same work in one graph.

    python benchmarks/graph_break_traces.py OUT [--device cpu|cuda]

Writes ``OUT/broken.json.gz``: ``torch.compile`` of a function that reads a value with ``.item()`` and prints
between its matmuls (two graph breaks: Dynamo runs it as three frames, the ``.item()`` and the print eagerly between
them), and ``OUT/whole.json.gz``: the same arithmetic with the value kept a tensor and no print (one graph). Each
holds three profiled steps after the function was compiled and warmed up, with shapes. These traces are fixtures of
``tests/analysis/test_compiled_calls.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, record_cases  # noqa: E402


def broken(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y = torch.relu(x @ w)
    scale = y.mean().item()  # a graph break: the value goes to the host
    y = y / (1.0 + scale)
    print("", end="")  # a graph break: Dynamo does not trace print
    return torch.tanh(y @ w).sum()


def whole(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y = torch.relu(x @ w)
    y = y / (1.0 + y.mean())
    return torch.tanh(y @ w).sum()


def record(fn, path: Path, device: str) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(fn)
    x = torch.randn(256, 256, device=device)
    w = torch.randn(256, 256, device=device) / 16
    for _ in range(3):
        compiled(x, w)  # compile, then warm
    with profile(activities=activities(device), record_shapes=True,
                 schedule=schedule(wait=0, warmup=1, active=3, repeat=1)) as prof:
        for _ in range(4):
            compiled(x, w)
            prof.step()
    export_trace(prof, path)


def main() -> None:
    record_cases(__doc__, record, (("broken", broken), ("whole", whole)))


if __name__ == "__main__":
    main()
