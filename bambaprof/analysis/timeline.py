"""GPU busy and idle time, launch overhead and CPU-bound stretches (all times in us).

Definitions:

- *GPU busy* (per device): the length of the union of its kernel, memcpy and
  memset intervals, so overlapping streams are not counted twice.
- *GPU window*: from the device's first activity start to its last activity end;
  *idle* = window - busy, made of gaps between activities.
- Each gap ``[g0, g1)`` is split by the launch call of the activity that ends it:
  *host wait* is the part before that call started (``min(max(t_launch, g0), g1) - g0``):
  the GPU had nothing to do because the host had not yet asked; the rest is
  *other* (launch latency, synchronisation, waits on other streams or devices,
  or a launch the trace does not link). Where no gap of a device ends with an
  activity whose launch call is in the trace (a trace of GPU work alone, or one
  whose runtime calls were not recorded), the split is unknown: host wait and
  other are ``None`` for that device, and it has no CPU-bound stretches.
- *Launch overhead* of a kernel = kernel start - start of its runtime/driver
  launch call (``cudaLaunchKernel``, ``cuLaunchKernel``, ``cuLaunchKernelEx``,
  ``hipLaunchKernel``, ...), joined on ``correlation``. A graph launch
  (``cudaGraphLaunch``) starts many kernels with one correlation: only its
  first kernel is counted. Over all kernels this includes the time a kernel
  waited in the queue behind earlier work; the *idle-GPU* figures keep only
  kernels that end an idle gap of their device and whose launch call started
  inside that gap: the cost of launching, not of queueing.
- *CPU-bound stretches*: host-wait parts of at least ``min_stretch_us``, with the
  innermost CPU op and the outermost region running on the launching thread
  halfway through.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .trace import Trace, first_row_with

LAUNCH_MARKERS = ("LaunchKernel", "LaunchCooperativeKernel", "GraphLaunch", "LaunchHostFunc",
                  "KernelLaunch")  # the last: Intel's Unified Runtime (urEnqueueKernelLaunch) in XPU traces
#: Launch calls named by one word, as out-of-tree backends' profiler plugins name them (``privateuse1_runtime``:
#: ``Launch``), matched whole: as a marker it would match too much.
LAUNCH_NAMES = frozenset({"Launch", "launch", "LaunchKernel", "KernelLaunch"})
GRAPH_MARKER = "GraphLaunch"
MEMORY_API_MARKERS = ("Memcpy", "Memset", "memcpy", "memset",
                      "MemBufferWrite", "MemBufferRead", "MemBufferCopy", "MemBufferFill", "USMFill")  # XPU


def union_length(starts: np.ndarray, ends: np.ndarray) -> tuple:
    """Merge intervals; returns (total covered length, merged starts, merged ends)."""
    if len(starts) == 0:
        return 0.0, starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    breaks = np.nonzero(s[1:] > run_end[:-1])[0] + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [len(s) - 1]))
    ms, me = s[first], run_end[last]
    return float((me - ms).sum()), ms, me


def gpu_busy(trace: Trace) -> Tuple[np.ndarray, np.ndarray]:
    """The GPU's busy intervals over every device and stream, merged and sorted (starts, ends; us): computed once a
    trace (``trace.memo``), for the readers that set host calls and ranges against the GPU's idle time."""
    if "gpu busy" not in trace.memo:
        gpu = trace.gpu
        _, ms, me = union_length(gpu.ts, gpu.ts + gpu.dur)
        trace.memo["gpu busy"] = (ms, me)
    return trace.memo["gpu busy"]


