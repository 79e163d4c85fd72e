"""GPU check: inductor's counts read from its generated modules name the kernels a CUDA-graph replay runs.

Compiles a small gated-norm-like function under reduce-overhead (CUDA graphs), reads
:func:`bambaprof.collect.inductor_kernels.loaded_kernel_counts`, profiles one replay and prints, per replayed
kernel, the bytes ``analyze`` finds (the run directory's layout is mimicked with ``record``).

    python benchmarks/check_inductor_counts.py OUT_DIR
"""

from __future__ import annotations

import json
import sys

import torch
import torch._inductor.config as inductor_config

import bambaprof
from bambaprof.collect.inductor_kernels import loaded_kernel_counts


def f(x, z, w):
    h = x.float() * torch.nn.functional.silu(z.float())
    return (w * h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype)


def main(out: str) -> int:
    inductor_config.benchmark_kernel = True
    g = torch.compile(f, mode="reduce-overhead")
    x, z = (torch.randn(2048, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    w = torch.randn(8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        g(x, z, w)
    counts = loaded_kernel_counts()
    with bambaprof.record("inductor-counts", out=out, warmup=0, profile_steps=1, telemetry=False) as run:
        for _ in range(2):
            g(x, z, w)
            run.step()
    (run.path / "inductor-kernels.json").write_text(json.dumps(counts))
    bambaprof.run.update_manifest(run.path, lambda m: setattr(m.files, "inductor_kernels", "inductor-kernels.json"))
    a = bambaprof.analyze(run.path)
    print("counts:", counts)
    for k in a.kernels:
        print(f"{k['name'][:60]:60s} {k['bytes_source']} {k['bytes']} {k['achieved_gbps']}")
    print("known bytes %", a.summary["kernel_time_with_known_bytes_pct"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
