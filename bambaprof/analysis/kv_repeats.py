"""Keys and values copied to the query's heads before attention: grouped-query attention done by repeating (us).

Grouped-query attention shares each key and value head among ``r`` query heads. Written as ``k.repeat_interleave(r,
dim=1)`` (or Hugging Face's ``repeat_kv``: ``k[:, :, None].expand(b, h, r, S, d).reshape(b, h * r, S, d)``) before
``scaled_dot_product_attention``, it writes ``r`` copies of the keys and of the values every call: in a decode step,
``r`` times the whole cache, written and then read again by the attention kernel, where the kernel could read the
shared heads in place (``enable_gqa=True``, FlashAttention's own grouped heads).

Both forms copy through an ``aten::copy_`` of a five-dimensional ``[b, h, r, S, d]`` tensor (the expanded view
written out); a *repeat* is such a copy, with ``r`` at least 2, made by an op called by the same op or range as an
attention call (:mod:`.attention`'s calls) that starts after it and before that call, whose key (or value) has the
``h x r`` heads, ``S`` and ``d`` of the copy. Rows group repeats by caller, the op that made them (``form``:
``aten::repeat_interleave``, ``aten::reshape``, ...), ``kv_heads`` (``h``), ``repeats`` (``r``), head dim and dtype:
``calls`` (attention calls fed by them), ``copies``, ``min_length`` and ``max_length`` (``S``), ``elements`` and
``bytes`` written, ``backend`` (the calls' backends), ``masked`` (whether a call took a mask), ``cpu_us`` (the ops'
host time) and ``gpu_us`` (their kernels'; None without GPU activity). Unknown (None) without CPU ops with shapes.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from typing import Any, Dict, List, Optional

from .attention import _call_inputs, _calls
from .copies import COPY_OP
from .ops import op_callers, op_gpu_time, op_parents, rows_named
from .trace import Trace
from .traffic import DTYPE_BYTES, DTYPE_NAMES, is_shape

#: A row's keys, in the order tables show them.
ROW_KEYS = ("caller", "form", "kv_heads", "repeats", "head_dim", "dtype", "calls", "copies", "min_length",
            "max_length", "elements", "bytes", "backend", "masked", "cpu_us", "gpu_us")


def kv_repeat_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The repeats of keys and values feeding attention calls (see the module's docstring), most GPU time (then host
    time) first; None where the trace holds no CPU ops or no shapes."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    copies = [r for r in rows_named(trace, {COPY_OP}).tolist() if _five_d_repeat(ops.input_dims[r])]
    calls = _calls(trace) if copies else []
    if not copies or not calls:
        return []
    parent = op_parents(trace)
    caller_of = op_callers(trace)
    # each caller's attention calls by start, with the key and value they read
    by_caller: Dict[int, List[tuple]] = defaultdict(list)
    for call in calls:
        root = call["root"]
        inputs = _call_inputs(ops.name[root], ops.input_dims[root], ops.input_types[root], ops.concrete_inputs[root])
        if inputs is None or len(inputs["k"]) != 4:
            continue
        top = call["rows"][0]
        by_caller[int(caller_of[top])].append((float(ops.ts[top]), top, call, inputs))
    call_tops = {e[1] for entries in by_caller.values() for e in entries}
    for entries in by_caller.values():
        entries.sort(key=lambda e: (e[0], e[1]))
    starts = {caller: [e[0] for e in entries] for caller, entries in by_caller.items()}
    gpu_time = op_gpu_time(trace) if len(trace.gpu) else None
    groups: Dict[tuple, Dict[str, Any]] = {}
    fed: Dict[tuple, set] = defaultdict(set)
    seen_tops: set = set()
    for c in copies:
        b, h, r, s, d = ops.input_dims[c][0]
        top = c  # the ancestor of the copy called beside an attention call (not a call's own, as math's GQA)
        while top >= 0 and int(caller_of[top]) not in by_caller:
            top = int(parent[top])
        if top < 0 or top in seen_tops or top in call_tops:
            continue
        entries = by_caller[int(caller_of[top])]
        at = bisect_right(starts[int(caller_of[top])], float(ops.ts[top]))
        if at >= len(entries):
            continue
        _, call_top, call, inputs = entries[at]
        if not any(t[1] == h * r and t[2] == s and t[3] == d for t in (inputs["k"], inputs["v"])):
            continue
        seen_tops.add(top)
        caller = ops.name[int(parent[top])] if parent[top] >= 0 else "(top level)"
        dtype = inputs["dtype"]
        key = (caller, ops.name[top], h, r, d, dtype)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"caller": caller, "form": ops.name[top], "kv_heads": h, "repeats": r, "head_dim": d,
                               "dtype": DTYPE_NAMES.get(dtype, dtype), "calls": 0, "copies": 0, "min_length": s,
                               "max_length": s, "elements": 0, "bytes": 0 if dtype in DTYPE_BYTES else None,
                               "backend": set(), "masked": False, "cpu_us": 0.0,
                               "gpu_us": 0.0 if gpu_time is not None else None}
        fed[key].add(call_top)
        g["copies"] += 1
        g["min_length"], g["max_length"] = min(g["min_length"], s), max(g["max_length"], s)
        elements = b * h * r * s * d
        g["elements"] += elements
        if g["bytes"] is not None:
            g["bytes"] += elements * DTYPE_BYTES[dtype]
        g["backend"].add(call["backend"])
        g["masked"] = g["masked"] or (inputs["mask"] not in ("none", None))
        g["cpu_us"] += float(ops.dur[top])
        if gpu_time is not None:
            g["gpu_us"] += float(gpu_time[top])
    out = []
    for key, g in groups.items():
        g["calls"] = len(fed[key])
        g["backend"] = ", ".join(sorted(g["backend"]))
        out.append(g)
    return sorted(out, key=lambda g: (-(g["gpu_us"] or 0.0), -g["cpu_us"], g["caller"], g["form"]))


def _five_d_repeat(dims: Any) -> bool:
    """Whether a copy's recorded inputs are two equal ``[b, h, r, S, d]`` shapes with ``r`` at least 2."""
    return isinstance(dims, list) and len(dims) >= 2 and is_shape(dims[0]) and len(dims[0]) == 5 \
        and min(dims[0]) > 0 and dims[0] == dims[1] and dims[0][2] >= 2


def kv_repeat_summary(rows: Optional[List[Dict[str, Any]]], on_gpu: bool) -> Dict[str, Any]:
    """``kv_repeat_copies`` and ``kv_repeat_us`` (GPU time; None without GPU activity) over the rows; both None where
    the table could not be made."""
    if rows is None:
        return {"kv_repeat_copies": None, "kv_repeat_us": None}
    return {"kv_repeat_copies": sum(r["copies"] for r in rows),
            "kv_repeat_us": math.fsum(r["gpu_us"] or 0.0 for r in rows) if on_gpu else None}

