"""Record real traces of a small model's forward run with gradients enabled, under no_grad and under
inference_mode, and time each.

    python benchmarks/grad_mode_traces.py OUT

Writes ``OUT/<mode>.json.gz`` (``grad``, ``no-grad``, ``inference-mode``): 16 blocks of Linear(64, 64), LayerNorm
and GELU (48 ops a forward), batch 1, three forwards in three profiled steps, with shapes; prints each mode's median
forward time over 200 more, timed outside the profiler. These traces are fixtures of
``tests/analysis/test_autograd.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from bambaprof.collect.measure import export_trace

MODES = {"grad": torch.enable_grad, "no-grad": torch.no_grad, "inference-mode": torch.inference_mode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.LayerNorm(64),
                                                      torch.nn.GELU()) for _ in range(16)]).eval()
    x = torch.randn(1, 64)
    for name, mode in MODES.items():
        with mode():
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
                         schedule=schedule(wait=0, warmup=1, active=3, repeat=1)) as prof:
                for _ in range(4):
                    model(x)
                    prof.step()
            times = []
            for _ in range(200):
                start = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - start)
        path = args.out / f"{name}.json.gz"
        export_trace(prof, path)
        print(f"{name}: median forward {statistics.median(times) * 1e6:.0f} us (torch {torch.__version__}); "
              f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
