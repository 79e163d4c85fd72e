"""NVML telemetry of a run, summarised over the profiled window.

The window is the trace's span (first to last timed event, us on the trace's
clock). For each series: the mean and max of the samples inside the window;
``None`` when the series is missing or has no sample there. A GPM value
describes an interval (at least 100 ms), so it counts only when its whole
interval lies in the window (``span_us``; run directories written before spans
were recorded use the configured ``gpm_interval_ms``, a lower bound): a window
shorter than one interval has no GPM summary.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..run.telemetry import series_window_stats

SERIES = {
    "nvml": ("power_w", "sm_clock_mhz", "mem_clock_mhz", "gpu_util_pct", "temperature_c", "mem_used_bytes"),
    "gpm": ("dram_bw_util_pct", "sm_occupancy_pct", "sm_util_pct", "tensor_util_pct"),
}


def summarize_telemetry(telemetry: Optional[Dict[str, Any]], window: Tuple[float, float]) -> Optional[Dict[str, Any]]:
    """``{"<group>.<series>": {"mean": ..., "max": ..., "samples": n}}`` inside ``window`` (us)."""
    if not telemetry:
        return None
    out: Dict[str, Any] = {}
    for group, names in SERIES.items():
        cols = telemetry.get(group)
        if not isinstance(cols, dict):
            continue
        spans = None
        if group == "gpm":
            spans = cols.get("span_us")
            if not isinstance(spans, list):
                spans = [float(telemetry.get("gpm_interval_ms") or 100.0) * 1e3] * len(cols.get("t_us") or [])
        for name in names:
            out[f"{group}.{name}"] = series_window_stats(cols.get("t_us"), cols.get(name), *window, spans)
    return out
