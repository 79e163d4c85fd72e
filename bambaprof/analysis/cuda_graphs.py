"""CUDA graphs recorded inside the profiled window, and those replayed (times in us).

A CUDA graph pays its recording once (a capture of every launch, then ``cudaGraphInstantiate``: milliseconds of
host time while the GPU waits) so that each replay costs one launch. Recordings inside the steady state undo that:
CUDA graph trees (``torch.compile(mode="reduce-overhead")``) record a new graph for every new input shape and
whenever a static input moves, and code that captures by hand may capture again each step.

Two ways a trace shows a recording:

- CUDA graph trees time each recording with a profiler range, ``CUDAGraphNode.record (dynamo_timed)``
  (:data:`TREE_RECORD`);
- any capture, by hand (``torch.cuda.graph``), by a server (vLLM, SGLang) or by the trees, calls
  ``cudaStreamBeginCapture`` ... ``cudaStreamEndCapture`` and then instantiates the graph
  (:data:`BEGIN_CAPTURE`, :data:`INSTANTIATE`; HIP's and the driver API's names too). A capture is counted
  from its begin call to the end of the first instantiation after it on its thread (to its end-capture call where
  none follows), and once: a capture inside a tree's range is that recording.

Replays are the graph launches (``cudaGraphLaunch``, :data:`REPLAY`). :func:`cuda_graph_summary` gives
``cudagraph_records`` (recordings), ``cudagraph_record_us`` (their host time, overlapping ones once),
``cudagraph_record_gpu_idle_us`` (the time inside them, and inside the GPU window, that no GPU activity ran; None
without GPU activity), ``cudagraph_record_steps`` (profiled steps holding a recording's start) and
``cudagraph_records_after_first_step`` (recordings begun after the first profiled step: re-recording in the steady
state; both None without steps), ``cudagraph_replays`` (graph launches), and ``cudagraph_record_kinds`` (how the
recordings were found: ``cudagraph trees`` and ``capture``). The counts are None for a trace without CPU ops or
runtime calls, where recordings could not show.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import numpy as np

from .ops import op_intervals
from .steps import steps_holding
from .timeline import gpu_busy, idle_inside, union_length
from .trace import Trace, value_codes

#: The range CUDA graph trees put around each recording.
TREE_RECORD = "CUDAGraphNode.record (dynamo_timed)"
#: Runtime and driver calls that begin and end a stream capture, instantiate a graph, and replay one.
BEGIN_CAPTURE = re.compile(r"^(?:cuda|hip|cu)StreamBeginCapture")
END_CAPTURE = re.compile(r"^(?:cuda|hip|cu)StreamEndCapture")
INSTANTIATE = re.compile(r"^(?:cuda|hip|cu)GraphInstantiate")
REPLAY = re.compile(r"^(?:cuda|hip|cu)GraphLaunch")
#: How a recording was found.
TREES, CAPTURE = "cudagraph trees", "capture"
#: The summary's figures (:func:`cuda_graph_summary`).
SUMMARY_KEYS = ("cudagraph_records", "cudagraph_record_us", "cudagraph_record_gpu_idle_us", "cudagraph_record_steps",
                "cudagraph_records_after_first_step", "cudagraph_replays", "cudagraph_record_kinds")


def cuda_graph_recordings(trace: Trace) -> Dict[str, Any]:
    """The recordings: ``start``, ``end`` (us) and ``kind`` (:data:`TREES` or :data:`CAPTURE`) of each, by start,
    and ``replays`` (graph launches); None where the trace holds neither CPU ops nor runtime calls."""
    if not len(trace.ops) and not len(trace.runtime):
        return {"start": None, "end": None, "kind": None, "replays": None}
    _, t_start, t_end = op_intervals(trace, TREE_RECORD.__eq__) if len(trace.ops) else (None, np.zeros(0),
                                                                                         np.zeros(0))
    c_start, c_end, replays = _captures(trace)
    if len(c_start) and len(t_start):  # a capture inside a tree's recording is that recording
        order = np.argsort(t_start, kind="stable")
        ts, te = t_start[order], np.maximum.accumulate(t_end[order])
        k = np.searchsorted(ts, c_start, side="right") - 1
        inside = (k >= 0) & (c_start <= te[np.maximum(k, 0)])
        c_start, c_end = c_start[~inside], c_end[~inside]
    start = np.concatenate([t_start, c_start])
    end = np.concatenate([t_end, c_end])
    kind = np.array([TREES] * len(t_start) + [CAPTURE] * len(c_start), dtype=object)
    order = np.argsort(start, kind="stable")
    return {"start": start[order], "end": end[order], "kind": kind[order], "replays": replays}


def _captures(trace: Trace):
    """Each capture by its runtime calls: starts and ends (us), and the number of graph launches."""
    rt = trace.runtime
    if not len(rt):
        return np.zeros(0), np.zeros(0), 0
    codes, names = value_codes(trace, "runtime.name")
    role = np.array([0 if BEGIN_CAPTURE.match(str(n)) else 1 if END_CAPTURE.match(str(n)) else
                     2 if INSTANTIATE.match(str(n)) else 3 if REPLAY.match(str(n)) else -1 for n in names],
                    dtype=np.int64)[codes] if len(names) else np.zeros(0, dtype=np.int64)
    replays = int((role == 3).sum())
    usable = np.isfinite(rt.ts) & np.isfinite(rt.dur) & (rt.dur >= 0)
    starts: List[float] = []
    ends: List[float] = []
    open_at: Dict[Any, int] = {}  # thread -> index of its capture still waiting for its end
    waiting: Dict[Any, int] = {}  # thread -> index of its capture ended, waiting for an instantiation
    rows = np.flatnonzero((role >= 0) & (role <= 2) & usable)
    for r in rows[np.argsort(rt.ts[rows], kind="stable")].tolist():
        tid, end = rt.tid[r], float(rt.ts[r] + rt.dur[r])
        if role[r] == 0:
            waiting.pop(tid, None)
            open_at[tid] = len(starts)
            starts.append(float(rt.ts[r]))
            ends.append(end)
        elif role[r] == 1 and tid in open_at:
            i = open_at.pop(tid)
            ends[i] = max(ends[i], end)
            waiting[tid] = i
        elif role[r] == 2 and tid in waiting:
            i = waiting.pop(tid)
            ends[i] = max(ends[i], end)
    return np.array(starts), np.array(ends), replays


def cuda_graph_summary(trace: Trace, recordings: Dict[str, Any], steps: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Totals of the ``recordings`` (:func:`cuda_graph_recordings`) over the trace and its profiled ``steps``
    (:func:`~.steps.step_table`); see the module's description."""
    start, end, kind = recordings["start"], recordings["end"], recordings["kind"]
    if start is None:
        return dict.fromkeys(SUMMARY_KEYS)
    idle = idle_inside(*gpu_busy(trace), start, end) if len(trace.gpu) else None
    held, later = steps_holding(trace, steps, start)
    kinds = sorted(set(kind.tolist()))
    return {"cudagraph_records": int(len(start)), "cudagraph_record_us": float(union_length(start, end)[0]),
            "cudagraph_record_gpu_idle_us": idle, "cudagraph_record_steps": held,
            "cudagraph_records_after_first_step": later, "cudagraph_replays": recordings["replays"],
            "cudagraph_record_kinds": ", ".join(kinds) if kinds else None}
