"""Per-CPU-op table: CPU time (self and total) and the GPU time of the kernels each op launched.

Ops nest on their thread by time: an op's *total* CPU time is its duration,
its *self* time is that minus its direct children's durations. A GPU activity
belongs to the op whose ``External id`` it carries (the innermost op at
launch); ``gpu_self_us`` sums those, ``gpu_total_us`` adds the GPU time of all
descendant ops. All times in us.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from .trace import PROFILER_MARKERS, Trace


def op_parents(trace: Trace) -> np.ndarray:
    """Index of each op's enclosing op on the same thread (-1 for top level)."""
    ops = trace.ops
    n = len(ops)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent
    by_thread: Dict[tuple, List[int]] = {}
    for i, key in enumerate(zip(ops.pid, ops.tid)):
        by_thread.setdefault(key, []).append(i)
    ends = ops.ts + ops.dur
    for idx in by_thread.values():
        arr = np.asarray(idx)
        order = arr[np.lexsort((-ops.dur[arr], ops.ts[arr]))]
        stack: List[int] = []
        for i in order.tolist():
            t = ops.ts[i]
            while stack and ends[stack[-1]] <= t:
                stack.pop()
            if stack:
                parent[i] = stack[-1]
            stack.append(i)
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

    row_of_ext = trace.op_row_by_external_id
    gpu_self = np.zeros(n)
    kernels = np.zeros(n, dtype=np.int64)
    for e, d in zip(gpu.external_id.tolist(), gpu.dur.tolist()):
        i = row_of_ext.get(e, -1)
        if i >= 0:
            gpu_self[i] += d
            kernels[i] += 1
    gpu_total = gpu_self.copy()
    # children start after their parents: accumulate in reverse start order
    for i in np.argsort(ops.ts, kind="stable")[::-1].tolist():
        p = parent[i]
        if p >= 0:
            gpu_total[p] += gpu_total[i]

    groups: Dict[str, List[int]] = {}
    for i, name in enumerate(ops.name):
        groups.setdefault(name, []).append(i)
    rows = []
    for name, idx in groups.items():
        if PROFILER_MARKERS.match(name):
            continue  # ProfilerStep#<n> and the clock marker are not ops (they still nest the ops above)
        ix = np.asarray(idx)
        rows.append({
            "name": name,
            "kind": ops.cat[idx[0]],
            "count": len(idx),
            "cpu_total_us": float(ops.dur[ix].sum()),
            "cpu_self_us": float(self_time[ix].sum()),
            "cpu_mean_us": float(ops.dur[ix].mean()),
            "gpu_self_us": float(gpu_self[ix].sum()),
            "gpu_total_us": float(gpu_total[ix].sum()),
            "kernels": int(kernels[ix].sum()),
        })
    rows.sort(key=lambda r: r["cpu_total_us"], reverse=True)
    return rows
