"""Contractions computed elementwise: a broadcasting multiply whose whole product a reduction then sums.

``(a[..., :, None, :] * b[..., None, :, :]).sum(-1)`` computes what ``torch.einsum`` (a batched matmul) does, but
stores the broadcast product first: memory traffic and footprint of the product's size instead of its inputs',
and no tensor cores. The chunked SSD scan written in plain PyTorch (the Foundation Model Stack's, the study's
``default`` variant) computes its ``C B^T``, states and outputs this way: at Bamba-9B's shapes one product holds
2^31 float32 elements (8.6 GB) for one chunk pair of one layer.

Read from the shapes the profiler recorded (``record_shapes``), per thread and enclosing op:

- **the multiply**: ``aten::mul`` of two tensors whose broadcast product is at least :data:`EXPANSION_MIN` times
  the larger of them (each input repeated along a dimension of the other's);
- **the reduction**: a later ``aten::sum`` or ``aten::mean`` under the same enclosing op, within
  :data:`LOOKAHEAD` ops, whose first input has the product's shape. Its dimensions are read from the call's
  recorded arguments (``Concrete Inputs``); a reduction without them sums every element;
- **between them**, a further multiply of the product by another broadcast factor (``(a * b * c).sum(-1)``)
  joins the chain; ops that do not read the product's shape may run in between.

Each chain's GPU time is the GPU time of its ops' kernels (the kernels of ops they call included). Its floor is
that of the contraction done at once: its operands read and its result written once at the peak bandwidth, or
2 FLOPs per product element (one more per further factor) at the peak FLOP/s of its dtype, whichever is longer;
a lower bound, as the roofline's are. The table groups chains of the same shapes; ``einsum`` gives the equation
of one over the operands with their size-1 dimensions squeezed, where every op of the chain is a multiply.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .ops import op_gpu_time, op_parents
from .roofline import floor_time_us, op_dtype
from .trace import Trace, value_codes
from .traffic import DTYPE_BYTES, ELEMENTWISE_OPS, broadcast_shape, parse_dims_arg, promote_dtype, tensor_inputs

#: The product must hold at least this many times the elements of the larger input (a plain elementwise
#: multiply, ``x * scale``, holds 1x).
EXPANSION_MIN = 4.0
#: Ops under the same enclosing op searched after the multiply for the reduction (and further factors).
LOOKAHEAD = 6

MULTIPLY_OPS = frozenset({"aten::mul", "aten::multiply"})
REDUCE_OPS = frozenset({"aten::sum", "aten::mean"})
#: Ops whose shapes the trace reader decodes even where they launch no GPU work (a CPU-only trace): the multiplies,
#: the reductions, and the elementwise ops that may read a product between them.
SHAPED_OPS = MULTIPLY_OPS | REDUCE_OPS | frozenset(f"aten::{op}" for op in ELEMENTWISE_OPS)
#: ``reduced_dims`` of a reduction whose dims the trace does not hold (before PyTorch 2.1 recorded arguments).
UNKNOWN_DIMS = "unknown"
#: A row's keys, in the order tables show them.
ROW_KEYS = ("count", "multiply", "operands", "dtype", "product", "product_bytes", "reduce", "reduced_dims", "cpu_us",
            "gpu_us", "floor_us", "excess_us", "einsum")
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def contraction_table(trace: Trace, peak_gbps: Optional[float],
                      tflops_for: Callable[[Optional[str]], Optional[float]]) -> Optional[List[Dict[str, Any]]]:
    """Contractions computed as a broadcast product and a reduction (see the module's docstring), grouped by
    shapes, most time first; None where the trace cannot tell (no CPU ops, or no shapes recorded). Each row:
    ``count``; ``multiply`` and ``reduce`` (op names); ``operands`` (shapes as text, ``x``-separated), ``dtype``,
    ``product`` (shape) and ``product_bytes`` (one product, bytes), ``reduced_dims`` (text, ``all`` where every
    element is summed, ``unknown`` where the trace lacks the call's arguments: no einsum then), ``einsum`` (or
    None); ``cpu_us`` (the chains' ops on the host, us); ``gpu_us`` (their kernels, us; None for a trace without
    GPU activity), ``floor_us`` (their contractions' floor, None where a peak is unknown) and ``excess_us``."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    codes, names = value_codes(trace, "ops.name")
    multiplies = np.flatnonzero(np.isin(codes, [c for c, n in enumerate(names) if n in MULTIPLY_OPS])).tolist()
    expanding = [i for i in multiplies if _product(_tensors(trace, i)) is not None]
    if not expanding:
        return []  # the common case: no multiply stores a product larger than its inputs
    parent = op_parents(trace)
    thread, _ = value_codes(trace, "ops.thread")
    gpu_us = op_gpu_time(trace)
    on_gpu = len(trace.gpu) > 0
    # siblings in time order: ops under one enclosing op on one thread
    order = np.lexsort((ops.ts, parent, thread))
    group = np.stack([thread[order], parent[order]], axis=1)
    starts = np.flatnonzero(np.concatenate(([True], (group[1:] != group[:-1]).any(axis=1))))
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    ends = np.append(starts[1:], len(order))
    group_end = np.repeat(ends, np.diff(np.append(starts, len(order))))
    used = np.zeros(len(ops), dtype=bool)
    groups: Dict[tuple, Dict[str, Any]] = {}
    for i in expanding:
        if used[i]:
            continue
        found = _chain(trace, i, order, position[i], group_end[position[i]], used)
        if found is None:
            continue
        rows, key, figures = found
        used[rows] = True
        g = groups.setdefault(key, {**figures, "count": 0, "cpu_us": 0.0, "gpu_us": 0.0})
        g["count"] += 1
        g["cpu_us"] += float(ops.dur[rows].sum())
        g["gpu_us"] += float(gpu_us[rows].sum())
    out = []
    for g in groups.values():
        bytes_, flops, dtype_class = g.pop("operand_bytes") + g.pop("result_bytes"), g.pop("flops"), g.pop("dtype_class")
        # one contraction's floor: its bytes at the peak bandwidth or its FLOPs at its dtype's peak, the longer
        floor = floor_time_us(bytes_, flops, peak_gbps, tflops_for(dtype_class)) if peak_gbps and peak_gbps > 0 \
            else None
        if not on_gpu:
            floor, g["gpu_us"] = None, None
        g["floor_us"] = floor * g["count"] if floor is not None else None
        g["excess_us"] = g["gpu_us"] - g["floor_us"] if g["floor_us"] is not None else None
        out.append({k: g[k] for k in ROW_KEYS})
    out.sort(key=lambda g: (g["gpu_us"] or 0.0, g["cpu_us"]), reverse=True)
    return out


def _chain(trace: Trace, i: int, order: np.ndarray, at: int, end: int,
           used: np.ndarray) -> Optional[Tuple[List[int], tuple, Dict[str, Any]]]:
    """The chain that multiply ``i`` starts (its op rows, a grouping key, its figures), or None."""
    ops = trace.ops
    tensors = _tensors(trace, i)
    product = _product(tensors)
    if product is None:
        return None
    dtype = promote_dtype([t for _, t in tensors])
    rows, operands, all_multiply = [i], list(tensors), True
    for k in range(at + 1, min(end, at + 1 + LOOKAHEAD)):
        j = int(order[k])
        if used[j]:
            continue
        name = ops.name[j]
        inputs = _tensors(trace, j)
        if not inputs or not any(list(s) == product for s, _ in inputs):
            continue  # another computation in between
        if name in REDUCE_OPS:
            if list(inputs[0][0]) != product:
                return None
            rows.append(j)
            reduced = _reduced_dims(ops.concrete_inputs[j], len(product), len(ops.input_dims[j] or ()))
            if reduced == []:
                return None
            return rows, *_figures(ops.name[i], name, operands, product, dtype, reduced, all_multiply)
        if broadcast_shape([list(s) for s, _ in inputs]) != product:
            return None  # the product is read into something else: not a reduction of it
        rows.append(j)
        all_multiply &= name in MULTIPLY_OPS
        operands.extend((s, t) for s, t in inputs if list(s) != product)
    return None


def _product(tensors: Sequence[tuple]) -> Optional[List[int]]:
    """The broadcast product's shape of a multiply's two tensor inputs where it holds at least
    :data:`EXPANSION_MIN` times the elements of the larger input, else None."""
    if len(tensors) != 2:
        return None
    product = broadcast_shape([list(s) for s, _ in tensors])
    if not product:
        return None
    numel = math.prod(product)
    if numel <= 0 or numel < EXPANSION_MIN * max(math.prod(s) for s, _ in tensors):
        return None
    return product


def _tensors(trace: Trace, row: int) -> List[tuple]:
    """(shape, dtype) of an op call's tensor inputs; none where its shapes were not recorded."""
    dims, types = trace.ops.input_dims[row], trace.ops.input_types[row]
    return tensor_inputs(dims, types) if isinstance(dims, list) and isinstance(types, list) else []


def _reduced_dims(concrete: Any, ndim: int, nargs: int) -> Union[List[int], None, str]:
    """The dimensions a reduction call sums (non-negative, sorted), or None for all of them: ``sum(x)`` and
    ``sum(x, dtype)`` take no dims; ``sum(x, dim, keepdim, dtype)`` records its dims in ``Concrete Inputs`` (since
    PyTorch 2.1): :data:`UNKNOWN_DIMS` where the trace does not hold them. An empty list where they are not
    dimensions of the product (out of range)."""
    if nargs <= 2:
        return None
    dims = parse_dims_arg(concrete[1]) if isinstance(concrete, list) and len(concrete) > 1 else None
    if dims is None or not ndim:
        return UNKNOWN_DIMS
    if any(not -ndim <= d < ndim for d in dims):
        return []  # not dimensions of the product: not a reduction of it
    return sorted({d % ndim for d in dims})


def _figures(multiply: str, reduce: str, operands: Sequence[tuple], product: List[int], dtype: str,
             reduced: Union[List[int], None, str], all_multiply: bool) -> Tuple[tuple, Dict[str, Any]]:
    size = DTYPE_BYTES[dtype]
    numel = math.prod(product)
    known = not isinstance(reduced, str)
    kept = [n for d, n in enumerate(product) if isinstance(reduced, list) and d not in reduced]
    key = (multiply, tuple(tuple(s) for s, _ in operands), tuple(t for _, t in operands), reduce,
           tuple(reduced) if isinstance(reduced, list) else reduced)
    figures = {
        "multiply": multiply,
        "reduce": reduce,
        "operands": " x ".join(str(list(s)) for s, _ in operands),
        "dtype": dtype,
        "product": str(product),
        "product_bytes": float(numel * size),
        "reduced_dims": str(reduced) if isinstance(reduced, list) else "all" if reduced is None else UNKNOWN_DIMS,
        "einsum": _einsum(operands, product, reduced) if all_multiply and known else None,
        "operand_bytes": float(sum(math.prod(s) * DTYPE_BYTES[t] for s, t in operands)),
        "result_bytes": float(math.prod(kept) * size) if known else 0.0,  # unknown: the floor stays a lower bound
        "flops": float(numel * len(operands)),  # a multiply per factor after the first, and the sum's add
        "dtype_class": op_dtype([dtype]),
    }
    return key, figures


def _einsum(operands: Sequence[tuple], product: List[int], reduced: Union[List[int], None, str]) -> Optional[str]:
    """The einsum equation of the contraction over operands whose size-1 dimensions are squeezed: a letter per
    dimension of the product longer than 1, each operand holding the letters of its own such dimensions."""
    ndim = len(product)
    long = [d for d in range(ndim) if product[d] > 1]
    if len(long) > len(_LETTERS):
        return None  # more dimensions than letters
    letters = dict(zip(long, _LETTERS))
    subscripts = []
    for shape, _ in operands:
        offset = ndim - len(shape)
        subscripts.append("".join(letters[d] for d in range(ndim) if d >= offset and shape[d - offset] > 1))
    summed = set(reduced) if isinstance(reduced, list) else set(range(ndim))
    result = "".join(letters[d] for d in sorted(letters) if d not in summed)
    return ",".join(subscripts) + "->" + result


