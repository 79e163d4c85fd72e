"""torch.compile's compilation inside the profiled window (times in us).

Dynamo and inductor time their compile phases with profiler ranges named ``<phase> (dynamo_timed)`` (CUDA graph
trees time their recordings the same way: those are :mod:`.cuda_graphs`'s, not compilation); each frame
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

from .ops import op_intervals
from .steps import steps_holding
from .timeline import gpu_busy, idle_inside, union_length
from .trace import Trace

#: The ranges torch.compile's phases record (``dynamo_timed``), but CUDA graph trees' (their recordings are
#: :mod:`.cuda_graphs`'s: runtime work in the steady state, not compilation).
COMPILE_RANGE = re.compile(r"^(?!CUDAGraph|cudagraphify).+ \(dynamo_timed\)$")
#: One frame compiled by Dynamo (the range around the other phases).
FRAME_COMPILE = "_compile.compile_inner (dynamo_timed)"
#: The summary's figures (:func:`compile_summary`).
SUMMARY_KEYS = ("compile_frames", "compile_us", "compile_gpu_idle_us", "compile_steps", "compile_frames_after_first_step")


def compile_ranges(trace: Trace) -> Dict[str, Any]:
    """The compile ranges: ``start``, ``end`` (us) of every ``dynamo_timed`` range, and ``frames`` (the starts of
    the frame compiles); None for a trace without CPU ops."""
    if not len(trace.ops):
        return {"start": None, "end": None, "frames": None}
    rows, start, end = op_intervals(trace, COMPILE_RANGE.match)
    frame = np.array([trace.ops.name[r] == FRAME_COMPILE for r in rows.tolist()], dtype=bool)
    return {"start": start, "end": end, "frames": start[frame] if len(frame) else start}


def compile_summary(trace: Trace, ranges: Dict[str, Any], steps: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Totals of the compile ``ranges`` (:func:`compile_ranges`) over the trace and its profiled ``steps``
    (:func:`~.steps.step_table`); see the module's description."""
    start, end, frames = ranges["start"], ranges["end"], ranges["frames"]
    if start is None:
        return dict.fromkeys(SUMMARY_KEYS)
    idle = idle_inside(*gpu_busy(trace), start, end) if len(trace.gpu) else None  # inside the GPU window only
    host_us = union_length(start, end)[0] if len(start) else 0.0
    held, later = steps_holding(trace, steps, frames)
    return {"compile_frames": int(len(frames)), "compile_us": float(host_us), "compile_gpu_idle_us": idle,
            "compile_steps": held, "compile_frames_after_first_step": later}
