"""Real traces of a GPU-bound training loop that reads its loss on the host every step, for the ``sync-stall``
finding (tests/data/syncs/): a bf16 MLP (4 layers of 4096 x 4096, batch 4096) with an Adam step, then the host's
bookkeeping (about 1 ms of Python: a metrics window), five profiled steps after two of warm-up.

- ``item-each-step``: ``loss.item()`` before the bookkeeping. The host launches the step in well under its GPU
  time, so the call blocks while GPU work still runs, and the GPU then sits empty through the bookkeeping and the
  next step's first launches: idle time the synchronisation caused.
- ``item-deferred``: the losses stay on the GPU (stacked) and are read once after the loop; the bookkeeping
  overlaps the next step's kernels.

    python benchmarks/sync_traces.py OUTDIR
"""

import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from bambaprof.collect.measure import export_trace


def bookkeeping(window: list, value: float) -> None:
    """About 1 ms of host work a step, as a logger's running statistics would take."""
    window.append(value)
    stop = time.perf_counter() + 1e-3
    while time.perf_counter() < stop:
        sum(window[-100:]) / max(1, len(window[-100:]))


def record(out: Path, deferred: bool) -> None:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4096, 4096, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
    model = torch.nn.Sequential(*[m for layer in layers for m in (layer, torch.nn.GELU())])
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=True)
    x = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    target = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    window: list = []
    losses: list = []

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if deferred:
            losses.append(loss.detach())
            bookkeeping(window, 0.0)
        else:
            bookkeeping(window, loss.item())

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    plan = schedule(wait=0, warmup=0, active=5, repeat=1)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True, schedule=plan,
                 on_trace_ready=lambda p: export_trace(p, out)) as prof:
        for _ in range(5):
            step()
            prof.step()
        if deferred:
            torch.stack(losses).float().mean().item()
    print(out, out.stat().st_size, "bytes")


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    record(folder / "item-each-step.json.gz", deferred=False)
    record(folder / "item-deferred.json.gz", deferred=True)


if __name__ == "__main__":
    main()
