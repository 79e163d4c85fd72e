"""NVML and GPM series as counter tracks inside the trace, so Perfetto and chrome://tracing show power,
clocks, DRAM bandwidth and SM occupancy under the kernels.

Each sampled series becomes one track (``"ph": "C"`` events on the trace's clock, in the GPU's process), named
with its unit: ``NVML power (W)``, ``GPM DRAM bandwidth (%)``, ... ``bambaprof analyze`` reads only complete
events (``"ph": "X"``), so the tracks change none of its figures. Only telemetry on the trace's clock
(``"clock": "trace_us"``) is embedded.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

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


def counter_events(telemetry: Dict[str, Any], pid: Any = 0) -> List[Dict[str, Any]]:
    """The counter events of every sampled series of ``telemetry`` (a run's columns); none unless it is on the
    trace's clock. Samples that are not finite numbers are left out."""
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
        for t, v in zip(times, values):
            if isinstance(t, (int, float)) and isinstance(v, (int, float)) and not isinstance(v, bool) \
                    and math.isfinite(t) and math.isfinite(v):
                out.append({"ph": "C", "cat": CATEGORY, "name": track, "pid": pid, "ts": t, "args": {"value": v}})
    return out


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
    added = counter_events(telemetry, _gpu_pid(events))
    if not added:
        return 0
    doc["traceEvents"] = [e for e in events if not (isinstance(e, dict) and e.get("cat") == CATEGORY)] + added
    write_bytes_atomic(trace_path, gzip.compress(json.dumps(doc).encode(), compresslevel=6))
    return len(added)
