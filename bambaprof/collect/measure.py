"""Pieces every measurement shares (``profile``'s runner and :func:`bambaprof.record`): the device's
description, the NVML sampler and energy counter over a window, peak memory, the trace's export and the
clock-sync marker that puts telemetry on the trace's clock."""

from __future__ import annotations

import datetime
import functools
import gzip
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..errors import BambaprofError
from ..run import (
    Device,
    Energy,
    GpmSummary,
    Memory,
    NvmlDevice,
    NvmlSummary,
    SeriesStats,
    TelemetryInfo,
    TelemetrySummary,
)
from .nvml import GPM_SERIES, NvmlUnavailable, ProcessSampler, PynvmlBackend, nvml_device, window_stats

CLOCK_SYNC = "bambaprof::clock_sync"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "out of memory: " + msg[:300]
    return f"{type(exc).__name__}: {msg[:400]}" if msg else type(exc).__name__


def device_description(device: str, nvml_info: Optional[Dict[str, Any]] = None) -> Device:
    """The device a run measures; with NVML's description (``nvml_info``), its peak DRAM bandwidth."""
    nvml = NvmlDevice(**nvml_info) if nvml_info else None
    peak = nvml.peak_bandwidth_gbps if nvml is not None else None
    source = "nvml" if peak else None
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(torch.device(device))
        return Device(kind="cuda", name=p.name, compute_capability=f"{p.major}.{p.minor}",
                      multiprocessors=p.multi_processor_count, total_memory_bytes=p.total_memory,
                      peak_bandwidth_gbps=peak, peak_bandwidth_source=source, nvml=nvml)
    import platform

    return Device(kind="cpu", name=platform.processor() or platform.machine(), threads=torch.get_num_threads(),
                  peak_bandwidth_gbps=peak, peak_bandwidth_source=source, nvml=nvml)


def clock_offset_us(trace_path: Path, t_mid_ns: float) -> Optional[float]:
    """Trace-clock us minus monotonic us, from the clock-sync marker's timestamp in the trace."""
    from ..analysis.trace import load_trace

    try:
        trace = load_trace(trace_path)
    except BambaprofError:
        return None
    for name, ts in zip(trace.ops.name, trace.ops.ts.tolist()):
        if name == CLOCK_SYNC:
            return ts - t_mid_ns / 1000.0
    return None


class Telemetry:
    """The NVML sampler for a run, or the reason there is none."""

    def __init__(self, device: str, enabled: bool = True, sample_interval_ms: float = 20.0,
                 gpm_interval_ms: float = 100.0, backend_factory: Optional[Callable[[], Any]] = None) -> None:
        self.sampler: Optional[ProcessSampler] = None
        self.backend: Any = None
        self.notice: Optional[str] = None
        self.device_info: Dict[str, Any] = {}
        if not enabled:
            self.notice = "telemetry off (--no-telemetry)"
            return
        if backend_factory is None:
            if not device.startswith("cuda"):
                self.notice = "telemetry unavailable: the run is on the CPU"
                return
            backend_factory = functools.partial(PynvmlBackend, nvml_device(device))  # the run's GPU, not the first
        try:
            self.backend = backend_factory()  # this process: device info and the energy counter
            self.backend.open()
            self.device_info = self.backend.device_info()
            self.sampler = ProcessSampler(backend_factory, sample_interval_ms / 1e3, gpm_interval_ms / 1e3).start()
        except NvmlUnavailable as exc:
            self.notice = f"telemetry unavailable: {exc}"
            if self.backend is not None:
                self.backend.close()
            self.backend = None

    def energy_mj(self) -> Optional[float]:
        return self.backend.energy_mj() if self.backend is not None else None

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.backend is not None:
            self.backend.close()

    def window_summary(self, w0_ns: int, w1_ns: int,
                       warnings: List[str]) -> Tuple[Optional[NvmlSummary], Optional[GpmSummary]]:
        """The stopped sampler's NVML and GPM statistics over ``[w0_ns, w1_ns]`` (``None`` without telemetry).

        GPM is unknown (``None``) without GPM support; with it and no whole GPM interval inside the window,
        each value has no samples and ``warnings`` says so; NVML sampling errors are warned about too."""
        s = self.sampler
        if s is None:
            return None, None
        window_ms = (w1_ns - w0_ns) / 1e6
        gpm = None
        if s.gpm_available:
            gpm = GpmSummary(**{name: SeriesStats(**window_stats(s.gpm, name, w0_ns, w1_ns)) for name in GPM_SERIES})
            if not (gpm.dram_bw_util_pct and gpm.dram_bw_util_pct.samples):
                warnings.append(f"no whole GPM interval ({s.gpm_interval_s * 1e3:.0f} ms) fits in the {window_ms:.1f} "
                                "ms telemetry window: GPM metrics unknown (raise --telemetry-window-ms)")
        reasons = {v for t, v in zip(s.nvml["t_ns"], s.nvml["clock_event_reasons"]) if w0_ns <= t <= w1_ns and v}
        nvml = NvmlSummary(**{name: SeriesStats(**window_stats(s.nvml, name, w0_ns, w1_ns))
                              for name in NVML_SUMMARY_SERIES},
                           clock_event_reasons_seen=sorted(reasons))
        if s.errors:
            warnings.append(f"NVML sampling errors: {s.errors[0]}")
        return nvml, gpm

    def info(self, w0_ns: int, w1_ns: int, warnings: List[str]) -> TelemetryInfo:
        """What the manifest says of telemetry: availability, the notice, the window's summary."""
        nvml, gpm = self.window_summary(w0_ns, w1_ns, warnings)
        return TelemetryInfo(available=self.sampler is not None, notice=self.notice,
                             gpm=bool(self.sampler and self.sampler.gpm_available),
                             summary=TelemetrySummary(nvml=nvml, gpm=gpm))


