"""NVML telemetry: a background sampler over a swappable backend.

Every ``interval_s`` (default 20 ms) the sampler reads GPU and memory
utilisation (%), memory used (bytes), power (W; the driver's instantaneous
reading where it has one, else its 1 s average), SM and memory clocks (MHz),
temperature (C) and the clock-event (throttle) reasons bitmask. Where the
device supports GPM (Hopper and newer), every ``gpm_interval_s`` (at least
100 ms) it takes a GPM sample and derives, over the interval between two
samples, DRAM bandwidth utilisation, SM occupancy, SM utilisation and tensor
utilisation (%), stamped at the interval's midpoint with the interval's length
(``span_ns``; a GPM value describes its whole interval, so a window's GPM
summary uses only intervals that lie entirely inside it). The energy counter (mJ)
is read separately, before and after the measured iterations.

Timestamps are ``time.monotonic_ns()``; :func:`to_trace_clock` moves them onto
a profiler trace's clock. :class:`ProcessSampler` runs the sampler in a child
process (what runs use); :class:`NvmlSampler` is the loop itself, on a thread. The backend is
:class:`PynvmlBackend` in real use and any object with the same methods in tests. A backend that cannot start raises
:class:`NvmlUnavailable` (with one line saying why) and the run goes on without
telemetry.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional

from ..errors import first_line

NVML_SERIES = ("gpu_util_pct", "mem_util_pct", "mem_used_bytes", "power_w", "sm_clock_mhz", "mem_clock_mhz",
               "temperature_c", "clock_event_reasons")
GPM_SERIES = ("dram_bw_util_pct", "sm_occupancy_pct", "sm_util_pct", "tensor_util_pct")
MIN_GPM_INTERVAL_S = 0.1
#: NVML clocks-event reasons that mean the clocks were held down: software power cap, hardware slowdown,
#: software and hardware thermal slowdown, power brake (bit -> name).
CLOCK_HELD_DOWN_REASONS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
                           0x40: "hardware thermal slowdown", 0x80: "power brake slowdown"}
CLOCK_HELD_DOWN_MASK = sum(CLOCK_HELD_DOWN_REASONS)


#: A PCIe lane's data rate in one direction by link generation (GB/s, 1e9 bytes/s): its transfer rate less the
#: line encoding (8b/10b for 1.0 and 2.0, 128b/130b for 3.0 to 5.0, FLIT mode's 242 of 256 bytes for 6.0).
PCIE_LANE_GBPS = {1: 0.25, 2: 0.5, 3: 8 * 128 / 130 / 8, 4: 16 * 128 / 130 / 8, 5: 32 * 128 / 130 / 8,
                  6: 64 * 242 / 256 / 8}


def pcie_gbps(generation: Any, width: Any) -> Optional[float]:
    """The PCIe link's data rate in one direction (GB/s) for its ``generation`` and ``width`` (lanes): 63.0 for 5.0
    x16; None where either is unknown or not a known generation."""
    if not isinstance(generation, int) or not isinstance(width, int) or width <= 0:
        return None
    lane = PCIE_LANE_GBPS.get(generation)
    return lane * width if lane is not None else None


def empty_series() -> tuple:
    """Empty NVML and GPM column dicts: ``t_ns`` plus one list per series."""
    nvml: Dict[str, List[Any]] = {"t_ns": [], **{k: [] for k in NVML_SERIES}}
    gpm: Dict[str, List[Any]] = {"t_ns": [], "span_ns": [], **{k: [] for k in GPM_SERIES}}
    return nvml, gpm


class NvmlUnavailable(Exception):
    """NVML (or the device) cannot be used here; the message says why, in one line."""


def visible_device(index: int = 0) -> str:
    """The NVML identity of the process's CUDA device ``index`` (as torch numbers them): NVML ignores
    ``CUDA_VISIBLE_DEVICES``, so a process pinned to GPU 1 must ask NVML for GPU 1 (an index or a ``GPU-...``
    UUID), not 0; without that variable torch's index is NVML's."""
    import os

    visible = [e.strip() for e in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if e.strip()]
    return visible[index] if index < len(visible) else str(index)


def torch_device_uuid(index: int) -> Optional[str]:
    """NVML's name for torch's CUDA device ``index``: ``GPU-`` and the UUID torch reports (which NVML prints
    with that prefix; checked on an H200), or ``None`` where torch has no CUDA, no such device or no UUID."""
    try:
        import torch

        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return None
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    except (ImportError, RuntimeError, AssertionError):
        return None
    return f"GPU-{uuid}" if uuid else None


def nvml_knows(identity: str) -> bool:
    """Whether NVML opens a device by this UUID (``GPU-...``); ``False`` without NVML."""
    try:
        import pynvml
    except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency
        return False
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    try:
        pynvml.nvmlDeviceGetHandleByUUID(identity)
        return True
    except pynvml.NVMLError:
        return False
    finally:
        pynvml.nvmlShutdown()


def nvml_device(device: str) -> str:
    """The NVML identity of a torch device string (``cuda``, ``cuda:1``).

    By UUID where torch reports one that NVML knows: torch and NVML may number GPUs differently (torch puts
    the fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; NVML goes by PCI bus), and
    ``CUDA_VISIBLE_DEVICES`` may name GPUs by a UUID prefix. Otherwise (no UUID, or a MIG instance, whose UUID
    NVML spells ``MIG-``) through :func:`visible_device`."""
    _, _, index = device.partition(":")
    i = int(index) if index.strip().isdigit() else 0
    uuid = torch_device_uuid(i)
    return uuid if uuid is not None and nvml_knows(uuid) else visible_device(i)


class PynvmlBackend:
    """NVML through ``nvidia-ml-py`` (``pynvml``) for one device: by default the process's first
    visible CUDA device (see :func:`visible_device`)."""

    def __init__(self, device: "str | int | None" = None) -> None:
        self.device = str(device) if device is not None else visible_device()
        self._nv: Any = None
        self._h: Any = None
        self._instant_power: Optional[bool] = None

    def open(self) -> None:
        try:
            import pynvml
        except ImportError as exc:  # pragma: no cover - nvidia-ml-py is a dependency
            raise NvmlUnavailable(f"nvidia-ml-py is not installed ({exc})") from None
        try:
            pynvml.nvmlInit()
            if self.device.isdigit():
                self._h = pynvml.nvmlDeviceGetHandleByIndex(int(self.device))
            else:
                self._h = pynvml.nvmlDeviceGetHandleByUUID(self.device)
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(f"NVML cannot be used: {exc}") from None
        self._nv = pynvml

    def close(self) -> None:
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except self._nv.NVMLError:
                pass
            self._nv = None

    def _try(self, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None where NVML cannot answer: an NVML error (not supported, no permission), or a binding
        too old to have the call."""
        try:
            return fn()
        except (self._nv.NVMLError, AttributeError):
            return None

    def device_info(self) -> Dict[str, Any]:
        """Name, driver, memory bus width (bits), max memory clock (MHz), power limit (W) and the
        peak DRAM bandwidth they imply (GB/s = bus bytes x max clock x 2 transfers per clock)."""
        nv, h = self._nv, self._h
        name = self._try(lambda: nv.nvmlDeviceGetName(h))
        driver = self._try(nv.nvmlSystemGetDriverVersion)
        bus = self._try(lambda: nv.nvmlDeviceGetMemoryBusWidth(h))
        mem_clock = self._try(lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM))
        limit = self._try(lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h))
        peak = bus / 8 * mem_clock * 1e6 * 2 / 1e9 if bus and mem_clock else None
        decode = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
        uuid = self._try(lambda: nv.nvmlDeviceGetUUID(h))
        index = self._try(lambda: nv.nvmlDeviceGetIndex(h))
        # the link the device and its slot can train to (the current one drops to a lower generation when idle)
        generation = self._try(lambda: nv.nvmlDeviceGetMaxPcieLinkGeneration(h))
        width = self._try(lambda: nv.nvmlDeviceGetMaxPcieLinkWidth(h))
        return {"name": decode(name), "driver": decode(driver), "uuid": decode(uuid), "nvml_index": index,
                "memory_bus_width_bits": bus,
                "max_memory_clock_mhz": mem_clock, "power_limit_w": limit / 1000 if limit else None,
                "peak_bandwidth_gbps": peak, "pcie_link_generation": generation, "pcie_link_width": width,
                "pcie_gbps": pcie_gbps(generation, width)}

    def _power_w(self) -> Optional[float]:
        nv, h = self._nv, self._h
        if self._instant_power is not False:
            try:
                v = nv.nvmlDeviceGetFieldValues(h, [nv.NVML_FI_DEV_POWER_INSTANT])[0]
                if v.nvmlReturn == nv.NVML_SUCCESS:
                    self._instant_power = True
                    return v.value.uiVal / 1000.0
            except (nv.NVMLError, AttributeError):
                pass
            self._instant_power = False
        mw = self._try(lambda: nv.nvmlDeviceGetPowerUsage(h))
        return mw / 1000.0 if mw is not None else None

    def read(self) -> Dict[str, Any]:
        nv, h = self._nv, self._h
        util = self._try(lambda: nv.nvmlDeviceGetUtilizationRates(h))
        mem = self._try(lambda: nv.nvmlDeviceGetMemoryInfo(h))
        reasons = self._try(lambda: nv.nvmlDeviceGetCurrentClocksEventReasons(h))
        if reasons is None:
            reasons = self._try(lambda: nv.nvmlDeviceGetCurrentClocksThrottleReasons(h))
        return {
            "gpu_util_pct": util.gpu if util is not None else None,
            "mem_util_pct": util.memory if util is not None else None,
            "mem_used_bytes": mem.used if mem is not None else None,
            "power_w": self._power_w(),
            "sm_clock_mhz": self._try(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
            "mem_clock_mhz": self._try(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
            "temperature_c": self._try(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
            "clock_event_reasons": reasons,
        }

    def energy_mj(self) -> Optional[float]:
        return self._try(lambda: float(self._nv.nvmlDeviceGetTotalEnergyConsumption(self._h)))

    def gpm_supported(self) -> bool:
        support = self._try(lambda: self._nv.nvmlGpmQueryDeviceSupport(self._h))
        return bool(support is not None and support.isSupportedDevice)

    def gpm_sample(self) -> Any:
        sample = self._nv.nvmlGpmSampleAlloc()
        return self._nv.nvmlGpmSampleGet(self._h, sample)

    def gpm_free(self, sample: Any) -> None:
        self._try(lambda: self._nv.nvmlGpmSampleFree(sample))

    def gpm_metrics(self, first: Any, second: Any) -> Dict[str, Optional[float]]:
        nv = self._nv
        ids = {"dram_bw_util_pct": nv.NVML_GPM_METRIC_DRAM_BW_UTIL, "sm_occupancy_pct": nv.NVML_GPM_METRIC_SM_OCCUPANCY,
               "sm_util_pct": nv.NVML_GPM_METRIC_SM_UTIL, "tensor_util_pct": nv.NVML_GPM_METRIC_ANY_TENSOR_UTIL}
        req = nv.c_nvmlGpmMetricsGet_t()
        req.version = nv.NVML_GPM_METRICS_GET_VERSION
        req.numMetrics = len(ids)
        req.sample1, req.sample2 = first, second
        for i, metric in enumerate(ids.values()):
            req.metrics[i].metricId = metric
        nv.nvmlGpmMetricsGet(req)
        return {name: (req.metrics[i].value if req.metrics[i].nvmlReturn == nv.NVML_SUCCESS else None)
                for i, name in enumerate(ids)}


class _Samples:
    """What a sampler holds, in a thread or a child process: its intervals (the GPM one at least
    :data:`MIN_GPM_INTERVAL_S`), the NVML and GPM series, whether GPM is available, and errors."""

    def __init__(self, interval_s: float, gpm_interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the sampling interval must be positive")
        self.interval_s = interval_s
        self.gpm_interval_s = max(gpm_interval_s, MIN_GPM_INTERVAL_S)
        self.nvml, self.gpm = empty_series()
        self.gpm_available = False
        self.errors: List[str] = []


class NvmlSampler(_Samples):
    """Samples a backend on a background thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, backend: Any, interval_s: float = 0.02, gpm_interval_s: float = 0.1,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__(interval_s, gpm_interval_s)
        self.backend = backend
        self.clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "NvmlSampler":
        self.gpm_available = bool(self.backend.gpm_supported())
        self._thread = threading.Thread(target=self._loop, name="bambaprof-nvml", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        next_gpm = 0
        prev_sample, prev_t = None, 0
        failures = 0
        while not self._stop.is_set():
            t0 = self.clock()
            try:
                values = self.backend.read()
                self.nvml["t_ns"].append(t0)
                for k in NVML_SERIES:
                    self.nvml[k].append(values.get(k))
                if self.gpm_available and t0 >= next_gpm:
                    sample = self.backend.gpm_sample()
                    if prev_sample is not None:
                        metrics = self.backend.gpm_metrics(prev_sample, sample)
                        self.gpm["t_ns"].append((prev_t + t0) // 2)
                        self.gpm["span_ns"].append(t0 - prev_t)
                        for k in GPM_SERIES:
                            self.gpm[k].append(metrics.get(k))
                        self._free(prev_sample)
                    prev_sample, prev_t = sample, t0
                    next_gpm = t0 + int(self.gpm_interval_s * 1e9)
                failures = 0
            except Exception as exc:  # NVML can fail transiently; give up after repeated failures
                failures += 1
                if failures == 1:
                    self.errors.append(first_line(exc))
                if failures >= 5:
                    break
            elapsed = (self.clock() - t0) / 1e9
            self._stop.wait(max(self.interval_s - elapsed, 0.0))
        if prev_sample is not None:
            self._free(prev_sample)

    def _free(self, sample: Any) -> None:
        free = getattr(self.backend, "gpm_free", None)
        if free is not None:
            free(sample)

    def columns(self, offset_us: float = 0.0) -> Dict[str, Any]:
        """The samples as the run directory's telemetry columns, times moved to the trace clock."""
        return telemetry_columns(self, offset_us)


def telemetry_columns(sampler: Any, offset_us: float = 0.0) -> Dict[str, Any]:
    """A sampler's series as the run directory's telemetry columns, times moved to the trace clock."""
    def group(cols: Dict[str, List[Any]]) -> Dict[str, List[Any]]:
        out = {k: v for k, v in cols.items() if k not in ("t_ns", "span_ns")}
        out["t_us"] = to_trace_clock(cols["t_ns"], offset_us)
        if "span_ns" in cols:
            out["span_us"] = [v / 1e3 for v in cols["span_ns"]]
        return out

    return {"schema": 1, "clock": "trace_us", "interval_ms": sampler.interval_s * 1e3,
            "gpm_interval_ms": sampler.gpm_interval_s * 1e3, "nvml": group(sampler.nvml),
            "gpm": group(sampler.gpm) if sampler.gpm_available else None, "errors": sampler.errors}


def _sampler_child(conn: Any, stop: Any, backend_factory: Callable[[], Any], interval_s: float,
                   gpm_interval_s: float) -> None:
    """Child-process body of :class:`ProcessSampler`: open the backend, sample until told to stop."""
    try:
        backend = backend_factory()
        backend.open()
    except NvmlUnavailable as exc:
        conn.send(("error", str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", f"NVML sampler could not start: {exc}"))
        return
    sampler = NvmlSampler(backend, interval_s, gpm_interval_s).start()
    conn.send(("ready", sampler.gpm_available))
    stop.wait()
    sampler.stop()
    backend.close()
    conn.send(("done", sampler.nvml, sampler.gpm, sampler.errors))


class ProcessSampler(_Samples):
    """:class:`NvmlSampler` in a child process, so that sampling never competes for this
    process's GIL (a sampling thread slowed launch-bound generation by a fifth on an H200).

    ``backend_factory`` must be picklable (a class, or ``functools.partial`` of one). The
    child is started with ``spawn`` (no CUDA state is inherited) and stamps samples with
    ``time.monotonic_ns()``, which is the same clock in every process.
    """

    def __init__(self, backend_factory: Callable[[], Any], interval_s: float = 0.02,
                 gpm_interval_s: float = 0.1, timeout_s: float = 60.0) -> None:
        super().__init__(interval_s, gpm_interval_s)
        self.backend_factory = backend_factory
        self.timeout_s = timeout_s
        self._proc: Any = None

    def start(self) -> "ProcessSampler":
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=_sampler_child, name="bambaprof-nvml", daemon=True,
                                 args=(child, self._stop, self.backend_factory, self.interval_s, self.gpm_interval_s))
        self._proc.start()
        if not self._conn.poll(self.timeout_s):
            self._proc.kill()
            raise NvmlUnavailable("the NVML sampler process did not start")
        msg = self._conn.recv()
        if msg[0] == "error":
            self._proc.join(5)
            raise NvmlUnavailable(msg[1])
        self.gpm_available = bool(msg[1])
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._stop.set()
        if self._conn.poll(self.timeout_s):
            _, self.nvml, self.gpm, self.errors = self._conn.recv()
        else:
            self.errors.append("the NVML sampler process did not answer; its samples are lost")
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
        self._proc = None

    def columns(self, offset_us: float = 0.0) -> Dict[str, Any]:
        return telemetry_columns(self, offset_us)


def to_trace_clock(t_ns: List[int], offset_us: float) -> List[float]:
    """Monotonic nanoseconds to trace microseconds: ``t_ns / 1000 + offset_us``."""
    return [t / 1000.0 + offset_us for t in t_ns]


def window_stats(cols: Dict[str, List[Any]], name: str, t0_ns: int, t1_ns: int) -> Dict[str, Optional[float]]:
    """Mean and max of series ``name`` over the samples of ``[t0_ns, t1_ns]``; ``None`` if none.

    Point samples (NVML) count when stamped inside the window. Interval samples (GPM: columns with
    ``span_ns``) count only when their whole interval lies inside it: an interval that reaches past
    the window mixes in what ran (or idled) outside it."""
    from ..run.telemetry import series_window_stats

    return series_window_stats(cols.get("t_ns", []), cols.get(name, []), t0_ns, t1_ns, cols.get("span_ns"))
