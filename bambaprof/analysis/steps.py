"""The profiled steps of a trace: each ``ProfilerStep#<n>`` range that ``torch.profiler``'s schedule records
(``prof.step()``), with its start and duration.

A step's duration is the host's wall time from one ``prof.step()`` to the next (us): for a CPU-only job it is the
step's time, for a GPU job the time the host took to issue it (plus any waits on the GPU inside it). Its median is
the summary's ``step_us`` and ``compare``'s ``step_time``; a trace without steps has none (unknown).
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

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
