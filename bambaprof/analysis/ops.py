"""Per-CPU-op table: CPU time (self and total) and the GPU time of the kernels each op launched.

Ops nest on their thread by time: an op's *total* CPU time is its duration,
its *self* time is that minus its direct children's durations. A GPU activity
belongs to the op whose ``External id`` it carries (the innermost op at
launch); ``gpu_self_us`` sums those, ``gpu_total_us`` adds the GPU time of all
descendant ops. All times in us.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Dict, List

import numpy as np

from .trace import PROFILER_MARKERS, Trace


def op_parents(trace: Trace) -> np.ndarray:
    """Index of each op's enclosing op on the same thread (-1 for top level).

    Ops sorted by thread, start, then longest first, the enclosing op of op ``i`` is the last op before it
    (same thread) that is still open when ``i`` starts (its end is after ``i``'s start): the top of the stack
    a walk in that order keeps. Found for all ops at once by a descent over a sparse table of range maxima
    of the ends (log2(n) vectorised steps).
    """
    ops = trace.ops
    n = len(ops)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent
    threads: Dict[tuple, int] = defaultdict(itertools.count().__next__)
    thread = np.fromiter(map(threads.__getitem__, zip(ops.pid, ops.tid)), np.int64, n)
    order = np.lexsort((-ops.dur, ops.ts, thread))
    start, end, th = ops.ts[order], (ops.ts + ops.dur)[order], thread[order]
    first_of_thread = np.searchsorted(th, th, side="left")  # sorted position where each op's thread begins
    levels = [end]  # levels[k][j] = max(end[j : j + 2**k])
    while 2 ** len(levels) <= n:
        prev, step = levels[-1], 2 ** (len(levels) - 1)
        levels.append(np.maximum(prev[:-step], prev[step:]))
    # p: the smallest position such that every op in [p, i) has closed by i's start; the parent is p - 1
    p = np.arange(n)
    for k in range(len(levels) - 1, -1, -1):
        cand = p - 2 ** k
        ok = cand >= 0
        ok[ok] = levels[k][cand[ok]] <= start[ok]
        p = np.where(ok, cand, p)
    found = (p - 1 >= first_of_thread) & (p > 0)
    parent[order[found]] = order[p[found] - 1]
    return parent


def op_table(trace: Trace) -> List[dict]:
    """Rows per op name, sorted by total CPU time (largest first)."""
    ops, gpu = trace.ops, trace.gpu
    n = len(ops)
    if n == 0:
        return []
    parent = op_parents(trace)
    child_time = np.zeros(n)
    has_parent = parent >= 0
    np.add.at(child_time, parent[has_parent], ops.dur[has_parent])
    self_time = np.maximum(ops.dur - child_time, 0.0)

    launched_by = trace.gpu_op_row
    mine = launched_by >= 0
    gpu_self = np.bincount(launched_by[mine], weights=gpu.dur[mine], minlength=n)[:n]
    kernels = np.bincount(launched_by[mine], minlength=n)[:n]
    gpu_total = _subtree_sums(parent, gpu_self)

    code_of: Dict[str, int] = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(code_of.__getitem__, ops.name), dtype=np.int64, count=n)
    m = len(code_of)
    count = np.bincount(codes, minlength=m)
    cpu_total = np.bincount(codes, weights=ops.dur, minlength=m)
    cpu_self = np.bincount(codes, weights=self_time, minlength=m)
    g_self = np.bincount(codes, weights=gpu_self, minlength=m)
    g_total = np.bincount(codes, weights=gpu_total, minlength=m)
    launches = np.bincount(codes, weights=kernels, minlength=m)
    _, first = np.unique(codes, return_index=True)
    rows = []
    for c, name in enumerate(code_of):
        if PROFILER_MARKERS.match(name):
            continue  # ProfilerStep#<n> and the clock marker are not ops (they still nest the ops above)
        rows.append({
            "name": name,
            "kind": ops.cat[int(first[c])],
            "count": int(count[c]),
            "cpu_total_us": float(cpu_total[c]),
            "cpu_self_us": float(cpu_self[c]),
            "cpu_mean_us": float(cpu_total[c] / count[c]),
            "gpu_self_us": float(g_self[c]),
            "gpu_total_us": float(g_total[c]),
            "kernels": int(launches[c]),
        })
    rows.sort(key=lambda r: r["cpu_total_us"], reverse=True)
    return rows


def _subtree_sums(parent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each node's value plus its descendants' (``parent``: each node's parent index, -1 for roots), summed
    level by level from the deepest up."""
    depth = np.zeros(len(parent), dtype=np.int64)
    up = parent.copy()
    while True:
        live = up >= 0
        if not live.any():
            break
        depth[live] += 1
        up[live] = parent[up[live]]
    total = np.asarray(values, dtype=np.float64).copy()
    for level in range(int(depth.max(initial=0)), 0, -1):
        at = np.nonzero(depth == level)[0]
        np.add.at(total, parent[at], total[at])
    return total
