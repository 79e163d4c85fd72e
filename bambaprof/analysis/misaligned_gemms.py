"""Matrix products that ran cuBLAS's under-aligned tensor-op kernels, and the shapes that sent them there (us).

A GEMM kernel whose name gives a load width under 16 bytes (:func:`~.gemm_units.gemm_alignment_bytes`:
``cutlass_75_tensorop_bf16_s1688gemm_bf16_256x128_nn_align1`` loads 2 bytes) is cuBLAS's fallback for a matrix whose
leading dimension is not a multiple of 16 bytes: 8 bf16 or fp16 elements, 4 float32, 16 int8 or fp8. On an H100
(torch 2.11, CUDA 13; ``benchmarks/gemm_alignment.py``) a bf16 4096 x 4096 x 50257 product ran it at 135 TFLOP/s
against 745 at N = 50264.

Each launch is joined to the op that made it (``aten::mm``, ``aten::addmm``, ``aten::bmm``, ``aten::linear``, ...);
with the op's recorded shapes, its M, K and N (``M x K`` times ``K x N``; ``linear``'s weight is ``N x K``) and the
ones that are not multiples of 16 bytes (``odd``: the leading dimensions among them sent cuBLAS to the fallback;
without strides the trace does not say which are leading, so all are named). Rows group launches by kernel, op,
shapes and dtype, most GPU time first.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .gemm_units import FULL_ALIGNMENT_BYTES, gemm_alignment_bytes
from .trace import Trace, value_codes
from .traffic import DTYPE_BYTES


def gemm_dims(op: str, dims: Any) -> Optional[Tuple[int, int, int]]:
    """(M, K, N) of a matrix-product op from its recorded input shapes: the first two inputs of two or more
    dimensions are ``A`` and ``B``; ``aten::linear``'s B is its weight, ``N x K``; batched products take the last
    two dimensions. None where the shapes do not give them."""
    if not isinstance(dims, list):
        return None
    mats = [d for d in dims if isinstance(d, list) and len(d) >= 2 and all(isinstance(x, int) for x in d)]
    if len(mats) < 2:
        return None
    a, b = mats[0], mats[1]
    if op == "aten::linear":
        return math.prod(a[:-1]), a[-1], b[0]
    return a[-2], a[-1], b[-1]


def misaligned_gemm_table(trace: Trace) -> List[Dict[str, Any]]:
    """The launches of under-aligned tensor-op GEMM kernels grouped by (kernel, op, shapes, dtype): ``align_bytes``
    (each load's width), ``op`` (None where the trace does not link the launch), ``shapes`` and ``dtype`` (None
    without recorded shapes), ``odd`` (M, K or N not a multiple of 16 bytes, ``"N=50257"``; None without shapes),
    ``count`` and ``gpu_us``; most GPU time first. Empty where no such kernel ran."""
    gpu = trace.gpu
    codes, names = value_codes(trace, "gpu.name")
    width = [gemm_alignment_bytes(str(n)) for n in names]
    under = np.array([w is not None and w < FULL_ALIGNMENT_BYTES for w in width], dtype=bool)
    rows = np.flatnonzero((gpu.kind == "kernel") & under[codes]) if len(names) else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return []
    op_rows = trace.gpu_op_row[rows] if len(trace.ops) else np.full(len(rows), -1)
    ops = trace.ops
    groups: Dict[tuple, Dict[str, Any]] = {}
    for j, i in enumerate(rows.tolist()):
        o = int(op_rows[j])
        op = ops.name[o] if o >= 0 else None
        dims = ops.input_dims[o] if o >= 0 else None
        types = ops.input_types[o] if o >= 0 else None
        mkn = gemm_dims(op, dims) if op else None
        dtype = next((t for t in types if t in DTYPE_BYTES), None) if isinstance(types, list) else None
        shapes = " x ".join(str(d) for d in dims[:3] if isinstance(d, list) and d) if mkn else None
        key = (str(names[codes[i]]), op, shapes, dtype)
        g = groups.setdefault(key, {"kernel": key[0], "align_bytes": width[codes[i]], "op": op, "shapes": shapes,
                                    "dtype": dtype, "odd": _odd(mkn, dtype), "count": 0, "gpu_us": 0.0})
        g["count"] += 1
        g["gpu_us"] += float(gpu.dur[i])
    return sorted(groups.values(), key=lambda g: (-g["gpu_us"], g["kernel"], g["op"] or "", g["shapes"] or ""))


def aligned_elements(dtype: str) -> int:
    """The elements of ``dtype`` (a Kineto type name of :data:`~.traffic.DTYPE_BYTES`) in 16 bytes: the multiple a
    leading dimension needs for full-width loads (8 for bf16 and fp16, 4 for float32, 16 for int8 and fp8)."""
    return max(1, FULL_ALIGNMENT_BYTES // DTYPE_BYTES[dtype])


def _odd(mkn: Optional[Tuple[int, int, int]], dtype: Optional[str]) -> Optional[str]:
    """The dimensions of (M, K, N) that are not a multiple of 16 bytes of ``dtype`` (``"K=4097, N=50257"``); None
    where either is unknown, and ``""`` where all are multiples."""
    if mkn is None or dtype is None:
        return None
    step = aligned_elements(dtype)
    return ", ".join(f"{name}={v}" for name, v in zip("MKN", mkn) if v % step)


def misaligned_summary(rows: List[Dict[str, Any]], known: bool) -> Dict[str, Optional[float]]:
    """``misaligned_gemm_count`` and ``misaligned_gemm_us`` over :func:`misaligned_gemm_table`'s rows; None where
    the trace holds no GPU activity (``known`` False)."""
    if not known:
        return {"misaligned_gemm_count": None, "misaligned_gemm_us": None}
    return {"misaligned_gemm_count": sum(r["count"] for r in rows), "misaligned_gemm_us": sum(r["gpu_us"] for r in rows)}
