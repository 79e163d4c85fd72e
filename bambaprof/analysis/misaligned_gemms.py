"""Matrix products that ran cuBLAS's under-aligned tensor-op kernels, and the shapes that sent them there (us).

A GEMM kernel whose name gives a load width under 16 bytes (:func:`~.gemm_units.gemm_alignment_bytes`:
``cutlass_75_tensorop_bf16_s1688gemm_bf16_256x128_nn_align1`` loads 2 bytes) is cuBLAS's fallback for a matrix whose
leading dimension is not a multiple of 16 bytes: 8 bf16 or fp16 elements, 4 float32, 16 int8 or fp8. On an H100
(torch 2.11, CUDA 13; ``benchmarks/gemm_alignment.py``) a bf16 4096 x 4096 x 50257 product ran it at 135 TFLOP/s
against 745 at N = 50264.

Each launch is joined to the op that made it (``aten::mm``, ``aten::addmm``, ``aten::bmm``, ``aten::linear``, ...);
with the op's recorded shapes, its M, K and N (``M x K`` times ``K x N``; ``linear``'s weight is ``N x K``) and the
ones that are not multiples of 16 bytes (``odd``). Where the trace records the inputs' strides (``Input Strides``,
PyTorch 2.3 and later), ``odd`` names only the *leading dimensions* that are not: each input's stride between rows
(or columns, for a transposed one; a stride that is not its row's length is a strided view) and the output's N (ATen
writes the output contiguous), as ``N=50257 (B, output)`` or ``A: stride 4104``; an odd M of row-major inputs is
no leading dimension and is not named. Where every leading dimension is a multiple, ``odd`` is ``""`` and
``leading_known`` True: an input that starts at an address not 16-byte aligned (a slice at an odd offset) sends
cuBLAS to the fallback too. Without strides all of M, K and N that are not multiples are named. Rows group launches
by kernel, op, shapes and dtype, most GPU time first.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .gemm_units import FULL_ALIGNMENT_BYTES, gemm_alignment_bytes
from .trace import Trace, value_codes
from .traffic import DTYPE_BYTES

#: Products whose first input is the added bias: their matrices are the second and third.
_WITH_BIAS = frozenset({"aten::addmm", "aten::baddbmm", "aten::_addmm_activation", "aten::addbmm"})


def _operands(op: str, dims: Any) -> Optional[Tuple[int, int]]:
    """The input positions of ``A`` and ``B``: the second and third for products with a bias first, else the
    first two inputs of two or more dimensions; None where the shapes do not give them."""
    if not isinstance(dims, list):
        return None

    def matrix(d: Any) -> bool:
        return isinstance(d, list) and len(d) >= 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in d)

    if op in _WITH_BIAS:
        return (1, 2) if len(dims) > 2 and matrix(dims[1]) and matrix(dims[2]) else None
    mats = [i for i, d in enumerate(dims) if matrix(d)]
    return (mats[0], mats[1]) if len(mats) >= 2 else None


def gemm_dims(op: str, dims: Any) -> Optional[Tuple[int, int, int]]:
    """(M, K, N) of a matrix-product op from its recorded input shapes (``A`` and ``B``: see :func:`_operands`);
    ``aten::linear``'s B is its weight, ``N x K``; batched products take the last two dimensions. None where the
    shapes do not give them."""
    at = _operands(op, dims)
    if at is None:
        return None
    a, b = dims[at[0]], dims[at[1]]
    if op == "aten::linear":
        return math.prod(a[:-1]), a[-1], b[0]
    return a[-2], a[-1], b[-1]


def leading_dims(op: str, dims: Any, strides: Any) -> Optional[List[Tuple[str, str, int, bool]]]:
    """Each matrix's leading dimension from the recorded strides: ``(matrix, dim, elements, view)`` for ``A``, ``B``
    and the ``output``; ``dim`` is the logical dimension it spans (``K`` for a row-major ``A``, ``M`` for a transposed
    one; ``N`` for the output, written contiguous), ``view`` True where the stride is not that dimension's length (a
    strided view). None where the strides or shapes are not recorded, or an input has no unit stride (ATen copies
    it first)."""
    at = _operands(op, dims)
    mkn = gemm_dims(op, dims)
    if at is None or mkn is None or not isinstance(strides, list) or len(strides) <= max(at):
        return None
    m, k, n = mkn
    # the logical (rows, columns) of each input as the product reads it: A is M x K, B is K x N (linear's weight N x K)
    names = {0: ("M", "K"), 1: ("N", "K") if op == "aten::linear" else ("K", "N")}
    out: List[Tuple[str, str, int, bool]] = []
    for which, i in enumerate(at):
        d, s = dims[i], strides[i]
        if not isinstance(s, list) or len(s) != len(d) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                                  for x in s):
            return None
        rows, cols = d[-2], d[-1]
        if s[-1] == 1 or cols == 1:  # row-major: the stride between rows spans the columns
            out.append(("AB"[which], names[which][1], s[-2], s[-2] != cols))
        elif s[-2] == 1 or rows == 1:  # transposed: the stride between columns spans the rows
            out.append(("AB"[which], names[which][0], s[-1], s[-1] != rows))
        else:
            return None
    out.append(("output", "N", n, False))
    return out


def misaligned_gemm_table(trace: Trace) -> List[Dict[str, Any]]:
    """The launches of under-aligned tensor-op GEMM kernels grouped by (kernel, op, shapes, dtype, strides):
    ``align_bytes`` (each load's width), ``op`` (None where the trace does not link the launch), ``shapes`` and
    ``dtype`` (None without recorded shapes), ``odd`` (see :func:`_odd`; None without shapes), ``leading_known``
    (the strides told the leading dimensions), ``count`` and ``gpu_us``; most GPU time first. Empty where no such
    kernel ran."""
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
        lead = leading_dims(op, dims, ops.input_strides[o]) if op and o >= 0 else None
        dtype = next((t for t in types if t in DTYPE_BYTES), None) if isinstance(types, list) else None
        shapes = " x ".join(str(d) for d in dims[:3] if isinstance(d, list) and d) if mkn else None
        key = (str(names[codes[i]]), op, shapes, dtype, str(lead))
        g = groups.setdefault(key, {"kernel": key[0], "align_bytes": width[codes[i]], "op": op, "shapes": shapes,
                                    "dtype": dtype, "odd": _odd(mkn, dtype, lead), "leading_known": lead is not None,
                                    "count": 0, "gpu_us": 0.0})
        g["count"] += 1
        g["gpu_us"] += float(gpu.dur[i])
    return sorted(groups.values(), key=lambda g: (-g["gpu_us"], g["kernel"], g["op"] or "", g["shapes"] or ""))


def aligned_elements(dtype: str) -> int:
    """The elements of ``dtype`` (a Kineto type name of :data:`~.traffic.DTYPE_BYTES`) in 16 bytes: the multiple a
    leading dimension needs for full-width loads (8 for bf16 and fp16, 4 for float32, 16 for int8 and fp8)."""
    return max(1, FULL_ALIGNMENT_BYTES // DTYPE_BYTES[dtype])


def _odd(mkn: Optional[Tuple[int, int, int]], dtype: Optional[str],
         lead: Optional[List[Tuple[str, str, int, bool]]] = None) -> Optional[str]:
    """The leading dimensions (``lead``, where the strides give them) or else the dimensions of (M, K, N) that are not
    a multiple of 16 bytes of ``dtype``: ``"N=50257 (B, output)"``, ``"A: stride 4104"`` for a strided view, or
    ``"K=4097, N=50257"`` without strides; None where the shapes or dtype are unknown, ``""`` where all are
    multiples."""
    if mkn is None or dtype is None:
        return None
    step = aligned_elements(dtype)
    if lead is None:
        return ", ".join(f"{name}={v}" for name, v in zip("MKN", mkn) if v % step)
    by_dim: Dict[Tuple[str, int], List[str]] = {}
    views = []
    for matrix, dim, elements, view in lead:
        if elements % step:
            if view:
                views.append(f"{matrix}: stride {elements}")
            else:
                by_dim.setdefault((dim, elements), []).append(matrix)
    return ", ".join([f"{dim}={v} ({', '.join(m)})" for (dim, v), m in by_dim.items()] + views)


def misaligned_summary(rows: List[Dict[str, Any]], known: bool) -> Dict[str, Optional[float]]:
    """``misaligned_gemm_count`` and ``misaligned_gemm_us`` over :func:`misaligned_gemm_table`'s rows; None where
    the trace holds no GPU activity (``known`` False)."""
    if not known:
        return {"misaligned_gemm_count": None, "misaligned_gemm_us": None}
    return {"misaligned_gemm_count": sum(r["count"] for r in rows), "misaligned_gemm_us": sum(r["gpu_us"] for r in rows)}
