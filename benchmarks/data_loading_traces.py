"""Real traces of a small training loop fed by a DataLoader whose samples cost CPU work, for the ``data-loading``
finding (tests/data/data-loading/): the same loop with ``num_workers=0`` (batches made on the training thread) and
with two workers, each recorded with torch.profiler's schedule (one wait, one warm-up, three active steps) with
the CPU and CUDA activities.

    python benchmarks/data_loading_traces.py OUT_DIR    # writes workers0.json.gz, workers2.json.gz
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, schedule
from torch.utils.data import DataLoader, Dataset

from bambaprof.collect.measure import export_trace


class Noisy(Dataset):
    """Samples that take CPU work to make: a 2-D FFT of a 128 x 128 array, its magnitude as 1,024 features."""

    def __len__(self) -> int:
        return 4096

    def __getitem__(self, i: int):
        rng = np.random.default_rng(i)
        spectrum = np.abs(np.fft.fft2(rng.standard_normal((128, 128))))[:32, :32]
        return torch.from_numpy(spectrum.astype(np.float32).ravel()), i % 10


def record(path: Path, workers: int) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(1024, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(Noisy(), batch_size=64, num_workers=workers, pin_memory=True,
                        persistent_workers=workers > 0)
    batches = iter(loader)
    acts = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with profile(activities=acts, record_shapes=True, schedule=schedule(wait=1, warmup=1, active=3)) as prof:
        for _ in range(5):
            x, y = next(batches)
            x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            prof.step()
        torch.cuda.synchronize()
    export_trace(prof, path)  # gzipped, as bambaprof writes a run's trace
    print(path.name, path.stat().st_size, "bytes")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for workers in (0, 2):
        record(out / f"workers{workers}.json.gz", workers)


if __name__ == "__main__":
    main()
