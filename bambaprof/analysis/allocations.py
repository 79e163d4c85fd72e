"""Memory allocation calls on the host: device and pinned memory taken from or given back to the driver while
GPU work runs, and what the GPU lost to them (times in us).

PyTorch's caching allocators keep the memory they got: once a step's tensors have been allocated, later steps
reuse it and make no driver call. A steady-state step that still calls the driver grows the pool (shapes that
change, tensors kept alive across steps), or gives memory back (``torch.cuda.empty_cache()``, or an allocation
that failed and freed the cache to retry it), or pins host memory anew. Those calls are slow (a free waits for
the whole device), and the host launches nothing while it is in one.

*Allocation calls* (:data:`ALLOCATION_KINDS`): the CUDA runtime's and driver's, HIP's and Intel's Unified
Runtime's calls that allocate or free device, managed or pinned host memory, and the virtual-memory calls that
map and unmap it (``cuMemCreate``, ``cuMemMap``, ``cuMemUnmap``, ...: PyTorch's ``expandable_segments``). A call
made inside another one on its thread (a driver call under the runtime's) counts once, as the outer call.

Only calls inside the GPU window (after the first GPU activity starts, before the last one ends) count, as for
synchronisations (:mod:`.syncs`). For each call:

- *host blocked*: its duration;
- *GPU idle*: the time no GPU activity ran, on any device, from the call's start until it returned (the host,
  blocked in it, launched nothing); for a free, which waits for the device's work first (``cudaFree``
  synchronises; the stream-ordered ``cudaFreeAsync`` does not), begun while GPU work was still running, also the
  time until the next activity started if nothing was running when it returned (the drain after it, as after a
  synchronisation; a free made while the GPU was already idle emptied nothing). Calls whose intervals overlap
  count that time once (:func:`allocation_summary`);
- its *operator*: the CPU op it was made under (its ``External id``: ``aten::empty_strided`` for a tensor's
  memory), else none;
- its *step*: the profiled step (``ProfilerStep#<n>``) it was made in, where the trace has steps.

:func:`allocation_table` groups them by (call, operator), most GPU idle first.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .steps import step_index
from .syncs import call_op_rows
from .timeline import drain_caused, gpu_busy, idle_inside, idle_within
from .trace import Trace, value_codes

#: The allocation calls by what they do: (pattern of the call's name, action, memory). Action ``allocate`` or
#: ``free``; memory ``device`` (managed too), ``stream-ordered`` (``cudaMallocAsync``, ``cudaFreeAsync``: a
#: driver pool, per tensor under PyTorch's ``backend:cudaMallocAsync``; they do not wait for the device),
#: ``pinned host`` or ``mapping`` (virtual-memory mapping of device memory). Names without the version suffix
#: Nsight Systems gives them (``cudaMalloc_v3020``).
ALLOCATION_KINDS: Tuple[Tuple[str, str, str], ...] = (
    (r"(?:cuda|hip)Malloc(?:Pitch|3D|Managed)?|hipExtMallocWithFlags"
     r"|cuMemAlloc(?:Pitch|Managed)?(?:_v2)?|urUSM(?:Device|Shared)Alloc", "allocate", "device"),
    (r"(?:cuda|hip)Free|cuMemFree(?:_v2)?", "free", "device"),
    (r"(?:cuda|hip)Malloc(?:FromPool)?Async|cuMemAlloc(?:FromPool)?Async(?:_v2)?", "allocate", "stream-ordered"),
    (r"(?:cuda|hip)FreeAsync|cuMemFreeAsync(?:_v2)?", "free", "stream-ordered"),
    (r"urUSMFree", "free", "device or host"),
    (r"cudaHostAlloc|cudaMallocHost|cudaHostRegister|hipHostMalloc|hipMallocHost|hipHostRegister"
     r"|cuMemHostAlloc|cuMemAllocHost(?:_v2)?|cuMemHostRegister(?:_v2)?|urUSMHostAlloc", "allocate", "pinned host"),
    (r"cudaFreeHost|cudaHostUnregister|hipHostFree|hipFreeHost|hipHostUnregister|cuMemFreeHost|cuMemHostUnregister",
     "free", "pinned host"),
    (r"(?:cu|hip)Mem(?:Create|Map|SetAccess|AddressReserve)", "allocate", "mapping"),
    (r"(?:cu|hip)Mem(?:Unmap|Release|AddressFree)", "free", "mapping"),
)
_KIND_PATTERNS = [(re.compile(f"^(?:{pattern})$"), action, memory) for pattern, action, memory in ALLOCATION_KINDS]

#: The summary's figures (:func:`allocation_summary`): unknown (None) where the trace holds no runtime calls.
SUMMARY_KEYS = ("allocation_calls", "allocation_frees", "allocation_host_blocked_us", "allocation_gpu_idle_us",
                "allocation_steps", "allocation_first_step_only")


def allocation_kind(name: str) -> Optional[Tuple[str, str]]:
    """(action, memory) of an allocation call named ``name`` (see :data:`ALLOCATION_KINDS`), None for any other
    call."""
    for pattern, action, memory in _KIND_PATTERNS:
        if pattern.match(name):
            return action, memory
    return None


def allocation_calls(trace: Trace, steps: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The allocation calls inside the GPU window, outermost on their thread: ``rows`` (runtime rows), ``kind``
    (each one's (action, memory), :func:`allocation_kind`), ``start``, ``end`` and ``reach`` (us: the call's end;
    for a free, the start of the next GPU activity where the GPU was empty as it returned), ``gpu_idle`` (us: the
    GPU's idle time from ``start`` to ``reach``), ``step`` (the index of the profiled step of ``steps``
    (:func:`~.steps.step_table`) holding its start, -1 outside every step) and ``steps`` (how many profiled steps
    the trace has, None without any)."""
    rt, gpu = trace.runtime, trace.gpu
    none = np.zeros(0)
    calls: Dict[str, Any] = {"rows": np.zeros(0, dtype=np.int64), "kind": [], "start": none, "end": none, "reach": none,
                             "gpu_idle": none, "step": np.zeros(0, dtype=np.int64), "steps": len(steps) or None}
    if len(rt) == 0 or len(gpu) == 0:
        return calls
    codes, names = value_codes(trace, "runtime.name")
    kinds = [allocation_kind(str(n)) for n in names]  # once per distinct name
    matching = np.array([k is not None for k in kinds], dtype=bool)
    if not matching.any():
        return calls
    rows = np.flatnonzero(matching[codes])
    start, end = rt.ts[rows], rt.ts[rows] + rt.dur[rows]
    first, last = float(gpu.ts.min()), float((gpu.ts + gpu.dur).max())
    keep = np.isfinite(start) & np.isfinite(end) & (end >= start) & (start > first) & (end < last)
    rows, start, end = rows[keep], start[keep], end[keep]
    keep = _outermost(trace, rows, start, end)
    rows, start, end = rows[keep], start[keep], end[keep]
    kind = [kinds[c] for c in codes[rows].tolist()]
    ms, me = gpu_busy(trace)
    waits = np.array([k is not None and k[0] == "free" and k[1] != "stream-ordered" for k in kind], dtype=bool)
    # a free waits for the device's work: the drain after it is its doing where that work was still running
    reach = end + np.where(waits, drain_caused(ms, me, start, end), 0.0)
    calls.update(rows=rows, kind=kind, start=start, end=end, reach=reach, gpu_idle=idle_within(ms, me, start, reach),
                 step=step_index(trace, steps, start))
    return calls


