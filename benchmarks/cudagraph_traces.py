"""Record real traces of CUDA graphs recorded inside the profiled steps, and of graphs only replayed (CUDA only).

    python benchmarks/cudagraph_traces.py OUT

Writes, each with four profiled steps after a warm-up step and shapes recorded:

- ``replayed.json.gz``: a small MLP under ``torch.compile(mode="reduce-overhead")``, warmed up on its one batch size
  before recording: every profiled step replays the graph CUDA graph trees recorded;
- ``new-shapes.json.gz``: the same with the batch dimension marked dynamic (one compiled graph) and a new batch size
  every step, called twice (as a server's batches of a few sizes come): CUDA graph trees warm each new size up and
  then record a graph for it, inside the steps (``CUDAGraphNode.record``);
- ``captured.json.gz``: the MLP captured by hand with ``torch.cuda.graph`` in every step before it is replayed (the
  capture's runtime calls, ``cudaStreamBeginCapture`` ... ``cudaGraphInstantiate``, inside the steps).

These traces are fixtures of ``tests/analysis/test_cuda_graphs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, record_cases  # noqa: E402


def mlp(device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.GELU(), torch.nn.Linear(2048, 512)).to(device)


def record(case: str, path: Path, device: str) -> None:
    torch._dynamo.reset()
    model = mlp(device)
    sizes = [64, 64, 64, 64, 64] if case == "replayed" else [64, 72, 80, 88, 96]
    with torch.no_grad():
        if case == "captured":
            graph, x = torch.cuda.CUDAGraph(), torch.randn(64, 512, device=device)
            for _ in range(2):
                model(x)  # warm cuBLAS up before the captures

            def step(i: int) -> None:
                with torch.cuda.graph(graph):
                    model(x)
                graph.replay()
                graph.reset()
        else:
            compiled = torch.compile(model, mode="reduce-overhead")
            for n in ([64] * 3 if case == "replayed" else [48, 56]):  # compile (and, replayed, record) before
                x = torch.randn(n, 512, device=device)
                torch._dynamo.mark_dynamic(x, 0)
                compiled(x)

            def step(i: int) -> None:  # twice: CUDA graph trees warm a new size up once, then record it
                x = torch.randn(sizes[i], 512, device=device)
                torch._dynamo.mark_dynamic(x, 0)
                compiled(x)
                compiled(x)
        torch.cuda.synchronize()
        with profile(activities=activities(device), record_shapes=True,
                     schedule=schedule(wait=0, warmup=1, active=4, repeat=1)) as prof:
            for i in range(5):
                step(i)
                torch.cuda.synchronize()
                prof.step()
    export_trace(prof, path)


def main() -> None:
    record_cases(__doc__, record, ((case, case) for case in ("replayed", "new-shapes", "captured")))


if __name__ == "__main__":
    main()
