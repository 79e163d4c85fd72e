"""Real traces of one workload recorded by the PyTorch profiler with each subset of its activities, for what
bambaprof can and cannot know from each (tests/data/activities/).

Five steps of: a matmul, elementwise kernels, a device-to-host copy (``.cpu()``, which synchronises), a memset,
each step inside a ``record_function`` range ``step`` and the matmul inside ``mm``. Recorded three times, with
``ProfilerActivity.CPU`` and ``CUDA`` (the default), ``CUDA`` alone and ``CPU`` alone:

    python benchmarks/activity_subsets.py OUT_DIR    # writes cpu-cuda.json.gz, cuda.json.gz, cpu.json.gz
"""

import gzip
import shutil
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    x = torch.randn(512, 512, device="cuda")
    w = torch.randn(512, 512, device="cuda")

    def step() -> None:
        with record_function("step"):
            with record_function("mm"):
                y = x @ w
            y = torch.relu(y) + 1
            torch.zeros(4096, device="cuda")
            y[:8].cpu()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    subsets = {"cpu-cuda": [ProfilerActivity.CPU, ProfilerActivity.CUDA], "cuda": [ProfilerActivity.CUDA],
               "cpu": [ProfilerActivity.CPU]}
    for name, activities in subsets.items():
        with profile(activities=activities) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        plain = out / f"{name}.json"
        prof.export_chrome_trace(str(plain))
        with open(plain, "rb") as src, gzip.open(out / f"{name}.json.gz", "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
        plain.unlink()
        print(name, (out / f"{name}.json.gz").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