def _outermost(trace: Trace, rows: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A mask of the calls not made inside another of them on the same thread (a driver call under the runtime's
    allocation call)."""
    keep = np.ones(len(rows), dtype=bool)
    pid, tid = trace.runtime.pid, trace.runtime.tid
    last_end: Dict[Any, float] = {}
    for i in sorted(range(len(rows)), key=lambda i: (start[i], -end[i])):
        r = int(rows[i])
        thread = (pid[r] if r < len(pid) else None, tid[r] if r < len(tid) else None)
        if thread in last_end and end[i] <= last_end[thread]:
            keep[i] = False
        else:
            last_end[thread] = max(last_end.get(thread, end[i]), float(end[i]))
    return keep


def allocation_table(trace: Trace, calls: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The allocation ``calls`` (:func:`allocation_calls`) grouped by (call, operator): ``call``, ``action``
    (allocate/free), ``memory`` (device, pinned host, mapping), ``op``, ``count``, ``host_blocked_us`` (summed
    durations), ``gpu_idle_us`` (summed GPU idle during and after each call), ``steps`` (profiled steps holding
    one, None for a trace without steps); most GPU idle first."""
    rows = calls["rows"]
    op_rows = call_op_rows(trace, rows) if len(rows) else rows
    groups: Dict[tuple, Dict[str, Any]] = {}
    held: Dict[tuple, set] = {}
    for i, row in enumerate(rows.tolist()):
        name = str(trace.runtime.name[row])
        op = trace.ops.name[op_rows[i]] if op_rows[i] >= 0 else None
        action, memory = calls["kind"][i]
        g = groups.setdefault((name, op), {"call": name, "action": action, "memory": memory, "op": op, "count": 0,
                                            "host_blocked_us": 0.0, "gpu_idle_us": 0.0, "steps": None})
        g["count"] += 1
        g["host_blocked_us"] += float(calls["end"][i] - calls["start"][i])
        g["gpu_idle_us"] += float(calls["gpu_idle"][i])
        held.setdefault((name, op), set()).update([int(calls["step"][i])] if calls["step"][i] >= 0 else [])
    if calls["steps"]:
        for key, g in groups.items():
            g["steps"] = len(held[key])
    return sorted(groups.values(), key=lambda g: (-g["gpu_idle_us"], -g["count"], g["call"], g["op"] or ""))


def allocation_summary(trace: Trace, calls: Dict[str, Any], known: bool) -> Dict[str, Any]:
    """Totals over the allocation ``calls`` (:func:`allocation_calls`): ``allocation_calls`` and
    ``allocation_frees`` (counts), ``allocation_host_blocked_us`` (summed durations), ``allocation_gpu_idle_us``
    (the GPU's idle time during the calls and the drains after them, overlapping calls' counted once),
    ``allocation_steps`` (the profiled steps holding one; None for a trace without steps) and
    ``allocation_first_step_only`` (whether every call fell in the first of several profiled steps: the caching
    allocator filling its pool before the steady state; None without calls or without several steps). Every
    figure None where they are not ``known`` (the trace holds no runtime calls)."""
    if not known:
        return dict.fromkeys(SUMMARY_KEYS)
    rows, step = calls["rows"], calls["step"]
    frees = sum(1 for action, _ in calls["kind"] if action == "free")
    n_steps = calls["steps"]
    return {"allocation_calls": int(len(rows)), "allocation_frees": frees,
            "allocation_host_blocked_us": float((calls["end"] - calls["start"]).sum()),
            "allocation_gpu_idle_us": idle_inside(*gpu_busy(trace), calls["start"], calls["reach"]),
            "allocation_steps": len(set(step[step >= 0].tolist())) if n_steps else None,
            "allocation_first_step_only": bool((step == 0).all()) if len(rows) and n_steps and n_steps > 1 else None}
