"""The profiled steps of a trace: each ``ProfilerStep#<n>`` range that ``torch.profiler``'s schedule records
(``prof.step()``), with its start and duration.

A step's duration is the host's wall time from one ``prof.step()`` to the next (us): for a CPU-only job it is the
step's time, for a GPU job the time the host took to issue it (plus any waits on the GPU inside it). Its median is
the summary's ``step_us`` and ``compare``'s ``step_time``; a trace without steps has none (unknown).
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .timeline import gpu_busy, idle_within, union_length

if TYPE_CHECKING:
    from .trace import Trace


def step_table(trace: "Trace") -> List[Dict[str, Any]]:
    """One row per profiled step, by start: ``step`` (its range's name), ``start_us`` (from the trace's first
    event) and ``dur_us``; a step recorded on several threads counts once (its longest range)."""
    from .trace import PROFILER_STEP

    ops = trace.ops
    first = trace.span_us[0] if math.isfinite(trace.span_us[0]) else 0.0
    longest: Dict[str, tuple] = {}
    for i, name in enumerate(ops.name):
        if not PROFILER_STEP.match(name):
            continue
        ts, dur = float(ops.ts[i]), float(ops.dur[i])
        if not (math.isfinite(ts) and math.isfinite(dur)) or dur < 0:
            continue
        if name not in longest or dur > longest[name][1]:
            longest[name] = (ts, dur)
    rows = [{"step": name, "start_us": ts - first, "dur_us": dur} for name, (ts, dur) in longest.items()]
    return sorted(rows, key=lambda r: r["start_us"])


def median_step_us(steps: List[Dict[str, Any]]) -> Optional[float]:
    """The median duration of ``steps`` (us), None without any."""
    return statistics.median(r["dur_us"] for r in steps) if steps else None


def step_index(trace: "Trace", steps: List[Dict[str, Any]], t: np.ndarray) -> np.ndarray:
    """For each time ``t`` (us, on the trace's clock), the index of the profiled step of ``steps`` (:func:`step_table`,
    by start) holding it; -1 outside every step."""
    if not steps:
        return np.full(len(t), -1, dtype=np.int64)
    first = trace.span_us[0] if math.isfinite(trace.span_us[0]) else 0.0
    starts = np.array([s["start_us"] + first for s in steps])
    ends = starts + np.array([s["dur_us"] for s in steps])
    k = np.searchsorted(starts, t, side="right") - 1
    return np.where((k >= 0) & (t < ends[np.maximum(k, 0)]), k, -1)


def steps_holding(trace: "Trace", steps: List[Dict[str, Any]], t: np.ndarray) -> Tuple[Optional[int], Optional[int]]:
    """How many of the profiled ``steps`` hold one of the times ``t`` (us), and how many of those times fall after
    the first step; (None, None) without steps."""
    if not steps:
        return None, None
    index = step_index(trace, steps, t)
    return len(set(index[index >= 0].tolist())), int((index > 0).sum())


#: The step table's keys for the causes of :data:`.idle.CAUSES`, in their order.
CAUSE_KEYS = {"compilation": "compile_us", "CUDA graph recording": "cudagraph_record_us",
              "data loader": "data_loader_us", "allocation calls": "allocation_us", "synchronisations": "sync_us"}


def add_step_causes(trace: "Trace", steps: List[Dict[str, Any]],
                    causes: Sequence[Tuple[str, Optional[np.ndarray], Optional[np.ndarray]]]) -> None:
    """Give each row of ``steps`` (:func:`step_table`) the host time (us) inside each of ``causes`` ((name of
    :data:`CAUSE_KEYS`, interval starts, interval ends on the trace's clock), in priority order: an instant inside
    several goes to the first) within the step, under the cause's key; None where the cause's intervals are None
    (the trace cannot show it). Also ``gpu_idle_us``: the time within the step that no GPU activity ran on any
    device (None for a trace without GPU activity)."""
    first = trace.span_us[0] if math.isfinite(trace.span_us[0]) else 0.0
    ms, me = gpu_busy(trace) if len(trace.gpu) else (None, None)
    by_start = [_by_start(starts, ends) for _, starts, ends in causes]
    for row in steps:
        a = row["start_us"] + first
        b = a + row["dur_us"]
        row["gpu_idle_us"] = None if ms is None else float(idle_within(ms, me, np.array([a]), np.array([b]))[0])
        taken_s: List[np.ndarray] = []
        taken_e: List[np.ndarray] = []
        before = 0.0
        for (name, _, _), sorted_ in zip(causes, by_start):
            if sorted_ is None:
                row[CAUSE_KEYS[name]] = None
                continue
            starts, ends, reach = sorted_
            lo, hi = np.searchsorted(reach, a, side="right"), np.searchsorted(starts, b, side="left")
            taken_s.append(np.clip(starts[lo:hi], a, b))  # those that reach past a and start before b
            taken_e.append(np.clip(ends[lo:hi], a, b))
            covered, _, _ = union_length(np.concatenate(taken_s), np.concatenate(taken_e))
            row[CAUSE_KEYS[name]] = max(covered - before, 0.0)
            before = max(covered, before)


def _by_start(starts: Optional[np.ndarray], ends: Optional[np.ndarray]) -> Optional[Tuple[np.ndarray, ...]]:
    """Intervals sorted by start, with the running maximum of their ends (``reach``: non-decreasing), so that the
    ones overlapping a step are one slice found by two binary searches; None for an unknown cause."""
    if starts is None or ends is None:
        return None
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, dtype=float)[order], np.asarray(ends, dtype=float)[order]
    return s, e, np.maximum.accumulate(e) if len(e) else e
