"""The telemetry file of a run directory, and the window statistics of its series.

``telemetry.json.gz`` holds NVML samples as columns, timestamps in microseconds on the trace's clock::

    {"schema": 1, "clock": "trace_us",
     "nvml": {"t_us": [...], "power_w": [...], "sm_clock_mhz": [...], "mem_clock_mhz": [...],
              "gpu_util_pct": [...], "mem_used_bytes": [...], "temperature_c": [...],
              "clock_event_reasons": [...]},
     "gpm":  {"t_us": [...], "span_us": [...], "dram_bw_util_pct": [...], "sm_occupancy_pct": [...],
              "sm_util_pct": [...], "tensor_util_pct": [...]}}

A GPM value describes the interval ``span_us`` long centred on its ``t_us`` (run directories written
before ``span_us`` existed lack it). A column the device cannot report holds ``null`` values or is
absent; ``clock`` is ``monotonic_us`` when the trace's clock-sync marker was not found.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional


def series_window_stats(times: Any, values: Any, lo: float, hi: float,
                        spans: Optional[List[float]] = None) -> Dict[str, Optional[float]]:
    """Mean and max of one telemetry series' finite samples inside ``[lo, hi]``, and how many there were.

    ``times`` and ``lo``/``hi`` share one unit (ns while sampling, us in a run directory). A sample with
    a span (GPM: the interval its value describes, centred on its time) counts only when its whole
    interval lies inside the window. Missing series, non-numbers and NaN or infinity are skipped.
    """
    if not isinstance(times, list) or not isinstance(values, list):
        return {"mean": None, "max": None, "samples": 0}
    spans = spans if isinstance(spans, list) else [0] * len(times)
    picked = [v for t, span, v in zip(times, spans, values)
              if isinstance(t, (int, float)) and isinstance(v, (int, float)) and isinstance(span, (int, float))
              and lo <= t - span / 2 and t + span / 2 <= hi and math.isfinite(v)]
    if not picked:
        return {"mean": None, "max": None, "samples": 0}
    return {"mean": sum(picked) / len(picked), "max": max(picked), "samples": len(picked)}
