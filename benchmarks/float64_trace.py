"""A real trace of a step whose tensors came from NumPy as float64, for the ``float64-kernels`` finding
(tests/data/): a normalisation and a reduction over a [4096, 1024] batch built by ``torch.from_numpy`` (float64,
as NumPy made it), beside the same step in float32; three steps of each, shapes recorded.

    python benchmarks/float64_trace.py OUT.json.gz
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from bambaprof.collect.measure import export_trace


def step(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y = (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-5)
    return (y * w).sum(dim=1)


def main() -> None:
    out = Path(sys.argv[1])
    data = np.random.default_rng(0).standard_normal((4096, 1024))  # float64, NumPy's default
    x64 = torch.from_numpy(data).to("cuda")
    w64 = torch.from_numpy(np.ones(1024)).to("cuda")
    x32, w32 = x64.float(), w64.float()
    for _ in range(2):
        step(x64, w64), step(x32, w32)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        for _ in range(3):
            with record_function("float64"):
                step(x64, w64)
            with record_function("float32"):
                step(x32, w32)
        torch.cuda.synchronize()
    export_trace(prof, out)  # gzipped, as bambaprof writes a run's trace
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