#: The NVML series the manifest summarises over the telemetry window (every GPM series is).
NVML_SUMMARY_SERIES = ("power_w", "sm_clock_mhz", "mem_clock_mhz", "gpu_util_pct", "temperature_c")


def energy_over_window(e0_mj: Optional[float], e1_mj: Optional[float], w0_ns: int, w1_ns: int, iterations: int,
            tokens_per_iteration: Optional[int], warnings: List[str]) -> Optional[Energy]:
    """Joules over the telemetry window and per token from the energy counter's two readings (mJ);
    ``None`` without a counter, or (with a warning) when it did not advance over the window."""
    window_ms = (w1_ns - w0_ns) / 1e6
    if e0_mj is None or e1_mj is None:
        return None
    if e1_mj <= e0_mj:
        warnings.append(f"the energy counter did not advance over the {window_ms:.1f} ms telemetry window: energy "
                        "unknown (raise --telemetry-window-ms)")
        return None
    joules = (e1_mj - e0_mj) / 1e3
    tokens = (tokens_per_iteration or 0) * iterations
    return Energy(joules=joules, joules_per_token=joules / tokens if tokens else None, window_ms=window_ms,
                  iterations=iterations)


#: The CUDA caching allocator's counters of its calls to the driver (``torch.cuda.memory_stats``), by the
#: :class:`~bambaprof.run.Memory` field that records their change over the measured iterations.
ALLOCATOR_COUNTERS = {"device_allocs_measured": "num_device_alloc", "device_frees_measured": "num_device_free",
                      "alloc_retries_measured": "num_alloc_retries"}


def allocator_counts(device: str) -> Dict[str, Optional[int]]:
    """The caching allocator's driver-call counters now (:data:`ALLOCATOR_COUNTERS`' stats); each None on the CPU
    or where this torch does not count it."""
    if not device.startswith("cuda"):
        return dict.fromkeys(ALLOCATOR_COUNTERS)
    stats = torch.cuda.memory_stats()
    return {field: (int(stats[key]) if isinstance(stats.get(key), int) else None)
            for field, key in ALLOCATOR_COUNTERS.items()}


def peak_memory(device: str, before: Optional[Dict[str, Optional[int]]] = None,
                after: Optional[Dict[str, Optional[int]]] = None) -> Memory:
    """Peak allocated and reserved bytes of the CUDA caching allocator (unknown on the CPU), and the change of its
    driver-call counters from ``before`` to ``after`` the measured iterations (:func:`allocator_counts`; unknown
    where either is, or where the counter went back: reset in between)."""
    if not device.startswith("cuda"):
        return Memory()
    counts: Dict[str, Optional[int]] = {}
    for field in ALLOCATOR_COUNTERS:
        b, a = (before or {}).get(field), (after or {}).get(field)
        counts[field] = a - b if a is not None and b is not None and a >= b else None  # reset between: unknown
    return Memory(peak_allocated_bytes=torch.cuda.max_memory_allocated(),
                  peak_reserved_bytes=torch.cuda.max_memory_reserved(), **counts)


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_trace(prof: Any, out: Path) -> None:
    """Write the profiler's Chrome trace to ``out`` gzipped (through a plain file beside it)."""
    raw = out.with_suffix("")  # <name>.json
    prof.export_chrome_trace(str(raw))
    try:
        with open(raw, "rb") as src:
            doc = json.loads(src.read())
        if isinstance(doc, dict) and "distributedInfo" not in doc:
            doc["distributedInfo"] = {"rank": 0}  # trace tools (HTA) need a rank; a single process is rank 0
        with gzip.open(out, "wb", compresslevel=6) as dst:
            dst.write(json.dumps(doc).encode())
    finally:
        os.unlink(raw)


def write_telemetry(writer: Any, sampler: Any, trace: Path, offset_us: Optional[float]) -> bool:
    """Write the sampler's columns into the run (``TELEMETRY``) on the trace's clock (``offset_us``; without
    it, on the monotonic clock) and embed them in ``trace`` as counter tracks (when on the trace's clock and
    the trace exists). Returns whether the samples are on the trace's clock."""
    from .._json import json_safe
    from ..run import TELEMETRY
    from ..run.counters import embed_counters

    cols = sampler.columns(offset_us if offset_us is not None else 0.0)
    if offset_us is None:
        cols["clock"] = "monotonic_us"
    writer.write_json(TELEMETRY, cols)
    if trace.exists():
        embed_counters(trace, json_safe(cols))  # tracks under the kernels in Perfetto
    return offset_us is not None


def profiler_activities(device: str) -> List[Any]:
    """What torch.profiler records: the CPU, and CUDA on a CUDA device."""
    from torch.profiler import ProfilerActivity

    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])


def mark_clock_sync() -> float:
    """Record the ``bambaprof::clock_sync`` marker (inside an active profiler) and return the monotonic
    ns at its middle: the marker's trace timestamp minus it is the trace clock's offset."""
    import time

    from torch.profiler import record_function

    t0 = time.monotonic_ns()
    with record_function(CLOCK_SYNC):
        pass
    return (t0 + time.monotonic_ns()) / 2
