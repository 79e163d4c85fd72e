"""The Bamba-9B mixer's GEMMs, depthwise conv and elementwise/reduction kernels, for checking the byte and
FLOP models of ``bambaprof analyze`` against Nsight Compute (run on a GPU).

Shapes: one Bamba-9B mixer (d_model 4096, d_inner 8192, conv channels 8448, kernel 4) at 1 x 2048 tokens,
bf16, as the mixer runs them: in_proj and out_proj (aten::mm through F.linear), the depthwise conv1d, a
bf16 -> fp32 copy, SiLU, a broadcasting multiply, a sum over the last dimension.

    python benchmarks/ncu_models.py trace OUT.json.gz   # profile each kernel once (record_shapes)
    ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics ... \\
        python benchmarks/ncu_models.py ncu              # the same kernels under ncu
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

L, D_MODEL, D_INNER, CONV_DIM, IN_PROJ, K = 2048, 4096, 8192, 8448, 16768, 4


def workloads():
    g = torch.Generator(device="cuda").manual_seed(0)
    bf16 = dict(device="cuda", dtype=torch.bfloat16)
    hidden = torch.randn(1, L, D_MODEL, generator=g, **bf16)
    w_in = torch.randn(IN_PROJ, D_MODEL, generator=g, **bf16) * 0.02
    y = torch.randn(1, L, D_INNER, generator=g, **bf16)
    w_out = torch.randn(D_MODEL, D_INNER, generator=g, **bf16) * 0.02
    xbc = torch.randn(1, CONV_DIM, L, generator=g, **bf16)
    w_conv = torch.randn(CONV_DIM, 1, K, generator=g, **bf16)
    b_conv = torch.randn(CONV_DIM, generator=g, **bf16)
    z32 = torch.randn(1, L, D_INNER, generator=g, device="cuda")
    scale = torch.randn(D_INNER, generator=g, device="cuda")
    return [
        ("in_proj", lambda: F.linear(hidden, w_in)),
        ("out_proj", lambda: F.linear(y, w_out)),
        ("conv", lambda: F.conv1d(xbc, w_conv, b_conv, padding=K - 1, groups=CONV_DIM)),
        ("to_fp32", lambda: y.float()),
        ("silu", lambda: F.silu(z32)),
        ("mul_broadcast", lambda: z32 * scale),
        ("sum", lambda: z32.sum(-1)),
    ]


def main(argv) -> int:
    from ncu_workloads import run_workloads  # the sibling script: same warm-up, NVTX range and trace export

    return run_workloads(workloads(), argv[1], argv[2] if len(argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
