"""Real traces of a small training-like step whose memory calls reach the driver, for the ``allocation-stall``
finding (tests/data/allocations/).

Each step: a matmul, elementwise kernels and a reduction on a batch, inside ``record_function("step")``. Recorded
with torch.profiler's schedule (one wait, one warm-up, four active steps: ``ProfilerStep#<n>`` ranges), with
shapes and the CPU and CUDA activities, four ways:

- ``steady``: the same shapes every step (the caching allocator reuses its pool: no driver call in the steps);
- ``empty-cache``: ``torch.cuda.empty_cache()`` after every step (cudaFree of the cached blocks, cudaMalloc anew);
- ``growing``: a batch that grows every step (new device memory each step);
- ``pinned``: a fresh pinned host buffer every step, twice the last one's size (``pin_memory()``: the caching host
  allocator rounds to powers of two, so each is new), copied to the device without blocking.

    python benchmarks/allocation_traces.py OUT_DIR    # writes steady.json.gz, empty-cache.json.gz, ...
"""

import sys
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

from bambaprof.collect.measure import export_trace

WIDTH = 1024


def _work(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    with record_function("step"):
        y = torch.relu(x @ w) * 0.5 + 1.0
        return y.sum(dim=0)


def _record(path: Path, step: Callable[[int], None]) -> None:
    for i in range(2):  # before the profiler: the first allocations, compilation of nothing, cuBLAS's handle
        step(i)
    torch.cuda.synchronize()
    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with profile(activities=acts, record_shapes=True, schedule=schedule(wait=1, warmup=1, active=4)) as prof:
        for i in range(6):
            step(2 + i)
            prof.step()
        torch.cuda.synchronize()
    export_trace(prof, path)  # gzipped, as bambaprof writes a run's trace


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    w = torch.randn(WIDTH, WIDTH, device="cuda")
    x = torch.randn(2048, WIDTH, device="cuda")

    def steady(i: int) -> None:
        _work(x, w)

    def empty_cache(i: int) -> None:
        _work(x, w)
        torch.cuda.empty_cache()

    def growing(i: int) -> None:
        _work(torch.randn(2048 + 512 * i, WIDTH, device="cuda"), w)

    def pinned(i: int) -> None:
        host = torch.randn(64 << i, WIDTH).pin_memory()  # 1 MB at the first measured step, doubling
        _work(host.to("cuda", non_blocking=True), w)

    for name, step in (("steady", steady), ("empty-cache", empty_cache), ("growing", growing), ("pinned", pinned)):
        torch.cuda.empty_cache()
        _record(out / f"{name}.json.gz", step)
        print(name, (out / f"{name}.json.gz").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
