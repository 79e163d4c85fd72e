"""Real traces of a loop that copies each batch from pinned host memory to the GPU before computing on it, for the
``exposed-transfers`` finding (tests/data/transfers/): batches of 8192 x 4096 bf16 (64 MiB) through four bf16
layers of 4096 x 4096, five profiled steps after two of warm-up.

- ``same-stream``: ``batch.to("cuda", non_blocking=True)`` on the stream that computes: the copy engine and the
  SMs take turns, the SMs idle while each batch crosses the bus.
- ``side-stream``: the next batch is copied on a second stream while the current one is computed (an event orders
  each batch's use after its copy, ``record_stream`` keeps its memory alive): the copies run under the kernels.

    python benchmarks/transfer_traces.py OUTDIR          # the two traces
    python benchmarks/transfer_traces.py OUTDIR run      # the same-stream loop as a run directory (bambaprof.record),
                                                         # whose manifest holds the device's PCIe link
"""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from bambaprof.collect.measure import export_trace

ROWS, WIDTH, LAYERS, STEPS = 8192, 4096, 4, 5


def record(out: Path, side_stream: bool) -> None:
    torch.manual_seed(0)
    weights = [torch.randn(WIDTH, WIDTH, device="cuda", dtype=torch.bfloat16) / WIDTH ** 0.5 for _ in range(LAYERS)]
    host = [torch.randn(ROWS, WIDTH, dtype=torch.bfloat16).pin_memory() for _ in range(2)]
    copier = torch.cuda.Stream()

    def compute(x: torch.Tensor) -> torch.Tensor:
        for w in weights:
            x = torch.nn.functional.gelu(x @ w)
        return x.sum()

    def fetch(i: int):
        if not side_stream:
            return host[i % 2].to("cuda", non_blocking=True), None
        with torch.cuda.stream(copier):
            batch = host[i % 2].to("cuda", non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(copier)
        return batch, ready

    def loop(steps: int, prof=None) -> None:
        nxt = fetch(0)
        for i in range(steps):
            batch, ready = nxt
            if ready is not None:
                torch.cuda.current_stream().wait_event(ready)
                batch.record_stream(torch.cuda.current_stream())
            nxt = fetch(i + 1)  # issued before the compute: on a side stream it runs under it
            compute(batch)
            if prof is not None:
                prof.step()

    loop(2)
    torch.cuda.synchronize()
    plan = schedule(wait=0, warmup=0, active=STEPS, repeat=1)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True, schedule=plan,
                 on_trace_ready=lambda p: export_trace(p, out)) as prof:
        loop(STEPS, prof)
        torch.cuda.synchronize()
    print(out, out.stat().st_size, "bytes")


def record_run(folder: Path) -> None:
    """The same-stream loop under bambaprof.record: 2 warm-up steps, 3 profiled, 3 measured."""
    import bambaprof

    torch.manual_seed(0)
    weights = [torch.randn(WIDTH, WIDTH, device="cuda", dtype=torch.bfloat16) / WIDTH ** 0.5 for _ in range(LAYERS)]
    host = [torch.randn(ROWS, WIDTH, dtype=torch.bfloat16).pin_memory() for _ in range(2)]
    with bambaprof.record("same-stream-copies", out=folder, warmup=2, profile_steps=3) as run:
        for i in range(8):
            x = host[i % 2].to("cuda", non_blocking=True)
            for w in weights:
                x = torch.nn.functional.gelu(x @ w)
            x.sum()
            run.step()
    print(run.path)


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    if sys.argv[2:] == ["run"]:
        record_run(folder)
        return
    record(folder / "same-stream.json.gz", side_stream=False)
    record(folder / "side-stream.json.gz", side_stream=True)


if __name__ == "__main__":
    main()
