"""NVML and GPM series as counter tracks inside the trace, so Perfetto and chrome://tracing show power,
clocks, DRAM bandwidth and SM occupancy under the kernels.

Each sampled series becomes one track (``"ph": "C"`` events on the trace's clock, in the GPU's process), named
with its unit: ``NVML power (W)``, ``GPM DRAM bandwidth (%)``, ... ``bambaprof analyze`` reads only complete
events (``"ph": "X"``), so the tracks change none of its figures. Only telemetry on the trace's clock
(``"clock": "trace_us"``) is embedded, and only over the trace's own span (its first to its last complete event,
plus the sample just before and the one just after, so each track spans it): the sampler runs from the start of a
run, compilation included, and samples from minutes earlier would stretch a viewer's timeline far to the left.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .._io import write_bytes_atomic

#: series -> track name (with its unit)
TRACKS = {
    ("nvml", "power_w"): "NVML power (W)",
    ("nvml", "sm_clock_mhz"): "NVML SM clock (MHz)",
    ("nvml", "mem_clock_mhz"): "NVML memory clock (MHz)",
    ("nvml", "gpu_util_pct"): "NVML GPU utilisation (%)",
    ("nvml", "mem_util_pct"): "NVML memory utilisation (%)",
    ("nvml", "mem_used_bytes"): "NVML memory used (bytes)",
    ("nvml", "temperature_c"): "NVML temperature (C)",
    ("gpm", "dram_bw_util_pct"): "GPM DRAM bandwidth (% of peak)",
    ("gpm", "sm_occupancy_pct"): "GPM SM occupancy (%)",
    ("gpm", "sm_util_pct"): "GPM SM utilisation (%)",
    ("gpm", "tensor_util_pct"): "GPM tensor-core utilisation (%)",
}
#: The counter events' category, so that tools (and bambaprof) can tell them from Kineto's own.
CATEGORY = "bambaprof_telemetry"


def counter_events(telemetry: Dict[str, Any], pid: Any = 0,
                   window: Optional[Tuple[float, float]] = None) -> List[Dict[str, Any]]:
    """The counter events of every sampled series of ``telemetry`` (a run's columns); none unless it is on the
    trace's clock. Samples that are not finite numbers are left out. With ``window`` (start, end in us on the
    trace's clock), each series keeps the samples inside it and the nearest one on either side."""
    if not isinstance(telemetry, dict) or telemetry.get("clock") != "trace_us":
        return []
    out: List[Dict[str, Any]] = []
    for (group, key), track in TRACKS.items():
        columns = telemetry.get(group)
        if not isinstance(columns, dict):
            continue
        times, values = columns.get("t_us"), columns.get(key)
        if not isinstance(times, list) or not isinstance(values, list):
            continue
        samples = [(t, v) for t, v in zip(times, values)
                   if isinstance(t, (int, float)) and isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(t) and math.isfinite(v)]
        if window is not None:
            samples = _within(sorted(samples, key=lambda s: s[0]), window)
        out.extend({"ph": "C", "cat": CATEGORY, "name": track, "pid": pid, "ts": t, "args": {"value": v}}
                   for t, v in samples)
    return out


def _within(samples: List[Tuple[float, float]], window: Tuple[float, float]) -> List[Tuple[float, float]]:
    """The time-sorted ``samples`` inside ``window``, with the last one before it and the first one after."""
    start, end = window
    first = next((i for i, (t, _) in enumerate(samples) if t >= start), len(samples))
    last = next((i for i in range(len(samples) - 1, -1, -1) if samples[i][0] <= end), -1)
    return samples[max(first - 1, 0):min(last + 2, len(samples))]


def trace_window(events: List[Any]) -> Optional[Tuple[float, float]]:
    """The span of a trace's complete events (``"ph": "X"``) in us on its clock: first start to last end;
    None when it holds none."""
    start, end = math.inf, -math.inf
    for e in events:
        if isinstance(e, dict) and e.get("ph") == "X" and e.get("cat") != CATEGORY:
            ts, dur = e.get("ts"), e.get("dur", 0)
            if isinstance(ts, (int, float)) and math.isfinite(ts):
                d = dur if isinstance(dur, (int, float)) and math.isfinite(dur) and dur > 0 else 0
                start, end = min(start, ts), max(end, ts + d)
    return (start, end) if start <= end else None


def _gpu_pid(events: List[Any]) -> Any:
    """The process id Kineto gives the first GPU (its kernels' ``pid``), else 0."""
    for e in events:
        if isinstance(e, dict) and e.get("cat") == "kernel":
            return e.get("pid", 0)
    return 0


def embed_counters(trace_path: Path, telemetry: Optional[Dict[str, Any]]) -> int:
    """Add the counter tracks of ``telemetry`` to the gzipped trace at ``trace_path`` (rewritten atomically;
    tracks it already holds are replaced); returns how many events it added."""
    if not telemetry:
        return 0
    with gzip.open(trace_path, "rb") as fh:
        doc = json.loads(fh.read())
    events = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        return 0
    added = counter_events(telemetry, _gpu_pid(events), trace_window(events))
    if not added:
        return 0
    doc["traceEvents"] = [e for e in events if not (isinstance(e, dict) and e.get("cat") == CATEGORY)] + added
    write_bytes_atomic(trace_path, gzip.compress(json.dumps(doc).encode(), compresslevel=6))
    return len(added)
