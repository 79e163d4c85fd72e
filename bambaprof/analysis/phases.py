"""Phases: GPU time attributed to the code that launched it, through the profiler's annotated ranges.

Every GPU activity is linked to its launch (the runtime call with the same ``correlation``, else the CPU op
with the same ``External id``) and attributed to the innermost ``user_annotation`` range
(``torch.profiler.record_function``) open on the launching thread at the launch's start. The range's *path*
is the names of the ranges enclosing it, outermost first, joined by ``/`` (``layer.0/mixer/ssd``). The
profiler's own step ranges (``ProfilerStep#<n>``) and bambaprof's clock marker are not phases. Work of a
backward pass, which runs outside the forward ranges (on autograd's thread), goes to the phase of the forward op
whose autograd node launched it (the node's ``Sequence number``), marked :data:`BACKWARD`
(``layer.0/mixer (backward)``). Activities no range encloses are the phase :data:`UNATTRIBUTED`, shown, never
dropped.

Two tables: ``phases`` by full path, and ``phase_kinds`` with layer numbers folded (``layer.*/mixer/ssd``),
i.e. summed over layers. Per row: GPU time (summed activity durations, us), its share of all GPU activity
time (%), activity count, known bytes and the share of time they cover, roofline floor and excess (us) of
the kernels whose floor is known. Each kernel row also gets its main ``phase``: the folded phase holding
most of its time.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import defaultdict
from itertools import repeat
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ops import cpu_op_mask, sequence_creators
from .timeline import launch_rows
from .trace import PROFILER_MARKERS, Trace

if TYPE_CHECKING:
    from .traffic import TrafficColumns

UNATTRIBUTED = "(no range)"
#: The most ranges a path names: past it, the outermost and innermost halves with "…" between (a hostile trace of
#: thousands of nested ranges would otherwise make each kernel's path, and its time, as long as its depth).
MAX_PATH_RANGES = 64
#: Ranges that are not phases: the profiler's steps and bambaprof's markers.
NOT_PHASES = PROFILER_MARKERS
_LAYER = re.compile(r"\blayer\.\d+\b")


#: Ranges per thread: ``{tid: (starts, ends, names)}``, sorted by start, outer before inner on ties.
Ranges = Dict[Any, Tuple[np.ndarray, np.ndarray, List[str]]]


def ranges_by_thread(ts: np.ndarray, dur: np.ndarray, names: Any, tids: Sequence[Any],
                     rows: Sequence[int]) -> Ranges:
    """The given ``rows`` of a table of ranges (start and duration in us, name, thread) grouped by thread,
    each thread's sorted by start (outer before inner on ties). ``names[row]`` is a range's name."""
    per: Dict[Any, List[int]] = defaultdict(list)
    for i in rows:
        per[tids[i]].append(i)
    out = {}
    for tid, members in per.items():
        r = np.asarray(members)
        order = np.lexsort((-dur[r], ts[r]))
        r = r[order]
        out[tid] = (ts[r], ts[r] + dur[r], [names[i] for i in r.tolist()])
    return out


def annotation_ranges(trace: Trace) -> Ranges:
    """The trace's ``user_annotation`` ranges (``record_function``) by thread, the profiler's own left out;
    computed once a trace."""
    if "annotation_ranges" not in trace.memo:
        ops = trace.ops
        annotation = np.fromiter(map(operator.eq, ops.cat, repeat("user_annotation")), bool, len(ops))
        rows = [i for i in np.flatnonzero(annotation).tolist() if not NOT_PHASES.match(ops.name[i])]
        trace.memo["annotation_ranges"] = ranges_by_thread(ops.ts, ops.dur, ops.name, ops.tid, rows)
    return trace.memo["annotation_ranges"]


def _paths_at(ranges: tuple, times: Sequence[float], unattributed: str) -> Dict[float, str]:
    """The path of the ranges open at each of ``times`` on one thread (outermost first), in one sweep: ranges
    enter a stack in start order and leave it once ended, so each range and each time is visited once."""
    starts, ends, names = ranges
    out: Dict[float, str] = {}
    stack: List[int] = []
    k = 0
    for t in sorted(set(times)):
        while k < len(starts) and starts[k] <= t:
            while stack and ends[stack[-1]] < starts[k]:
                stack.pop()
            stack.append(k)
            k += 1
        while stack and ends[stack[-1]] < t:
            stack.pop()
        if len(stack) > MAX_PATH_RANGES:
            half = MAX_PATH_RANGES // 2
            outer = [names[i] for i in stack[:half] if ends[i] >= t]
            inner = [names[i] for i in stack[-half:] if ends[i] >= t]
            out[t] = "/".join(outer + ["…"] + inner)
            continue
        open_ = [i for i in stack if ends[i] >= t]  # a range that overlaps without nesting may sit below the top
        out[t] = "/".join(names[i] for i in open_) if open_ else unattributed
    return out


def activity_paths(trace: Trace, rows: Optional[Sequence[int]] = None, launch: Optional[np.ndarray] = None,
                   ranges: Optional[Ranges] = None, unattributed: str = UNATTRIBUTED) -> List[str]:
    """The phase path of every GPU activity row, or of the given ``rows`` only, in their order (see the module
    docstring). ``launch``: the activities' launch rows (:func:`~bambaprof.analysis.timeline.launch_rows`)
    where the caller has them. ``ranges``: other ranges than the annotations (the path of nn.Module calls,
    :mod:`~bambaprof.analysis.modules`), ``unattributed`` the path of activities none of them encloses."""
    gpu, rt, ops = trace.gpu, trace.runtime, trace.ops
    rows = range(len(gpu)) if rows is None else rows
    ranges = annotation_ranges(trace) if ranges is None else ranges
    if not ranges:
        return [unattributed] * len(rows)
    launch = launch_rows(trace) if launch is None else launch
    op_row = trace.gpu_op_row
    where: List[Optional[tuple]] = []  # (thread, launch time) of each activity, None when unknown
    rows_idx = np.asarray(list(rows), dtype=np.int64)
    for j, row in zip(launch[rows_idx].tolist(), op_row[rows_idx].tolist()):
        if j >= 0:
            where.append((rt.tid[j], float(rt.ts[j])))
        else:
            where.append((ops.tid[row], float(ops.ts[row])) if row >= 0 else None)
    known = [w for w in where if w is not None]
    found = iter(paths_at(ranges, known, unattributed))
    out = [next(found) if w is not None else unattributed for w in where]
    left = [i for i, path in enumerate(out) if path == unattributed and where[i] is not None]
    if left:
        for i, path in zip(left, _backward_paths(trace, ranges, [w for w in (where[i] for i in left) if w],
                                                 unattributed)):
            out[i] = path
    return out


def paths_at(ranges: Ranges, where: Sequence[Tuple[Any, float]], unattributed: str = UNATTRIBUTED) -> List[str]:
    """The path of the ranges open at each (thread, time) of ``where`` (outermost first), ``unattributed``
    where none is."""
    times: Dict[Any, List[float]] = defaultdict(list)
    for tid, t in where:
        if tid in ranges:
            times[tid].append(t)
    found = {tid: _paths_at(ranges[tid], ts, unattributed) for tid, ts in times.items()}
    return [found[tid][t] if tid in found else unattributed for tid, t in where]


class _RowNames:
    """Names that are the row numbers themselves (as text), for ranges whose innermost row is wanted."""

    def __getitem__(self, i: int) -> str:
        return str(i)


def _innermost(rows_by_thread: Ranges, where: Sequence[Tuple[Any, float]]) -> List[int]:
    """The row of the innermost range open at each (thread, time) of ``where``, -1 where none is; the ranges
    named by their rows (:class:`_RowNames`)."""
    return [int(path.rsplit("/", 1)[-1]) if path else -1 for path in paths_at(rows_by_thread, where, "")]


def innermost_op_at(trace: Trace, where: Sequence[Tuple[Any, float]]) -> List[Optional[str]]:
    """The innermost CPU operator (``cpu_op``) open at each (thread, time) of ``where``, ``None`` where none
    is."""
    ops = trace.ops
    rows = np.flatnonzero(cpu_op_mask(trace)).tolist()
    found = _innermost(ranges_by_thread(ops.ts, ops.dur, _RowNames(), ops.tid, rows), where)
    return [ops.name[r] if r >= 0 else None for r in found]


#: The mark of a backward pass's work in a path: the forward path of its autograd node, then this.
BACKWARD = " (backward)"


def _backward_paths(trace: Trace, ranges: Ranges, where: Sequence[Tuple[Any, float]],
                    unattributed: str) -> List[str]:
    """For launches (thread, time) that no range encloses: the path of the forward op whose autograd node ran
    them, marked :data:`BACKWARD`, else ``unattributed``.

    Backward nodes are the ops with a ``Fwd thread id`` above 0; each carries its forward op's ``Sequence
    number``. A launch belongs to the innermost node open on its thread; the node's forward op is its creator
    (:func:`~.ops.sequence_creators`: the last op to start with its sequence number outside every node; a number
    several threads' forward ops carry is ambiguous, and left unattributed); that op's path is the one its start
    lies in."""
    ops = trace.ops
    seq, fwd = ops.sequence_number, ops.fwd_thread_id
    nodes = np.flatnonzero((fwd > 0) & (seq >= 0)) if len(seq) else np.zeros(0, dtype=np.int64)
    if not len(nodes):
        return [unattributed] * len(where)
    node_ranges = ranges_by_thread(ops.ts, ops.dur, _RowNames(), ops.tid, nodes.tolist())
    node_of = _innermost(node_ranges, where)
    wanted = {int(seq[n]) for n in node_of if n >= 0}
    if not wanted:
        return [unattributed] * len(where)
    unique = {number: r for number, r in sequence_creators(trace).items() if number in wanted}
    found = paths_at(ranges, [(ops.tid[r], float(ops.ts[r])) for r in unique.values()], unattributed)
    path_of = {number: path + BACKWARD for number, path in zip(unique, found) if path != unattributed}
    return [path_of.get(int(seq[n]), unattributed) if n >= 0 else unattributed for n in node_of]


def fold_layers(path: str) -> str:
    """``layer.3/mixer/ssd`` -> ``layer.*/mixer/ssd``: the same phase of every layer."""
    return _LAYER.sub("layer.*", path)


def phase_tables(trace: Trace, kernels: Sequence[Dict[str, Any]], names: Tuple[np.ndarray, List[str]],
                 traffic: "TrafficColumns") -> Dict[str, List[dict]]:
    """``phases`` and ``phase_kinds`` rows (see the module docstring), largest GPU time first; each kernel row
    gets its main ``phase``.

    ``kernels`` are the kernel table's rows, ``names`` each activity's row name in it as
    :func:`~bambaprof.analysis.kernels.activity_names` gives them (a phase's floor is its share of each
    kernel's floor, by time) and ``traffic`` each activity's bytes where known."""
    return path_tables(trace, kernels, names, traffic, activity_paths(trace), fold_layers, "phase", UNATTRIBUTED)


def path_tables(trace: Trace, kernels: Sequence[Dict[str, Any]], names: Tuple[np.ndarray, List[str]],
                traffic: "TrafficColumns", activity_path: Sequence[str], fold: Callable[[str], str], key: str,
                unattributed: str) -> Dict[str, List[dict]]:
    """GPU time by the path of every activity (``activity_path``, one per GPU activity row): rows by path
    (table ``<key>s``) and by folded path (``<key>_kinds``, ``fold`` mapping a path to its kind), each
    row's path under ``key``; each kernel row gets ``key``: the folded path holding most of its time."""
    gpu = trace.gpu
    n = len(gpu)
    total = float(gpu.dur.sum())
    dur = np.asarray(gpu.dur, dtype=np.float64)
    # each activity's path as a code (few distinct paths, many activities), its kernel row, bytes and floor share
    path_code: Dict[str, int] = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(path_code.__getitem__, activity_path), dtype=np.int64, count=n)
    paths = list(path_code)
    row_of = {k["name"]: r for r, k in enumerate(kernels)}
    name_codes, distinct = names
    row_by_code = np.fromiter(map(row_of.get, distinct, repeat(-1)), dtype=np.int64, count=len(distinct))
    krow = row_by_code[name_codes]
    known = traffic.known
    nbytes = np.where(known, traffic.bytes, 0.0)
    per_us = np.array([k["floor_us"] / k["total_us"] if k.get("floor_us") is not None and k["total_us"] > 0
                       else np.nan for k in kernels] + [np.nan], dtype=np.float64)  # floor per us of each kernel
    floor_rate = per_us[krow]  # krow -1 reads the trailing NaN
    judged = ~np.isnan(floor_rate)

    folded_code: Dict[str, int] = {}
    folded = np.array([folded_code.setdefault(fold(p), len(folded_code)) for p in paths] or [0], dtype=np.int64)
    kinds = folded[codes] if n else codes
    # each kernel's main path: the folded path where most of its time is
    if len(kernels) and n:
        has = krow >= 0
        pair = krow[has] * max(len(folded_code), 1) + kinds[has]
        uniq, inverse = np.unique(pair, return_inverse=True)
        spent = np.bincount(inverse, weights=dur[has])
        best: Dict[int, tuple] = {}
        for pair_code, us in zip(uniq.tolist(), spent.tolist()):
            r, f = divmod(pair_code, max(len(folded_code), 1))
            if r not in best or us > best[r][1]:
                best[r] = (f, us)
        folded_names = list(folded_code)
        for r, k in enumerate(kernels):
            k[key] = folded_names[best[r][0]] if r in best else None
    else:
        for k in kernels:
            k[key] = None

    tables = {}
    for table, group, labels in ((f"{key}s", codes, paths), (f"{key}_kinds", kinds, list(folded_code))):
        m = len(labels)
        gpu_us = np.bincount(group, weights=dur, minlength=m)
        count = np.bincount(group, minlength=m)
        bytes_ = np.bincount(group, weights=nbytes, minlength=m)
        bytes_us = np.bincount(group, weights=np.where(known, dur, 0.0), minlength=m)
        with np.errstate(over="ignore"):  # a hostile trace's huge duration: an infinite floor, not a warning
            floor = np.bincount(group, weights=np.where(judged, np.nan_to_num(floor_rate) * dur, 0.0), minlength=m)
        judged_us = np.bincount(group, weights=np.where(judged, dur, 0.0), minlength=m)
        in_table = krow >= 0
        names_per = np.bincount(np.unique(group[in_table] * (len(kernels) + 1) + krow[in_table]) // (len(kernels) + 1),
                                minlength=m)
        rows = []
        for g, label in enumerate(labels):
            if count[g] == 0:
                continue
            us = float(gpu_us[g])
            row: Dict[str, Any] = {key: label, "gpu_us": us, "count": int(count[g]),
                   "floor_us": float(floor[g]) if judged_us[g] > 0 else None,
                   "bytes": float(bytes_[g]) if bytes_us[g] > 0 else None, "kernel_names": int(names_per[g]),
                   "share_pct": 100.0 * us / total if total > 0 else None}
            row["excess_us"] = float(judged_us[g]) - row["floor_us"] if row["floor_us"] is not None else None
            row["floor_coverage_pct"] = 100.0 * float(judged_us[g]) / us if us > 0 else None
            row["bytes_coverage_pct"] = 100.0 * float(bytes_us[g]) / us if us > 0 else None
            row["depth"] = 0 if label == unattributed else label.count("/")
            rows.append(row)
        rows.sort(key=lambda r: r["gpu_us"], reverse=True)
        tables[table] = rows
    return tables


def coverage_pct(phases: Sequence[Dict[str, Any]], key: str = "phase",
                 unattributed: str = UNATTRIBUTED) -> Optional[float]:
    """The share (%) of GPU activity time that some range encloses (rows of :func:`path_tables`)."""
    total = sum(r["gpu_us"] for r in phases)
    if total <= 0:
        return None
    return 100.0 * sum(r["gpu_us"] for r in phases if r[key] != unattributed) / total
