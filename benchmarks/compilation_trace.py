"""A real trace whose profiled steps hold torch.compile's compilation, for the ``compilation-in-trace`` finding
(tests/data/): four steps of a compiled function, every one profiled (no warm-up before them), the batch
growing at the third step (a recompilation: the shape is new), the CPU activity (and CUDA's on a GPU).

    python benchmarks/compilation_trace.py OUT.json.gz [cpu|cuda]
"""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from bambaprof.collect.measure import export_trace


def main() -> None:
    out = Path(sys.argv[1])
    device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
    torch._dynamo.reset()
    w = torch.randn(256, 256, device=device)

    @torch.compile(dynamic=False)
    def step(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x @ w).sum(dim=-1)

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    plan = schedule(wait=0, warmup=0, active=4, repeat=1)  # every step profiled, ProfilerStep ranges marking them
    with profile(activities=acts, record_shapes=True, schedule=plan, on_trace_ready=lambda p: export_trace(p, out)) \
            as prof:
        for i in range(4):
            step(torch.randn(64 if i < 2 else 128, 256, device=device))
            if device == "cuda":
                torch.cuda.synchronize()
            prof.step()
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
