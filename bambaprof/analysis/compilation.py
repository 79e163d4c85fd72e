"""torch.compile's compilation inside the profiled window (times in us).

Dynamo and inductor time their compile phases with profiler ranges named ``<phase> (dynamo_timed)``; each frame
Dynamo compiles is one ``_compile.compile_inner (dynamo_timed)`` range around the rest. A trace that holds them
recorded compilation beside the steady state: its step times and GPU idle time include seconds of host work that
a warmed-up program does not do.

:func:`compile_summary` gives ``compile_frames`` (frames compiled: the ``_compile.compile_inner`` ranges),
``compile_us`` (the host's time in the compile ranges, overlapping ones once), ``compile_gpu_idle_us`` (the time
inside them, and inside the GPU window, that no GPU activity ran on any device; None without GPU activity),
``compile_steps`` (the profiled steps where a frame was compiled) and ``compile_frames_after_first_step`` (frames
compiled in a later step than the first: recompilation, where those of the first step are a missing warm-up);
both None without steps. Every figure None for a trace without CPU ops (the ranges could not show).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import numpy as np

from .timeline import idle_within, union_length
from .trace import Trace, value_codes

#: The ranges torch.compile's phases record (``dynamo_timed``).
COMPILE_RANGE = re.compile(r"^.+ \(dynamo_timed\)$")
#: One frame compiled by Dynamo (the range around the other phases).
FRAME_COMPILE = "_compile.compile_inner (dynamo_timed)"
#: The summary's figures (:func:`compile_summary`).
SUMMARY_KEYS = ("compile_frames", "compile_us", "compile_gpu_idle_us", "compile_steps", "compile_frames_after_first_step")


def compile_ranges(trace: Trace) -> Dict[str, Any]:
    """The compile ranges: ``start``, ``end`` (us) of every ``dynamo_timed`` range, and ``frames`` (the starts of
    the frame compiles); None for a trace without CPU ops."""
    if not len(trace.ops):
        return {"start": None, "end": None, "frames": None}
    codes, names = value_codes(trace, "ops.name")
    timed = np.array([bool(COMPILE_RANGE.match(str(n))) for n in names], dtype=bool)
    frame = np.array([str(n) == FRAME_COMPILE for n in names], dtype=bool)
    rows = np.flatnonzero(timed[codes]) if timed.any() else np.zeros(0, dtype=np.int64)
    start, end = trace.ops.ts[rows], trace.ops.ts[rows] + trace.ops.dur[rows]
    keep = np.isfinite(start) & np.isfinite(end) & (end >= start)
    rows, start, end = rows[keep], start[keep], end[keep]
    return {"start": start, "end": end, "frames": start[frame[codes[rows]]]}


def compile_summary(trace: Trace, ranges: Dict[str, Any], steps: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Totals of the compile ``ranges`` (:func:`compile_ranges`) over the trace and its profiled ``steps``
    (:func:`~.steps.step_table`); see the module's description."""
    start, end, frames = ranges["start"], ranges["end"], ranges["frames"]
    if start is None:
        return dict.fromkeys(SUMMARY_KEYS)
    gpu = trace.gpu
    idle = None
    if len(gpu):
        _, ms, me = union_length(gpu.ts, gpu.ts + gpu.dur)
        lo, hi = float(ms[0]), float(me[-1])
        _, cs, ce = union_length(np.clip(start, lo, hi), np.clip(end, lo, hi))
        idle = float(idle_within(ms, me, cs, ce).sum()) if len(cs) else 0.0
    host_us = union_length(start, end)[0] if len(start) else 0.0
    held = later = None
    if steps:
        t0 = trace.span_us[0] if np.isfinite(trace.span_us[0]) else 0.0
        bounds = [(s["start_us"] + t0, s["start_us"] + t0 + s["dur_us"]) for s in steps]
        index = [next((i for i, (a, b) in enumerate(bounds) if a <= t < b), -1) for t in frames.tolist()]
        held = len({i for i in index if i >= 0})
        later = sum(1 for i in index if i > 0)
    return {"compile_frames": int(len(frames)), "compile_us": float(host_us), "compile_gpu_idle_us": idle,
            "compile_steps": held, "compile_frames_after_first_step": later}
