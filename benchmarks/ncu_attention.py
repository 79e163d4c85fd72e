"""Fused attention kernels, for checking the attention table's byte and FLOP model of ``bambaprof analyze`` against
Nsight Compute (run on a GPU).

``scaled_dot_product_attention`` forwards, bf16, q = k = v of [4, 16, 4096, 128], each backend pinned
(``sdpa_kernel``): FlashAttention, the memory-efficient kernel and cuDNN, causal and not. The model counts q, k, v
and the output moved once and the products' FLOPs over the pairs attended (the causal half); ncu measures DRAM
bytes read and written and the tensor cores' bf16 operations.

    python benchmarks/ncu_attention.py trace OUT.json.gz   # profile each call once (record_shapes)
    ncu --clock-control none --nvtx --nvtx-include "measure/" --csv --metrics ... \\
        python benchmarks/ncu_attention.py ncu              # the same kernels under ncu
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPE = (4, 16, 4096, 128)
BACKENDS = (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
            ("cudnn", SDPBackend.CUDNN_ATTENTION))


def workloads():
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(*SHAPE, generator=g, device="cuda", dtype=torch.bfloat16) for _ in range(3))

    def call(backend, causal):
        def run():
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return run

    return [(f"{name}{'-causal' if causal else ''}", call(backend, causal))
            for name, backend in BACKENDS for causal in (False, True)]


def main(argv) -> int:
    from ncu_workloads import run_workloads  # the sibling script: same warm-up, NVTX range and trace export

    return run_workloads(workloads(), argv[1], argv[2] if len(argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