def running_at(ms: np.ndarray, me: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each time ``t``, whether a busy interval (``ms``, ``me``: merged, sorted) runs at it."""
    if not len(ms):
        return np.zeros(len(t), dtype=bool)
    k = np.searchsorted(ms, t, side="right") - 1
    return (k >= 0) & (me[np.maximum(k, 0)] > t)


def drain_after(ms: np.ndarray, me: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each time ``t`` (us): where no busy interval (``ms``, ``me``: merged, sorted) runs at ``t`` and one
    starts later, the time until it starts (the GPU drained and waited for new work); else 0."""
    if not len(ms):
        return np.zeros(len(t))
    k = np.searchsorted(ms, t, side="right")  # the first interval starting after t
    return np.where(~running_at(ms, me, t) & (k < len(ms)), ms[np.minimum(k, len(ms) - 1)] - t, 0.0)


def drain_caused(ms: np.ndarray, me: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For host calls that wait for the GPU (``start``, ``end``; us): the drain after each (:func:`drain_after`)
    where GPU work was running as it began, so that it waited for that work and emptied the GPU; 0 for a call made
    with the GPU already idle (the idle time after it is the host's)."""
    return np.where(running_at(ms, me, start), drain_after(ms, me, end), 0.0)


def busy_before(ms: np.ndarray, me: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each time ``t`` (us), the busy time (over the merged, sorted intervals ``ms``, ``me``) before it."""
    if not len(ms):
        return np.zeros(len(t))
    done = np.concatenate(([0.0], np.cumsum(me - ms)))
    k = np.searchsorted(ms, t, side="right")  # intervals started by t
    partial = np.where(k > 0, np.minimum(t, me[np.maximum(k - 1, 0)]) - ms[np.maximum(k - 1, 0)], 0.0)
    return done[np.maximum(k - 1, 0)] * (k > 0) + np.maximum(partial, 0.0)


def idle_within(ms: np.ndarray, me: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each interval ``[a, b]`` (us), the time in it that no busy interval (``ms``, ``me``) covers."""
    return np.maximum((b - a) - (busy_before(ms, me, b) - busy_before(ms, me, a)), 0.0)


def idle_inside(ms: np.ndarray, me: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> float:
    """The idle time (us) inside the union of the intervals ``starts``/``ends`` and inside the window of the busy
    intervals ``ms``/``me`` (merged, sorted: first start to last end), each instant once; 0 without either."""
    if not len(ms) or not len(starts):
        return 0.0
    lo, hi = float(ms[0]), float(me[-1])
    _, us, ue = union_length(np.clip(starts, lo, hi), np.clip(ends, lo, hi))
    return float(idle_within(ms, me, us, ue).sum())


@dataclass
class DeviceTimeline:
    """One device's busy and idle time (us)."""

    device: int
    window_us: float
    busy_us: float
    idle_us: float
    host_wait_us: Optional[float]  # None: no gap ends with an activity whose launch call is in the trace
    other_idle_us: Optional[float]
    gaps: int

    @property
    def split_known(self) -> bool:
        """Whether this device's idle time is split into host wait and other."""
        return self.host_wait_us is not None


@dataclass
class LaunchStats:
    """Launch overhead (us) over kernels whose launch call is in the trace."""

    count: int = 0
    mean_us: Optional[float] = None
    median_us: Optional[float] = None
    p90_us: Optional[float] = None
    max_us: Optional[float] = None
    idle_count: int = 0
    idle_mean_us: Optional[float] = None
    idle_median_us: Optional[float] = None
    idle_p90_us: Optional[float] = None
    by_api: Dict[str, int] = field(default_factory=dict)
    unlinked_kernels: int = 0
    graph_kernels: int = 0


@dataclass
class Stretch:
    """A CPU-bound stretch: the GPU waited on the host for ``dur_us`` from ``start_us`` (trace time)."""

    start_us: float
    dur_us: float
    device: int
    cpu_op: Optional[str]  # innermost op running on the launching thread mid-stretch
    cpu_region: Optional[str]  # outermost op (region) around it
    thread: Any = None  # the launching thread


@dataclass
class Timeline:
    devices: List[DeviceTimeline]
    launch: LaunchStats
    stretches: List[Stretch]
    stretch_count: Optional[int]  # None where no device's idle time is split (see DeviceTimeline)
    stretch_total_us: Optional[float]
    per_kernel_launch_us: np.ndarray  # per GPU activity row; nan where unknown


def _api_flags(names: List[str]) -> tuple:
    """Per runtime call: (is a kernel launch, is a graph launch, is a launch or memory API)."""
    codes: Dict[str, int] = defaultdict(itertools.count().__next__)
    code = np.fromiter(map(codes.__getitem__, names), np.int64, len(names))
    table = np.array([(n in LAUNCH_NAMES or any(m in n for m in LAUNCH_MARKERS), GRAPH_MARKER in n,
                       any(m in n for m in MEMORY_API_MARKERS)) for n in codes], dtype=bool).reshape(-1, 3)
    launch, graph, memory = table[code, 0], table[code, 1], table[code, 2]
    return launch, graph, launch | memory


def gpu_work_calls(trace: Trace) -> int:
    """How many of the trace's runtime calls put work on a GPU: kernel and CUDA-graph launches, copies and memsets
    (whether or not their GPU activity was recorded)."""
    if len(trace.runtime) == 0:
        return 0
    launch, graph, usable = _api_flags(trace.runtime.name)
    return int((launch | graph | usable).sum())


def launch_rows(trace: Trace) -> np.ndarray:
    """For each GPU activity, the row of its launch (or memory) API call in ``trace.runtime``; -1 if none.

    A correlation id carried by several usable calls links to the first of them."""
    cached = trace.memo.get("launch_rows")
    if cached is not None:
        return cached
    rt = trace.runtime
    _, _, usable = _api_flags(rt.name)
    out = first_row_with(rt.correlation, np.flatnonzero(usable & (rt.correlation >= 0)), trace.gpu.correlation)
    trace.memo["launch_rows"] = out
    return out


def _ops_at(trace: Trace, t: float, tid) -> tuple:
    """(innermost, outermost) op names covering time ``t`` on thread ``tid`` (any thread if none)."""
    ops = trace.ops
    if len(ops) == 0:
        return None, None
    inside = np.nonzero((ops.ts <= t) & (ops.ts + ops.dur >= t))[0]
    same = [i for i in inside.tolist() if ops.tid[i] == tid] or inside.tolist()
    if not same:
        return None, None
    by_length = sorted(same, key=lambda i: ops.dur[i])
    return ops.name[by_length[0]], ops.name[by_length[-1]]


def analyze_timeline(trace: Trace, min_stretch_us: float = 20.0, top_stretches: int = 5) -> Timeline:
    """Busy/idle per device, launch overhead and CPU-bound stretches; see the module docstring."""
    gpu, rt = trace.gpu, trace.runtime
    n = len(gpu)
    launch_row = launch_rows(trace)
    is_launch, is_graph, _ = _api_flags(rt.name)

    # Launch overhead: kernels only; a graph launch counts once (its first kernel).
    per_kernel = np.full(n, math.nan)
    stats = LaunchStats()
    kernels = np.nonzero(gpu.kind == "kernel")[0]
    j = launch_row[kernels]
    linked = j >= 0
    stats.unlinked_kernels = int((~linked).sum())
    kernels, j = kernels[linked], j[linked]
    keep = is_launch[j]
    kernels, j = kernels[keep], j[keep]
    graph = is_graph[j]
    stats.graph_kernels = int(graph.sum())
    if graph.any():
        by_time = np.argsort(gpu.ts[kernels], kind="stable")
        _, first = np.unique(gpu.correlation[kernels[by_time]], return_index=True)
        chosen = np.zeros(len(kernels), dtype=bool)
        chosen[by_time[first]] = True
        keep = chosen | ~graph
        kernels, j = kernels[keep], j[keep]
    merged = {}
    for dev in sorted(set(gpu.device.tolist())):
        rows = np.nonzero(gpu.device == dev)[0]
        merged[dev] = (rows,) + union_length(gpu.ts[rows], gpu.ts[rows] + gpu.dur[rows])
    if len(kernels):
        t_launch = rt.ts[j]
        delta = gpu.ts[kernels] - t_launch
        per_kernel[kernels] = delta
        stats.count = len(delta)
        stats.mean_us = float(delta.mean())
        stats.median_us = float(np.median(delta))
        stats.p90_us = float(np.percentile(delta, 90))
        stats.max_us = float(delta.max())
        idle = np.zeros(len(kernels), dtype=bool)
        kdev = gpu.device[kernels]
        kstart = gpu.ts[kernels]
        for dev, (_, _, ms, me) in merged.items():
            sel = kdev == dev
            k = np.searchsorted(ms, t_launch[sel], side="right") - 1
            in_gap = (k < 0) | (me[np.maximum(k, 0)] <= t_launch[sel])
            # ...and the kernel is the one that ends that gap: it starts the next busy interval
            nxt = np.minimum(k + 1, len(ms) - 1)
            ends_gap = (k + 1 < len(ms)) & (np.abs(kstart[sel] - ms[nxt]) <= 1e-3)
            idle[sel] = in_gap & ends_gap
        if idle.any():
            d = delta[idle]
            stats.idle_count = int(idle.sum())
            stats.idle_mean_us = float(d.mean())
            stats.idle_median_us = float(np.median(d))
            stats.idle_p90_us = float(np.percentile(d, 90))
        apis, counts = np.unique(j, return_counts=True)
        for a, c in zip(apis.tolist(), counts.tolist()):
            stats.by_api[rt.name[a]] = stats.by_api.get(rt.name[a], 0) + c

    devices: List[DeviceTimeline] = []
    waits: List[tuple] = []  # per device: (starts, durations, device, launching call rows) of long waits
    for dev, (rows, busy, ms, me) in merged.items():
        starts = gpu.ts[rows]
        window = float(me[-1] - ms[0])
        gap_starts, gap_ends = me[:-1], ms[1:]
        host_wait: Optional[float] = 0.0
        if len(gap_starts):
            order = np.argsort(starts, kind="stable")
            k = np.searchsorted(starts[order], gap_ends, side="left")
            closer = rows[order[np.minimum(k, len(order) - 1)]]  # the activity that ends each gap
            jj = launch_row[closer]
            ok = jj >= 0
            if ok.any():
                g0, g1 = gap_starts[ok], gap_ends[ok]
                wait = np.minimum(np.maximum(rt.ts[jj[ok]], g0), g1) - g0
                host_wait = float(wait.sum())
                long_ = np.nonzero(wait >= min_stretch_us)[0]
                waits.append((g0[long_], wait[long_], np.full(len(long_), dev), jj[ok][long_]))
            else:  # no launch call in the trace for any of them: what kept the GPU idle is unknown
                host_wait = None
        idle = window - busy
        devices.append(DeviceTimeline(dev, window, busy, idle, host_wait,
                                      None if host_wait is None else idle - host_wait, len(gap_starts)))

    # the longest stretches first (ties: in device, then time order, as found)
    g0s, lengths, devs, calls = (np.concatenate(c) for c in zip(*waits)) if waits else [np.zeros(0)] * 4
    longest = np.argsort(-lengths, kind="stable")[:top_stretches].tolist()
    top = [Stretch(float(g0s[i]), float(lengths[i]), int(devs[i]),
                   *_ops_at(trace, float(g0s[i] + lengths[i] / 2), rt.tid[int(calls[i])]), rt.tid[int(calls[i])])
           for i in longest]
    if devices and not any(d.split_known for d in devices):
        return Timeline(devices, stats, [], None, None, per_kernel)
    return Timeline(devices, stats, top, len(lengths), float(lengths.sum()), per_kernel)
