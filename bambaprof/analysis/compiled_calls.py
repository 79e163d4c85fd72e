"""Calls of ``torch.compile``d code, the graphs each ran and what ran between them (times in us).

Dynamo records each frame it runs as compiled code as an op ``Torch-Compiled Region: <frame>/<compile>``; inside
it, the compiled graph's call (inductor's ``## Call CompiledFxGraph <hash> ##`` range, AOTAutograd's
``CompiledFunction``) and Dynamo's own steps (``TorchDynamo Cache Lookup``, ``Pregraph bytecode``,
``AOTDispatcher Runtime Wrapper Prologue``). A *graph break* ends the frame's graph where Dynamo cannot trace:
the frame's code runs the graph, then the code it could not trace *eagerly* (``.item()``, a ``print``,
data-dependent Python), then calls the rest of the function as a new frame, whose region nests inside the first.

A *call* is a region no other region encloses. Per call: its frames (the ids of its regions, nested ones
included), its ``graphs`` (regions) and ``breaks`` (regions less one), its host time, the host time inside its
compiled graphs' ranges (``graph_us``, each instant once), the time outside them (``outside_us``: the eager code,
Python and Dynamo's guards between and around the graphs), the ops that ran eagerly between the graphs (the direct
children of its regions that are neither graphs nor Dynamo's steps: their names, count, host time and the GPU time
of the kernels they launched) and, on a GPU, the GPU's idle time while the host was outside the graphs, inside the
GPU's window (``gap_gpu_idle_us``). Two compiled functions called one after the other are two calls, not a break.

:func:`compiled_call_table` groups calls by their frames and graphs, most host time outside the graphs first.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Dict, List, Optional

import numpy as np

from .ops import cpu_op_mask, nearest_marked, op_gpu_time, op_intervals, op_parents
from .timeline import gpu_busy, idle_within, union_length
from .trace import Trace, value_codes

#: The op Dynamo records around a frame it runs as compiled code: its frame id and compile id.
REGION = re.compile(r"^Torch-Compiled Region: (?P<frame>\d+)/(?P<compile>\d+)")
#: A compiled graph's call: inductor's range, AOTAutograd's op.
GRAPH = re.compile(r"^(## Call CompiledFxGraph\b|CompiledFunction$)")
#: Dynamo's own steps around the graphs (not eager ops of the user's code).
DYNAMO_STEP = re.compile(r"^(TorchDynamo Cache Lookup|Pregraph bytecode|AOTDispatcher Runtime Wrapper|"
                         r"Torch-Compiled Region: )")
#: A row's keys, in the order tables show them.
ROW_KEYS = ("frames", "graphs", "breaks", "calls", "host_us", "graph_us", "outside_us", "eager_ops_per_call",
            "eager_op_names", "eager_us", "eager_gpu_us", "gap_gpu_idle_us")
#: The summary's figures (see :func:`compiled_call_summary`).
SUMMARY_KEYS = ("compiled_calls", "compiled_breaks", "compiled_outside_us", "compiled_gap_gpu_idle_us")


def compiled_call_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """Calls of compiled code grouped by ``frames`` (text, ``"0, 1, 2"``) and ``graphs`` (see the module's
    docstring), most time outside the graphs first; None where the trace holds no CPU ops. Each row: ``breaks`` (a
    call's graphs less one), ``calls``, ``host_us``, ``graph_us``, ``outside_us`` (summed over the calls),
    ``eager_ops_per_call``, ``eager_op_names`` (the most frequent, with counts), ``eager_us`` (their host time),
    ``eager_gpu_us`` and ``gap_gpu_idle_us`` (None without GPU activity)."""
    ops = trace.ops
    if not len(ops):
        return None
    region_rows, _, _ = op_intervals(trace, REGION.match)
    if not len(region_rows):
        return []
    codes, names = value_codes(trace, "ops.name")
    parent = op_parents(trace)
    n = len(ops)
    is_region = np.zeros(n, dtype=bool)
    is_region[region_rows] = True
    enclosing = nearest_marked(parent, is_region)  # each op's innermost region, itself included
    up = enclosing[np.maximum(parent[region_rows], 0)]
    top = region_rows[(parent[region_rows] < 0) | (up < 0)]
    is_top = np.zeros(n, dtype=bool)
    is_top[top] = True
    call_of = nearest_marked(parent, is_top)  # each op's call (its outermost region)
    index = np.full(n, -1, dtype=np.int64)
    index[top] = np.arange(len(top))
    call = np.where(call_of >= 0, index[np.maximum(call_of, 0)], -1)
    graph_codes = [c for c, name in enumerate(names) if GRAPH.match(str(name))]
    step_codes = [c for c, name in enumerate(names) if DYNAMO_STEP.match(str(name))]
    is_graph = np.isin(codes, graph_codes) if graph_codes else np.zeros(n, dtype=bool)
    is_step = np.isin(codes, step_codes) if step_codes else np.zeros(n, dtype=bool)
    is_op = cpu_op_mask(trace)
    # eager ops: the direct children of a region that are neither a graph nor one of Dynamo's steps
    child_of_region = (parent >= 0) & is_region[np.maximum(parent, 0)]
    eager = child_of_region & is_op & ~is_graph & ~is_step & (call >= 0)
    on_gpu = len(trace.gpu) > 0
    gpu_time = op_gpu_time(trace) if on_gpu and eager.any() else np.zeros(n)
    busy = gpu_busy(trace) if on_gpu else None
    start, end = ops.ts, ops.ts + ops.dur
    groups: Dict[tuple, Dict[str, Any]] = {}
    graphs_by_call: Dict[int, List[int]] = {}
    for r in np.flatnonzero(is_graph & (call >= 0)).tolist():
        graphs_by_call.setdefault(int(call[r]), []).append(r)
    regions_by_call = Counter(call[region_rows].tolist())
    frames_by_call: Dict[int, set] = {}
    for r in region_rows.tolist():
        if (m := REGION.match(ops.name[r])) is not None:  # every region row's name matched it
            frames_by_call.setdefault(int(call[r]), set()).add(int(m.group("frame")))
    eager_rows = np.flatnonzero(eager)
    eager_by_call: Dict[int, List[int]] = {}
    for r in eager_rows.tolist():
        eager_by_call.setdefault(int(call[r]), []).append(r)
    for i, row in enumerate(top.tolist()):
        g_rows = np.array(graphs_by_call.get(i, []), dtype=np.int64)
        s, e = float(start[row]), float(end[row])
        inside, gs, ge = union_length(np.clip(start[g_rows], s, e), np.clip(end[g_rows], s, e))
        idle = None
        if busy is not None and len(busy[0]):  # the gaps between the graphs, inside the GPU window
            gaps_s = np.maximum(np.concatenate(([s], ge)), busy[0][0])
            gaps_e = np.minimum(np.concatenate((gs, [e])), busy[1][-1])
            keep = gaps_e > gaps_s
            idle = float(idle_within(busy[0], busy[1], gaps_s[keep], gaps_e[keep]).sum())
        frames = ", ".join(str(f) for f in sorted(frames_by_call.get(i, ())))
        graphs = int(regions_by_call.get(i, 1))
        mine = eager_by_call.get(i, [])
        g = groups.setdefault((frames, graphs), {"frames": frames, "graphs": graphs, "breaks": graphs - 1, "calls": 0,
                                                 "host_us": 0.0, "graph_us": 0.0, "outside_us": 0.0, "_eager": 0,
                                                 "_names": Counter(), "eager_us": 0.0, "eager_gpu_us": 0.0,
                                                 "gap_gpu_idle_us": 0.0})
        g["calls"] += 1
        g["host_us"] += e - s
        g["graph_us"] += inside
        g["outside_us"] += (e - s) - inside
        g["_eager"] += len(mine)
        g["_names"].update(ops.name[r] for r in mine)
        g["eager_us"] += float(ops.dur[mine].sum()) if mine else 0.0
        g["eager_gpu_us"] += float(gpu_time[mine].sum()) if mine else 0.0
        g["gap_gpu_idle_us"] += idle or 0.0
    out = []
    for g in groups.values():
        g["eager_ops_per_call"] = g.pop("_eager") / g["calls"]
        g["eager_op_names"] = ", ".join(f"{name} x{count}" for name, count in g.pop("_names").most_common(4))
        if not on_gpu:
            g["eager_gpu_us"] = g["gap_gpu_idle_us"] = None
        out.append({k: g[k] for k in ROW_KEYS})
    out.sort(key=lambda r: -r["outside_us"])
    return out


def compiled_call_summary(trace: Trace, table: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """``compiled_calls``, ``compiled_breaks`` (summed over calls), ``compiled_outside_us`` (host time outside the
    graphs) and ``compiled_gap_gpu_idle_us`` (the GPU's idle time then; None without GPU activity); all None where
    the trace holds no CPU ops."""
    if table is None:
        return dict.fromkeys(SUMMARY_KEYS)
    return {"compiled_calls": sum(r["calls"] for r in table),
            "compiled_breaks": sum(r["breaks"] * r["calls"] for r in table),
            "compiled_outside_us": float(sum(r["outside_us"] for r in table)),
            "compiled_gap_gpu_idle_us": float(sum(r["gap_gpu_idle_us"] or 0.0 for r in table))
            if len(trace.gpu) else None}
