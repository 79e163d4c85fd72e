"""Workloads for validating ``bambaprof analyze`` against Nsight Compute (run on a GPU).

Four kernels whose bandwidth and occupancy the analyzer derives from a trace:

- ``triton-cumsum``: bambaprof's own Triton kernel (bytes from its launch metadata),
  the segment-sum cumulative sum of one Bamba-9B mixer at 2048 tokens: (1, 128, 8, 256, 256) fp32 along dim -2;
- ``inductor-rmsnorm``: a torch.compile'd gated RMSNorm (inductor kernel, bytes from
  ``kernel_num_gb`` with TORCHINDUCTOR_BENCHMARK_KERNEL=1), (4, 2048, 8192) bf16;
- ``cublas-gemm``: the mixer's in_proj, (2048 x 4096) @ (4096 x 16768) bf16 (bytes from the shape model);
- ``aten-mul``: an elementwise product of two 64 Mi-element fp32 vectors (shape model).

    python benchmarks/ncu_workloads.py trace OUT.json.gz   # profile each workload once
    ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics ... \\
        python benchmarks/ncu_workloads.py ncu              # the same kernels under ncu
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys

os.environ.setdefault("TORCHINDUCTOR_BENCHMARK_KERNEL", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def gated_rmsnorm(x: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = x.float() * F.silu(z.float())
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5)
    return (w * h).to(x.dtype)


def workloads():
    from bambaprof.ssm.kernels.cumsum import cumsum

    g = torch.Generator(device="cuda").manual_seed(0)
    seg = torch.randn(1, 128, 8, 256, 256, device="cuda", generator=g)
    x = torch.randn(4, 2048, 8192, device="cuda", dtype=torch.bfloat16, generator=g)
    z = torch.randn(4, 2048, 8192, device="cuda", dtype=torch.bfloat16, generator=g)
    w = torch.randn(8192, device="cuda", dtype=torch.bfloat16, generator=g)
    a = torch.randn(2048, 4096, device="cuda", dtype=torch.bfloat16, generator=g)
    b = torch.randn(4096, 16768, device="cuda", dtype=torch.bfloat16, generator=g)
    u = torch.randn(64 * 2**20, device="cuda", generator=g)
    v = torch.randn(64 * 2**20, device="cuda", generator=g)
    norm = torch.compile(gated_rmsnorm)
    return [
        ("triton-cumsum", lambda: cumsum(seg, -2)),
        ("inductor-rmsnorm", lambda: norm(x, z, w)),
        ("cublas-gemm", lambda: torch.mm(a, b)),
        ("aten-mul", lambda: torch.mul(u, v)),
    ]


def run_workloads(work, mode: str, out: str = "") -> int:
    """Warm ``work`` (``[(name, fn)]``) up, then run it once: under an NVTX range ``measure`` for ncu
    (``mode == "ncu"``), or under the PyTorch profiler with shapes into the trace ``out`` (gzipped for .gz)."""
    with torch.no_grad():
        for _ in range(3):  # compile, autotune and warm up outside the measured region
            for _, fn in work:
                fn()
        torch.cuda.synchronize()
        if mode == "ncu":
            torch.cuda.nvtx.range_push("measure")
            for _, fn in work:
                fn()
            torch.cuda.synchronize()
            torch.cuda.nvtx.range_pop()
            return 0
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            for _, fn in work:
                fn()
            torch.cuda.synchronize()
        raw = out[:-3] if out.endswith(".gz") else out
        prof.export_chrome_trace(raw)
        if out.endswith(".gz"):
            with open(raw, "rb") as src, gzip.open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(raw)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv) -> int:
    return run_workloads(workloads(), argv[1], argv[2] if len(argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
