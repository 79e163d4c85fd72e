"""Host-device synchronisations: where the host waited for the GPU, and what the GPU lost to it (times in us).

A *synchronising call* blocks the host until GPU work is done: device, stream and event synchronisation
(``cudaDeviceSynchronize``, ``cudaStreamSynchronize``, ``cudaEventSynchronize``, their driver ``cu*`` and HIP
``hip*`` forms, Intel's ``urQueueFinish`` and ``urEventWait``) and the synchronous copies (``cudaMemcpy`` and
``hipMemcpy`` without ``Async``, the driver's ``cuMemcpy*`` without ``Async``). PyTorch makes one for every
``.item()``, ``.cpu()``, ``.tolist()``, printed tensor and data-dependent shape (``nonzero``, boolean indexing),
and for ``torch.cuda.synchronize()``.

Only calls inside the GPU window (after the first GPU activity starts, before the last one ends) count: the
profiler's own synchronisations at the start and end of a trace fall outside it. For each call:

- *host blocked*: its duration, the time the host could not run ahead of the GPU;
- *drain*: for a call begun while GPU work was running (it waited for that work), when no GPU activity is running
  on any device as it returns (the GPU emptied its queue), the time until the next GPU activity starts: the GPU
  waits while the host launches anew. A call made with the GPU already idle waited for nothing and emptied
  nothing: the idle time after it is the host's (``host-bound`` judges it), and its drain is 0;
- its *operator*: the CPU op it was made under (its ``External id``; ``aten::_local_scalar_dense`` for
  ``.item()``), else none.

:func:`sync_table` groups them by (call, operator), most drain first.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import numpy as np

from .timeline import drain_caused, gpu_busy
from .trace import Trace, first_row_with, value_codes

#: Runtime and driver calls that block the host until GPU work is done.
SYNC_CALLS = re.compile(
    r"^(?:cuda|hip)(?:Device|Stream|Event)Synchronize$|^cu(?:Ctx|Stream|Event)Synchronize$"
    r"|^(?:cuda|hip)Memcpy(?:2D|3D|Peer|ToSymbol|FromSymbol|DtoH|HtoD|DtoD)?$|^cuMemcpy(?:DtoH|HtoD|DtoD|2D|3D|Peer)?(?:_v2)?$"
    r"|^urQueueFinish$|^urEventWait$")


def sync_calls(trace: Trace) -> Dict[str, np.ndarray]:
    """The synchronising calls inside the GPU window: ``rows`` (runtime rows), ``start``, ``end`` and ``emptied``
    (us: each one's drain, see the module's description: where GPU work was running as the call began, the idle time
    after it until the next activity, :func:`~.timeline.drain_caused`; else 0); empty arrays where there are none."""
    rt, gpu = trace.runtime, trace.gpu
    none = np.zeros(0)
    calls = {"rows": np.zeros(0, dtype=np.int64), "start": none, "end": none, "emptied": none}
    if len(rt) == 0 or len(gpu) == 0:
        return calls
    codes, names = value_codes(trace, "runtime.name")
    syncing = np.array([bool(SYNC_CALLS.match(str(n))) for n in names], dtype=bool)
    if not syncing.any():
        return calls
    rows = np.flatnonzero(syncing[codes])
    start, end = rt.ts[rows], rt.ts[rows] + rt.dur[rows]
    first, last = float(gpu.ts.min()), float((gpu.ts + gpu.dur).max())
    inside = (start > first) & (end < last)
    rows, start, end = rows[inside], start[inside], end[inside]
    ms, me = gpu_busy(trace)
    return {"rows": rows, "start": start, "end": end, "emptied": drain_caused(ms, me, start, end)}


def sync_table(trace: Trace, calls: Optional[Dict[str, np.ndarray]] = None) -> List[Dict[str, Any]]:
    """Synchronising calls inside the GPU window (``calls``, :func:`sync_calls`, read when not given), grouped by
    (call, operator): ``count``, ``host_blocked_us`` (summed durations), ``drain_us`` (summed GPU drains the calls
    caused: ``emptied``), ``drains`` (calls that waited for running work and left the GPU empty); most drain first
    (see the module's description)."""
    calls = calls if calls is not None else sync_calls(trace)
    rows, start, end, drain = calls["rows"], calls["start"], calls["end"], calls["emptied"]
    if not len(rows):
        return []
    rt = trace.runtime
    op_rows = call_op_rows(trace, rows)
    groups: Dict[tuple, Dict[str, Any]] = {}
    for i, row in enumerate(rows.tolist()):
        op = trace.ops.name[op_rows[i]] if op_rows[i] >= 0 else None
        g = groups.setdefault((rt.name[row], op), {"call": rt.name[row], "op": op, "count": 0, "host_blocked_us": 0.0,
                                                   "drain_us": 0.0, "drains": 0})
        g["count"] += 1
        g["host_blocked_us"] += float(end[i] - start[i])
        g["drain_us"] += float(drain[i])
        g["drains"] += int(drain[i] > 0)
    return sorted(groups.values(), key=lambda g: (-g["drain_us"], -g["count"], g["call"], g["op"] or ""))


def call_op_rows(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """For each runtime call row, the row of the CPU op carrying its ``External id`` (the innermost op that
    made it); -1 when none does."""
    ext = trace.ops.external_id
    if len(ext) == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    return first_row_with(ext, np.flatnonzero(ext >= 0), trace.runtime.external_id[rows])


def syncs_known(trace: Trace) -> bool:
    """Whether the trace could show a synchronising call: it holds runtime or driver calls, or no GPU work at all.
    A trace of GPU activity alone (kernels without the host's calls: Kineto without the CPU activity, rocprofv3
    without ``--hip-trace``, an Nsight Systems export without CUDA API tracing) cannot: its count of zero would
    be a guess."""
    return len(trace.runtime) > 0 or len(trace.gpu) == 0


def sync_summary(rows: List[Dict[str, Any]], known: bool = True) -> Dict[str, Optional[float]]:
    """Totals of :func:`sync_table`'s rows: ``sync_count``, ``sync_host_blocked_us``, ``sync_drain_us``; all
    ``None`` where they are not ``known`` (:func:`syncs_known`)."""
    if not known:
        return dict.fromkeys(("sync_count", "sync_host_blocked_us", "sync_drain_us"))
    return {"sync_count": sum(r["count"] for r in rows),
            "sync_host_blocked_us": sum(r["host_blocked_us"] for r in rows),
            "sync_drain_us": sum(r["drain_us"] for r in rows)}
