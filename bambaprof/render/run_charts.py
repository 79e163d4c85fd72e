"""Figures of one run, built while its trace is loaded (the report keeps only these aggregates).

- :func:`step_timeline`: one profiled step, every GPU activity a bar on its stream's row, coloured by phase,
  with the GPU's idle gaps on a row of their own;
- :func:`memory_timeline`: the allocator's ``Total Allocated`` and ``Total Reserved`` from the trace's
  ``[memory]`` events, per device that held at least 1 MiB, in GB;
- :func:`run_roofline`: every kernel with known bytes and FLOPs at its arithmetic intensity and achieved
  TFLOP/s, sized by its time, under the device's bandwidth roof and a compute ceiling per dtype.

Each returns a figure dict (``{"data", "layout"}``, axis titles as bare strings: the report's ``_fig`` puts
them in plotly's object form) or ``None`` when the trace has nothing to show. Times are ms from the start of
the window shown.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..analysis.analysis import Analysis
from ..analysis.memory import DEVICE_TYPES
from ..analysis.phases import activity_paths, fold_layers
from ..analysis.timeline import launch_rows, union_length
from ..analysis.trace import Trace, step_ranges
from .figure import OTHER_COLOUR, ceilings_of, esc, roofline_lines
from .tables import kernel_label

#: Past this many GPU activities in the step, the timeline merges consecutive ones of a phase on a stream.
MAX_TIMELINE_BARS = 300
#: The most idle gaps the timeline draws (the longest).
MAX_IDLE_BARS = 150
#: Phases the timeline colours by name (the step's longest); the rest share "other".
TIMELINE_PHASES = 10
#: The most points a memory series keeps (evenly spaced in time, the peak always kept).
MAX_MEMORY_POINTS = 150
#: Devices whose allocator never held this much (bytes) are left out of the memory timeline.
MIN_MEMORY_BYTES = 1 << 20
#: Marker diameter range of the per-run roofline, px (area grows with the kernel's time).
MARKER_PX = (6.0, 40.0)
IDLE_COLOUR = "#d0d0d0"


def step_window(trace: Trace) -> Optional[tuple]:
    """(start, end) in us of the first profiler step (the next step's start ends it), else None."""
    steps = step_ranges(trace)
    if not steps:
        return None
    start, end = steps[0]
    if len(steps) > 1:
        end = max(end, steps[1][0])
    return start, end


def step_timeline(trace: Trace) -> Optional[Dict[str, Any]]:
    """The first profiled step (GPU activities launched inside it; the whole trace when it has no step
    ranges) on one row per stream, coloured by phase (layers folded), with the idle gaps between the GPU's
    busy intervals on a row of their own.

    Up to :data:`MAX_TIMELINE_BARS` activities, each is a bar. Past that, consecutive activities of one phase
    on one stream merge into one bar (hover: how many, their busy time and the span), and the idle row keeps
    the :data:`MAX_IDLE_BARS` longest gaps; the axis title says so."""
    gpu = trace.gpu
    if len(gpu) == 0:
        return None
    window = step_window(trace)
    rows = np.arange(len(gpu))
    launch = launch_rows(trace)
    if window is not None:
        ts = np.where(launch >= 0, trace.runtime.ts[np.maximum(launch, 0)], np.nan)
        inside = (ts >= window[0]) & (ts <= window[1])
        if inside.any():
            rows = np.nonzero(inside)[0]
    rows = rows[np.argsort(gpu.ts[rows], kind="stable")]
    t0 = float(gpu.ts[rows].min())
    phase = [fold_layers(path) for path in activity_paths(trace, rows.tolist(), launch)]
    time_by_phase: Dict[str, float] = {}
    for p, i in zip(phase, rows.tolist()):
        time_by_phase[p] = time_by_phase.get(p, 0.0) + float(gpu.dur[i])
    named = set(p for p, _ in sorted(time_by_phase.items(), key=lambda kv: -kv[1])[:TIMELINE_PHASES])
    colour = [p if p in named else "other" for p in phase]
    devices = len(set(gpu.device[rows].tolist())) > 1
    lane = [f"stream {int(gpu.stream[i])}" + (f" (device {int(gpu.device[i])})" if devices else "")
            for i in rows.tolist()]
    merge = len(rows) > MAX_TIMELINE_BARS
    # bars: (lane, phase, start us, end us, busy us, count, first row)
    bars: List[list] = []
    open_bar: Dict[str, list] = {}
    for k, i in enumerate(rows.tolist()):
        start, end, dur = float(gpu.ts[i]), float(gpu.ts[i] + gpu.dur[i]), float(gpu.dur[i])
        last = open_bar.get(lane[k])
        if merge and last is not None and last[1] == colour[k]:
            last[3] = max(last[3], end)
            last[4] += dur
            last[5] += 1
            continue
        bar = [lane[k], colour[k], start, end, dur, 1, i]
        bars.append(bar)
        open_bar[lane[k]] = bar
    data: List[Dict[str, Any]] = []
    order = [p for p, _ in sorted(time_by_phase.items(), key=lambda kv: -kv[1]) if p in named] + ["other"]
    for name in order:
        mine = [b for b in bars if b[1] == name]
        if not mine:
            continue
        hover = [esc(f"{kernel_label(gpu.name[b[6]], 60)} | {name} | {b[4]:.1f} us") if b[5] == 1 else
                 esc(f"{name} | {b[5]} activities, {b[4]:.1f} us busy over {b[3] - b[2]:.1f} us") for b in mine]
        trace_: Dict[str, Any] = {"type": "bar", "orientation": "h", "name": esc(name), "y": [b[0] for b in mine],
                                  "base": [(b[2] - t0) / 1e3 for b in mine], "x": [(b[3] - b[2]) / 1e3 for b in mine],
                                  "hovertext": hover, "hoverinfo": "text"}
        if name == "other":
            trace_["marker"] = {"color": OTHER_COLOUR}
        data.append(trace_)
    _, ms, me = union_length(gpu.ts[rows], gpu.ts[rows] + gpu.dur[rows])
    gaps = [(float(e), float(s)) for e, s in zip(me[:-1], ms[1:]) if s > e]
    few = len(gaps) > MAX_IDLE_BARS
    if few:
        gaps = sorted(sorted(gaps, key=lambda g: g[0] - g[1])[:MAX_IDLE_BARS])
    if gaps:
        data.append({"type": "bar", "orientation": "h", "name": "GPU idle", "y": ["GPU idle"] * len(gaps),
                     "base": [(e - t0) / 1e3 for e, _ in gaps], "x": [(s - e) / 1e3 for e, s in gaps],
                     "marker": {"color": IDLE_COLOUR},
                     "hovertext": [f"idle {s - e:.1f} us" for e, s in gaps], "hoverinfo": "text"})
    notes = []
    if merge:
        notes.append(f"{len(rows):,} activities: runs of one phase merged")
    if few:
        notes.append(f"the {MAX_IDLE_BARS} longest idle gaps")
    title = "ms from the step's first GPU activity" + (f" ({'; '.join(notes)})" if notes else "")
    return {"data": data, "layout": {"barmode": "overlay", "xaxis": {"title": title},
                                      "yaxis": {"title": "stream", "autorange": "reversed"},
                                      "height": 260 + 30 * len(set(lane)), "legend": {"font": {"size": 9}}}}


def _thin(t: np.ndarray, v: np.ndarray, n: int) -> tuple:
    """At most ``n`` points of a series, evenly spaced by index, its maximum always kept."""
    if len(t) <= n:
        return t, v
    keep = np.unique(np.concatenate((np.linspace(0, len(t) - 1, n).astype(np.int64), [int(np.argmax(v))])))
    return t[keep], v[keep]


def memory_timeline(trace: Trace, peaks: Sequence[Dict[str, Any]] = ()) -> Optional[Dict[str, Any]]:
    """Allocated and reserved memory (GB) after each (de)allocation the profiler saw, per device, over ms from
    the trace's start; steps (the allocator's totals hold until the next event). ``peaks``: the analysis's
    memory rows (:func:`~bambaprof.analysis.memory.memory_peaks`), each device's allocated peak marked with
    the op, phase and module where it was reached."""
    mem = trace.memory
    if len(mem.ts) == 0:
        return None
    t0 = trace.span_us[0]
    data: List[Dict[str, Any]] = []
    for dtype, did in sorted(set(zip(mem.device_type.tolist(), mem.device_id.tolist()))):
        sel = (mem.device_type == dtype) & (mem.device_id == did)
        order = np.argsort(mem.ts[sel], kind="stable")
        ts = mem.ts[sel][order]
        kind = DEVICE_TYPES.get(dtype, f"type{dtype}")
        device = f"{kind}:{did}" if did >= 0 else kind
        if not np.nanmax(np.concatenate(([0.0], mem.allocated[sel], mem.reserved[sel]))) >= MIN_MEMORY_BYTES:
            continue  # the CPU side of a GPU run: a few bytes, a flat line at 0 GB
        for label, values, dash in (("allocated", mem.allocated, "solid"), ("reserved", mem.reserved, "dot")):
            v = values[sel][order]
            ok = np.isfinite(v)
            if not ok.any():
                continue
            t, y = _thin(ts[ok], v[ok], MAX_MEMORY_POINTS)
            data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "dash": dash},
                         "name": f"{device} {label}", "x": ((t - t0) / 1e3).tolist(), "y": (y / 1e9).tolist()})
        peak = next((p for p in peaks if p["device"] == f"{kind}:{did}" and p.get("peak_at_us") is not None), None)
        if peak is not None and peak.get("peak_allocated_bytes"):
            where = " | ".join(f"{what} {peak[key]}" for what, key in (("op", "peak_op"), ("phase", "peak_phase"),
                                                                        ("module", "peak_module")) if peak.get(key))
            data.append({"type": "scatter", "mode": "markers", "name": f"{device} peak allocated",
                         "x": [peak["peak_at_us"] / 1e3], "y": [peak["peak_allocated_bytes"] / 1e9],
                         "marker": {"size": 11, "symbol": "diamond", "line": {"width": 1}},
                         "hovertext": [esc(f"peak {peak['peak_allocated_bytes'] / 1e9:.2f} GB | {where or 'no op'}")],
                         "hoverinfo": "text"})
    if not data:
        return None
    return {"data": data, "layout": {"xaxis": {"title": "ms from the start of the trace"},
                                      "yaxis": {"title": "memory, GB", "rangemode": "tozero"}, "height": 360}}


