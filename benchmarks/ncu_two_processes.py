"""Two processes on one GPU, for checking how ``analyze --ncu`` reads a capture of several processes (run on a GPU).

``ncu --target-processes all`` over a job of two ranks writes both ranks' kernels in one table. Here the parent
starts two children, one after the other, each running its own small workload (rank 0: a matmul, SiLU and a
contraction computed elementwise; rank 1: a larger matmul, softplus and an exponential), once in an NVTX range
``measure`` under ncu, or once under the PyTorch profiler into its own trace.

    python benchmarks/ncu_two_processes.py trace OUT_PREFIX   # OUT_PREFIX-rank0.json.gz, OUT_PREFIX-rank1.json.gz
    ncu --target-processes all --nvtx --nvtx-include "measure/" ... python benchmarks/ncu_two_processes.py ncu
"""

from __future__ import annotations

import subprocess
import sys

import torch
import torch.nn.functional as F


def workloads(rank: int):
    g = torch.Generator(device="cuda").manual_seed(rank)
    f32 = dict(device="cuda", dtype=torch.float32)
    if rank == 0:
        a, w = torch.randn(512, 1024, generator=g, **f32), torch.randn(1024, 1024, generator=g, **f32)
        c, b = torch.randn(4, 64, 1, 32, generator=g, **f32), torch.randn(4, 1, 64, 32, generator=g, **f32)
        return [("mm", lambda: a @ w), ("silu", lambda: F.silu(a)), ("cbt", lambda: (c * b).sum(-1))]
    a, w = torch.randn(1024, 2048, generator=g, **f32), torch.randn(2048, 512, generator=g, **f32)
    return [("mm", lambda: a @ w), ("softplus", lambda: F.softplus(a)), ("exp", lambda: torch.exp(a))]


def main(argv) -> int:
    mode = argv[1]
    if len(argv) > 3:  # a child: mode, prefix, rank
        from ncu_workloads import run_workloads  # the sibling script: warm-up, NVTX range and trace export

        rank = int(argv[3])
        return run_workloads(workloads(rank), mode, f"{argv[2]}-rank{rank}.json.gz")
    prefix = argv[2] if len(argv) > 2 else "/tmp/two"
    for rank in (0, 1):
        rc = subprocess.run([sys.executable, __file__, mode, prefix, str(rank)]).returncode
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
