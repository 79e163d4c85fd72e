"""Generation whose prefill computes logits at every prompt position, where decoding reads the last one (us).

A model generating text reads the logits of the last position only: the prompt's other positions need no
prediction. Computed at every position (``model(prompt).logits[:, -1]``), the language-model head multiplies all
``L`` positions by a ``vocabulary x hidden`` weight, ``L`` times the product needed, and writes ``L x vocabulary``
logits (a 2,048-token prompt over a 128,256-word vocabulary: 1 GB in float32) to keep one row of them.

Each lookup of the input embedding (``aten::embedding`` of a ``[N, K]`` table, vocabulary ``N`` and hidden size
``K``, by ``[b, L]`` tokens) starts a *forward*, a *decode step* where ``L`` is 1: a trace holds generation where one
runs. A forward's *LM head* is the one matrix product (``aten::linear``, ``matmul``, ``mm``, ``addmm``; the
outermost, outside autograd's backward) of an ``N x K`` weight in it (a layer's product of that size would run once
a layer, more than once a forward) whose activation has a sequence dimension (``[..., L', K]``). A forward of ``L``
tokens that a decode step follows is a *prefill*; its head on ``L' > 1`` positions a sequence computed ``L' - 1``
too many (a head on the last position alone has ``L' = 1``). Rows by activation shape, weight and dtype: ``calls``,
``positions`` (``L'``), ``logits_bytes`` (the logits written, at the activation's element size: a model that casts
them to float32 writes more), ``cpu_us`` and ``gpu_us`` (the calls'), and ``extra_cpu_us``, ``extra_gpu_us``: their
share of the positions not needed, ``(L' - 1) / L'``, the time a head applied to the last position would not take
(GPU figures None without GPU activity). None without CPU ops with shapes; empty where no decode step ran.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from typing import Any, Dict, List, Optional

from .ops import op_gpu_time, rows_named
from .projections import float_type, forward_products, product_operands
from .trace import Trace
from .traffic import DTYPE_BYTES, DTYPE_NAMES, is_shape

EMBEDDING_OPS = frozenset({"aten::embedding"})
#: A row's keys, in the order tables show them.
ROW_KEYS = ("shape", "weight", "dtype", "calls", "positions", "logits_bytes", "cpu_us", "gpu_us", "extra_cpu_us",
            "extra_gpu_us")


def prefill_logits_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The prefills that computed logits at every prompt position (see the module's docstring), most extra GPU time
    (then host time) first; None where the trace holds no CPU ops or no shapes."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    # the forwards: each lookup of the input embedding starts one (its input [b, L]: a decode step where L is 1)
    forwards = []
    for r in rows_named(trace, EMBEDDING_OPS).tolist():
        dims = ops.input_dims[r]
        if isinstance(dims, list) and len(dims) >= 2 and is_shape(dims[0]) and len(dims[0]) == 2 and is_shape(dims[1]) \
                and len(dims[1]) == 2:
            forwards.append((float(ops.ts[r]), tuple(dims[0]), dims[1][1]))  # (start, (vocabulary, hidden), L)
    decodes = [t for t, _, length in forwards if length == 1]
    if not forwards or not decodes:
        return []
    starts = [t for t, _, _ in forwards]
    # in each forward, the products of its vocabulary's weight: the LM head runs once a forward, where a layer's
    # product of the same size (an MLP of twice the vocabulary's rows) runs once a layer
    candidates: Dict[tuple, List[tuple]] = defaultdict(list)
    for r in forward_products(trace):
        at = bisect_right(starts, float(ops.ts[r])) - 1
        operands = product_operands(ops.name[r], ops.input_dims[r])
        if at < 0 or operands is None or (operands[2], operands[1]) != forwards[at][1] or len(operands[0]) < 3:
            continue
        candidates[(at, operands[2], operands[1])].append((r, operands))
    last_decode = max(decodes)
    heads = [found[0] for (at, _, _), found in candidates.items() if len(found) == 1
             and forwards[at][2] > 1 and forwards[at][0] < last_decode]
    gpu_time = op_gpu_time(trace) if len(trace.gpu) else None
    groups: Dict[tuple, Dict[str, Any]] = {}
    for r, (a, k, n) in heads:
        length = a[-2]
        if length <= 1:
            continue  # the head on the last position alone
        dtype = float_type(ops.input_types[r])
        key = (tuple(a), n, k, dtype)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"shape": "x".join(map(str, a)), "weight": f"{n}x{k}",
                               "dtype": DTYPE_NAMES.get(dtype or "", dtype), "calls": 0, "positions": length,
                               "logits_bytes": 0 if dtype in DTYPE_BYTES else None, "cpu_us": 0.0,
                               "gpu_us": 0.0 if gpu_time is not None else None, "extra_cpu_us": 0.0,
                               "extra_gpu_us": 0.0 if gpu_time is not None else None}
        share = (length - 1) / length
        g["calls"] += 1
        if g["logits_bytes"] is not None:
            rows = 1
            for d in a[:-1]:
                rows *= d
            g["logits_bytes"] += rows * n * DTYPE_BYTES[dtype]
        g["cpu_us"] += float(ops.dur[r])
        g["extra_cpu_us"] += float(ops.dur[r]) * share
        if gpu_time is not None:
            g["gpu_us"] += float(gpu_time[r])
            g["extra_gpu_us"] += float(gpu_time[r]) * share
    return sorted(groups.values(), key=lambda g: (-(g["extra_gpu_us"] or 0.0), -g["extra_cpu_us"], g["shape"]))


def prefill_logits_summary(rows: Optional[List[Dict[str, Any]]], on_gpu: bool) -> Dict[str, Any]:
    """``prefill_logits_calls`` and ``prefill_logits_extra_us`` (GPU time on positions not needed; None without GPU
    activity) over the rows; both None where the table could not be made."""
    if rows is None:
        return {"prefill_logits_calls": None, "prefill_logits_extra_us": None}
    return {"prefill_logits_calls": sum(r["calls"] for r in rows),
            "prefill_logits_extra_us": sum(r["extra_gpu_us"] or 0.0 for r in rows) if on_gpu else None}
