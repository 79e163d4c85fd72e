"""Per-CPU-op table: CPU time (self and total) and the GPU time of the kernels each op launched.

Ops nest on their thread by time: an op's *total* CPU time is its duration,
its *self* time is that minus its direct children's durations. A GPU activity
belongs to the op whose ``External id`` it carries (the innermost op at
launch); ``gpu_self_us`` sums those, ``gpu_total_us`` adds the GPU time of all
descendant ops. All times in us.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from itertools import repeat
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

import numpy as np

from .trace import PROFILER_MARKERS, Trace, value_codes


def thread_time_order(thread: np.ndarray, ts: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """The order of ``np.lexsort((-dur, ts, thread))`` (by thread, then start, then longest first; ties keep
    their order), from stable sorts that are fast on a trace's nearly sorted starts and small thread codes
    (``lexsort`` took about 1 s for 2.6 million ops); only runs of equal (thread, start) are sorted by length."""
    order = np.argsort(ts, kind="stable")
    th = thread[order]
    if len(th) and 0 <= th.min() and th.max() < 2 ** 15:
        th = th.astype(np.int16)  # numpy sorts 16-bit ints stably by radix
    order = order[np.argsort(th, kind="stable")]
    t_s, th_s = ts[order], thread[order]
    tie = (t_s[1:] == t_s[:-1]) & (th_s[1:] == th_s[:-1])  # sorted position i + 1 ties with i
    if tie.any():
        member = np.zeros(len(order), dtype=bool)
        member[1:] |= tie
        member[:-1] |= tie
        at = np.flatnonzero(member)
        run = np.cumsum(~np.concatenate(([False], tie)))[at]  # runs of equal (thread, start), in order
        order[at] = order[at][np.lexsort((-dur[order[at]], run))]
    return order


def op_parents(trace: Trace) -> np.ndarray:
    """Index of each op's enclosing op on the same thread (-1 for top level).

    Ops sorted by thread, start, then longest first, the enclosing op of op ``i`` is the last op before it
    (same thread) still open when ``i`` starts (its end is after ``i``'s start): the top of the stack a walk
    in that order keeps. All ops are answered at once by a search over a segment tree of the ops' ends
    (maxima over blocks of the sorted order): up from each op through the blocks before it, nearest first,
    to the first block holding an end after its start, then down that block to its last such op. 2 log2(n)
    vectorised steps; memory linear in n. Computed once a trace (kept in :attr:`Trace.memo`, read-only).
    """
    memo = trace.memo.get(("op parents",))
    if memo is not None:
        return memo
    parent = _op_parents(trace)
    parent.setflags(write=False)
    trace.memo[("op parents",)] = parent
    return parent


def _op_parents(trace: Trace) -> np.ndarray:
    ops = trace.ops
    n = len(ops)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent
    thread, _ = value_codes(trace, "ops.thread")
    order = thread_time_order(thread, ops.ts, ops.dur)
    start, th = ops.ts[order], thread[order]
    first_of_thread = np.searchsorted(th, th, side="left")  # sorted position where each op's thread begins
    size = 1 << max(1, (n - 1).bit_length())
    tree = np.full(2 * size, -np.inf)
    tree[size:size + n] = (ops.ts + ops.dur)[order]
    h = size // 2
    while h >= 1:
        tree[h:2 * h] = np.maximum(tree[2 * h:4 * h:2], tree[2 * h + 1:4 * h:2])
        h //= 2
    block = np.zeros(n, dtype=np.int64)  # the nearest earlier block with an end after the start; 0: none
    pending = np.arange(n)  # ops still searching (most find their block in the first few levels)
    node = pending + size
    while len(pending):
        left = (node & 1) == 1
        hit = np.zeros(len(pending), dtype=bool)
        hit[left] = tree[node[left] - 1] > start[pending[left]]
        block[pending[hit]] = node[hit] - 1
        node >>= 1
        keep = ~hit & (node > 1)
        pending, node = pending[keep], node[keep]
    sorted_i = np.flatnonzero(block > 0)
    node, q = block[sorted_i], start[sorted_i]
    for _ in range(size.bit_length()):  # down to a leaf: the rightmost end after the start in the block
        inner = node < size
        if not inner.any():
            break
        right = 2 * node[inner] + 1
        node[inner] = np.where(tree[right] > q[inner], right, right - 1)
    j = node - size
    same_thread = j >= first_of_thread[sorted_i]
    parent[order[sorted_i[same_thread]]] = order[j[same_thread]]
    return parent


def op_callers(trace: Trace) -> np.ndarray:
    """Each op's caller: its enclosing op (:func:`op_parents`), or at the top level its thread, as ``-1 - `` the
    thread's code, so that the top-level ops of one thread share a caller and those of two threads do not."""
    parent = op_parents(trace)
    return np.where(parent >= 0, parent, -1 - value_codes(trace, "ops.thread")[0])


def nearest_marked(parent: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Each op's nearest enclosing op (itself included) that is ``marked``, -1 where none is. Pointer jumping: each
    op's candidate is itself where marked, else its parent; a candidate neither marked nor -1 is replaced by its
    own candidate, all at once, so the distance covered doubles each pass (log2 of the deepest nesting passes)."""
    at = np.where(marked, np.arange(len(parent)), parent)
    pending = np.flatnonzero(at >= 0)
    pending = pending[~marked[at[pending]]]
    while len(pending):
        at[pending] = at[at[pending]]
        pending = pending[at[pending] >= 0]
        pending = pending[~marked[at[pending]]]
    return at


def rows_named(trace: Trace, names: Collection[str]) -> np.ndarray:
    """The rows of the op calls (ops and ranges) named one of ``names``, by start (ties in trace order)."""
    codes, distinct = value_codes(trace, "ops.name")
    wanted = [c for c, n in enumerate(distinct) if n in names]
    if not wanted:
        return np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(np.isin(codes, wanted))
    return rows[np.argsort(trace.ops.ts[rows], kind="stable")]


def op_table(trace: Trace) -> List[dict]:
    """Rows per op name, sorted by total CPU time (largest first)."""
    ops = trace.ops
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
    gpu_self = op_gpu_self(trace)
    kernels = np.bincount(launched_by[mine], minlength=n)[:n]
    gpu_total = op_gpu_time(trace)

    codes, distinct = value_codes(trace, "ops.name")
    m = len(distinct)
    count = np.bincount(codes, minlength=m)
    cpu_total = np.bincount(codes, weights=ops.dur, minlength=m)
    cpu_self = np.bincount(codes, weights=self_time, minlength=m)
    g_self = np.bincount(codes, weights=gpu_self, minlength=m)
    g_total = np.bincount(codes, weights=gpu_total, minlength=m)
    launches = np.bincount(codes, weights=kernels, minlength=m)
    _, first = np.unique(codes, return_index=True)
    rows = []
    for c, name in enumerate(distinct):
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


def op_gpu_time(trace: Trace) -> np.ndarray:
    """Each op call's GPU time (us): the GPU activities it launched and those of the ops it called. Computed once a
    trace (kept in :attr:`Trace.memo`, read-only): the op table and every table of op calls read it."""
    memo = trace.memo.get(("op gpu time",))
    if memo is None:
        memo = _subtree_sums(op_parents(trace), op_gpu_self(trace))
        memo.setflags(write=False)
        trace.memo[("op gpu time",)] = memo
    return memo


def op_gpu_self(trace: Trace, activities: Optional[np.ndarray] = None) -> np.ndarray:
    """Each op call's own GPU time (us): the GPU activities it launched itself (of those ``activities``, a mask over
    ``trace.gpu``, where given)."""
    launched_by = trace.gpu_op_row
    mine = launched_by >= 0 if activities is None else (launched_by >= 0) & activities
    return np.bincount(launched_by[mine], weights=trace.gpu.dur[mine], minlength=len(trace.ops))[:len(trace.ops)]


def autograd_nodes(trace: Trace) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The backward pass's autograd nodes (ops with a ``Fwd thread id`` above 0 and a ``Sequence number``: the node's
    ``evaluate_function`` range and the node op in it) and each op's innermost node (itself included, -1 where
    none); None where the ops lack the autograd fields. Computed once a trace (:attr:`Trace.memo`, read-only)."""
    key = ("autograd nodes",)
    if key not in trace.memo:
        ops = trace.ops
        found = None
        if len(ops.sequence_number) == len(ops) and len(ops.fwd_thread_id) == len(ops):
            node = (ops.fwd_thread_id > 0) & (ops.sequence_number >= 0)
            node_of = nearest_marked(op_parents(trace), node) if node.any() else np.full(len(ops), -1, dtype=np.int64)
            node.setflags(write=False)
            node_of.setflags(write=False)
            found = (node, node_of)
        trace.memo[key] = found
    return trace.memo[key]


def sequence_creators(trace: Trace) -> Dict[int, int]:
    """The forward op that created each autograd node: for each ``Sequence number``, the last op to start carrying
    it outside every backward node (:func:`autograd_nodes`) with no ``Fwd thread id`` (the number moves on when a
    node is created, so the ops before its creator carry it too); numbers that ops of several threads carry are
    ambiguous and left out. Empty where the ops lack the autograd fields. Computed once a trace
    (:attr:`Trace.memo`)."""
    key = ("sequence creators",)
    if key not in trace.memo:
        nodes = autograd_nodes(trace)
        found: Dict[int, int] = {}
        if nodes is not None:
            ops = trace.ops
            seq = ops.sequence_number
            rows = np.flatnonzero((seq >= 0) & (nodes[1] < 0) & (ops.fwd_thread_id <= 0))
            threads: Dict[int, set] = defaultdict(set)
            for r in rows[np.argsort(ops.ts[rows], kind="stable")].tolist():
                found[int(seq[r])] = r
                threads[int(seq[r])].add(ops.tid[r])
            found = {number: r for number, r in found.items() if len(threads[number]) == 1}
        trace.memo[key] = found
    return trace.memo[key]


def cpu_op_mask(trace: Trace) -> np.ndarray:
    """Which op calls are operators (``cpu_op``), not ranges: computed once a trace (:attr:`Trace.memo`, read-only)."""
    memo = trace.memo.get(("cpu op mask",))
    if memo is None:
        memo = np.fromiter(map(operator.eq, trace.ops.cat, repeat("cpu_op")), bool, len(trace.ops))
        memo.setflags(write=False)
        trace.memo[("cpu op mask",)] = memo
    return memo


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


def op_intervals(trace: Trace, matches: Callable[[str], Any]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The op calls (ops and profiler ranges) whose name ``matches`` (judged once per distinct name): their rows, and
    their starts and ends (us); those with unusable times (non-finite, negative durations) left out."""
    codes, names = value_codes(trace, "ops.name")
    matching = np.array([bool(matches(str(n))) for n in names], dtype=bool)
    rows = np.flatnonzero(matching[codes]) if matching.any() else np.zeros(0, dtype=np.int64)
    start, end = trace.ops.ts[rows], trace.ops.ts[rows] + trace.ops.dur[rows]
    keep = np.isfinite(start) & np.isfinite(end) & (end >= start)
    return rows[keep], start[keep], end[keep]
