"""Generation that recomputes the whole prefix every token: a model's layers run on one token more each forward.

A model generating with a cache (keys and values, a state-space layer's conv and SSM states) runs its layers on the
prompt once, then on one new token a forward. Without one, each forward runs them on the whole sequence so far:
``P``, ``P + 1``, ``P + 2``, ... tokens for a prompt of ``P``, so that generating ``T`` tokens costs ``O(T (P + T))``
token-layers instead of ``P + T``.

Read from the recorded shapes of the products that apply a weight (``aten::linear``, ``aten::addmm``, ``aten::mm``,
``aten::matmul``): calls of one op, weight shape and dtype form a group, and each call's *token count* is its
input's leading elements (all but the last dimension). Collapsing the repeats of one forward (every layer of one kind
applies a weight of the same shape), a group's inputs in time order whose shape grows by one along the same dimension
(the sequence, at least 4 long), and changes nowhere else, at least :data:`MIN_GROWTH_STEPS` times in a row are a
*growth run*: forwards on one token more a sequence each time (``g``, the tokens a forward adds, is the batch). A
batch that grows by many rows is no generation. Per group: its runs, the counts they span, calls and their time,
and the time spent on tokens an earlier forward had processed (each call's time x (count - g) / count after a
run's first forward, which runs the prompt a cache runs too: what a cache would not redo, in these products alone;
the rest of the model recomputes too).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .ops import op_gpu_time, op_parents, rows_named
from .trace import Trace
from .traffic import DTYPE_NAMES, tensor_inputs

#: Ops that apply a weight: the position of the input and of the weight among their inputs.
WEIGHT_OPS: Dict[str, Tuple[int, int]] = {"aten::linear": (0, 1), "aten::addmm": (1, 2), "aten::mm": (0, 1),
                                          "aten::matmul": (0, 1)}
#: A growth run rises by the same step at least this many times in a row (four forwards).
MIN_GROWTH_STEPS = 3
#: A row's keys, in the order tables show them.
ROW_KEYS = ("op", "weight", "dtype", "runs", "first_tokens", "last_tokens", "step", "calls", "cpu_us", "gpu_us",
            "recomputed_cpu_us", "recomputed_gpu_us")


def generation_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The groups of weight products whose token counts grow run after run (see the module's docstring), most
    recomputed time first; None where the trace holds no CPU ops with shapes. Each row: ``op``, ``weight`` (its
    shape) and ``dtype``; ``runs``; ``first_tokens`` and ``last_tokens`` (the longest run's ends) and ``step`` (its
    growth a forward); ``calls``, ``cpu_us`` and ``gpu_us`` (the group's calls in runs); ``recomputed_cpu_us`` and
    ``recomputed_gpu_us`` (their time on tokens an earlier forward had processed; the GPU figures None without GPU
    activity)."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    rows = rows_named(trace, WEIGHT_OPS)
    if not len(rows):
        return []
    parent = op_parents(trace)
    # the outermost weight op of nested ones (linear calls addmm): count each product once
    nested = np.isin(parent[rows], rows)
    rows = rows[~nested]
    groups: Dict[tuple, List[Tuple[int, tuple]]] = {}
    for r in rows.tolist():
        found = _tokens(ops.name[r], ops.input_dims[r], ops.input_types[r])
        if found is not None:
            leading, weight, dtype = found
            groups.setdefault((ops.name[r], weight, dtype), []).append((r, leading))
    on_gpu = len(trace.gpu) > 0
    gpu_time = op_gpu_time(trace) if on_gpu else None
    out = []
    for (op, weight, dtype), calls in groups.items():
        runs = _runs([shape for _, shape in calls])
        if not runs:
            continue
        longest = max(runs, key=lambda run: run[1] - run[0])
        # each call with the share of its tokens an earlier forward had run (none in a run's first forward, the prompt)
        in_runs = [(r, (math.prod(shape) - step) / math.prod(shape) if shape != calls[a][1] else 0.0)
                   for (a, b, step) in runs for r, shape in calls[a:b + 1]]
        cpu = sum(float(ops.dur[r]) for r, _ in in_runs)
        waste = sum(float(ops.dur[r]) * share for r, share in in_runs)
        first, last, step = math.prod(calls[longest[0]][1]), math.prod(calls[longest[1]][1]), longest[2]
        row = {"op": op, "weight": str(list(weight)), "dtype": DTYPE_NAMES.get(dtype, dtype), "runs": len(runs),
               "first_tokens": first, "last_tokens": last, "step": step, "calls": len(in_runs), "cpu_us": cpu,
               "gpu_us": None, "recomputed_cpu_us": waste, "recomputed_gpu_us": None}
        if gpu_time is not None:
            row["gpu_us"] = float(sum(gpu_time[r] for r, _ in in_runs))
            row["recomputed_gpu_us"] = float(sum(gpu_time[r] * share for r, share in in_runs))
        out.append(row)
    out.sort(key=lambda r: ((r["recomputed_gpu_us"] or 0.0), r["recomputed_cpu_us"]), reverse=True)
    return out


def _tokens(op: str, dims: Any, types: Any) -> Optional[Tuple[tuple, tuple, str]]:
    """(the input's shape but its last dimension, the 2-D weight's shape, dtype) of a weight product; None where the
    shapes do not give them."""
    if not isinstance(dims, list) or not isinstance(types, list):
        return None
    at_input, at_weight = WEIGHT_OPS[op]
    if len(dims) <= at_weight:
        return None
    pair = tensor_inputs([dims[at_input], dims[at_weight]], [types[at_input], types[at_weight]]) \
        if len(types) > at_weight else []
    if len(pair) != 2:
        return None
    (x, dtype), (w, _) = pair
    if len(x) < 2 or len(w) != 2 or any(n <= 0 for n in (*x, *w)):
        return None
    return tuple(x[:-1]), tuple(w), dtype


def _runs(shapes: List[tuple]) -> List[Tuple[int, int, int]]:
    """The growth runs of a group's inputs in time order (their shapes but the last dimension): ``(first call, last
    call, step)`` indices into ``shapes`` and the tokens a forward adds. With consecutive repeats collapsed (one
    forward's layers), a run is at least :data:`MIN_GROWTH_STEPS` changes in a row that each add one to the same
    dimension (the sequence), at least 4 long before, and change nothing else: a batch that grows (by 512 rows,
    say) is no generation."""
    starts = [0] + [i for i in range(1, len(shapes)) if shapes[i] != shapes[i - 1]]  # each shape's first call
    values = [shapes[i] for i in starts]
    runs = []
    i = 0
    while i + 1 < len(values):
        dim = _grown_dim(values[i], values[i + 1])
        j = i + 1
        if dim is not None:
            while j + 1 < len(values) and _grown_dim(values[j], values[j + 1]) == dim:
                j += 1
        if dim is not None and j - i >= MIN_GROWTH_STEPS:
            last_call = (starts[j + 1] - 1) if j + 1 < len(starts) else len(shapes) - 1
            runs.append((starts[i], last_call, math.prod(values[i]) // values[i][dim]))
            i = j
        else:
            i += 1
    return runs


def _grown_dim(before: tuple, after: tuple) -> Optional[int]:
    """The one dimension ``after`` is longer by one than ``before`` in (of at least 4), all others equal; else None."""
    if len(before) != len(after):
        return None
    changed = [d for d in range(len(before)) if before[d] != after[d]]
    if len(changed) != 1:
        return None
    d = changed[0]
    return d if after[d] == before[d] + 1 and before[d] >= 4 else None