def _marker_px(times: Sequence[float]) -> List[float]:
    """Marker diameters with area proportional to time, within :data:`MARKER_PX`."""
    top = max(times) if times else 0.0
    lo, hi = MARKER_PX
    return [lo + (hi - lo) * math.sqrt(t / top) if top > 0 else lo for t in times]


def run_roofline(analysis: Analysis) -> Optional[Dict[str, Any]]:
    """One run's roofline: each kernel with known FLOPs and bytes at (FLOP/byte, achieved TFLOP/s), a point
    sized by its total time, hover with its name, main phase and bound; the bandwidth roof of the device (the
    peak the analysis judged by) and the compute ceiling of each dtype the kernels ran in."""
    kernels = analysis.kernels
    rows = [k for k in kernels if k.get("intensity_flop_per_byte") and k.get("achieved_tflops")]
    if not rows:
        return None
    peak = next((k.get("peak_gbps") for k in kernels if k.get("peak_gbps")), None)
    data: List[Dict[str, Any]] = []
    by_bound: Dict[str, List[Dict[str, Any]]] = {}
    for k in rows:
        by_bound.setdefault(k.get("bound") or "unknown", []).append(k)
    sizes = dict(zip([id(k) for k in rows], _marker_px([k["total_us"] for k in rows])))
    for bound, ks in sorted(by_bound.items()):
        data.append({"type": "scatter", "mode": "markers", "name": f"{bound}-bound" if bound != "unknown" else bound,
                     "x": [k["intensity_flop_per_byte"] for k in ks], "y": [k["achieved_tflops"] for k in ks],
                     "marker": {"size": [sizes[id(k)] for k in ks], "opacity": 0.7, "line": {"width": 0.5}},
                     "hovertext": [esc(f"{kernel_label(k['name'], 60)} | phase {k.get('phase') or 'unknown'} | "
                                        f"{bound}-bound | {k['total_us'] / 1e3:.3f} ms, {k['count']} launches")
                                   for k in ks], "hoverinfo": "text+x+y"})
    xs = [k["intensity_flop_per_byte"] for k in rows]
    data.extend(roofline_lines(peak, ceilings_of(rows), min(xs) / 3, max(xs) * 3))
    return {"data": data, "layout": {"xaxis": {"title": "arithmetic intensity, FLOP/byte (log)", "type": "log"},
                                      "yaxis": {"title": "achieved TFLOP/s (log)", "type": "log"},
                                      "height": 460}}
