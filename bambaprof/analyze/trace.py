"""A trace as columns: GPU activities, runtime/driver calls, CPU ops, memory samples.

:func:`load_trace` reads any Kineto trace (PyTorch 1.13 to today, CUDA or
ROCm, CPU-only too) into a :class:`Trace`. Schema differences are absorbed
here so that the analyses see one shape:

- event categories by their old and new names (``kernel``/``Kernel``,
  ``gpu_memcpy``/``Memcpy``, ``cuda_runtime``/``Runtime``, ``cpu_op``/``Operator``, ...);
- kernel-to-launch links from ``args.correlation``, or else from the
  ``ac2g`` / ``async_cpu_to_gpu`` flow events;
- device properties from ``deviceProperties`` or the older ``computeProperties``;
- timestamps are microseconds (``ts`` may carry nanosecond decimals or be
  integral); ``dur`` likewise.

All times in a :class:`Trace` are microseconds (us).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .parse import Event, decode
from .source import TraceError, TraceSource, read_bytes, resolve

KERNEL_CATS = frozenset({"kernel"})
MEMCPY_CATS = frozenset({"gpu_memcpy", "memcpy"})
MEMSET_CATS = frozenset({"gpu_memset", "memset"})
RUNTIME_CATS = frozenset({"cuda_runtime", "cuda_driver", "runtime", "driver", "hip_runtime", "hip_driver"})
OP_CATS = frozenset({"cpu_op", "operator", "user_annotation"})
FLOW_CATS = frozenset({"ac2g", "async_cpu_to_gpu"})

GPU_KINDS = ("kernel", "memcpy", "memset")


def _f(x: Any) -> float:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _i(x: Any, default: int = -1) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def _dim3(x: Any) -> tuple:
    if isinstance(x, (list, tuple)) and x:
        vals = [_i(v, 1) for v in list(x)[:3]]
        return tuple(vals + [1] * (3 - len(vals)))
    return (-1, -1, -1)


@dataclass(frozen=True)
class DeviceProps:
    """What Kineto records of a GPU (``deviceProperties`` / ``computeProperties``); -1 is unknown."""

    id: int
    name: str
    compute_major: int = -1
    compute_minor: int = -1
    num_sms: int = -1
    max_threads_per_sm: int = -1
    max_threads_per_block: int = -1
    regs_per_sm: int = -1
    regs_per_block: int = -1
    smem_per_sm: int = -1
    smem_per_block: int = -1
    smem_per_block_optin: int = -1
    warp_size: int = 32
    total_memory: int = -1

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DeviceProps":
        g = d.get
        return cls(
            id=_i(g("id"), 0),
            name=str(g("name", "unknown")),
            compute_major=_i(g("computeMajor")),
            compute_minor=_i(g("computeMinor")),
            num_sms=_i(g("numSms", g("multiProcessorCount"))),
            max_threads_per_sm=_i(g("maxThreadsPerMultiprocessor", g("maxThreadsPerMultiProcessor"))),
            max_threads_per_block=_i(g("maxThreadsPerBlock")),
            regs_per_sm=_i(g("regsPerMultiprocessor")),
            regs_per_block=_i(g("regsPerBlock")),
            smem_per_sm=_i(g("sharedMemPerMultiprocessor")),
            smem_per_block=_i(g("sharedMemPerBlock")),
            smem_per_block_optin=_i(g("sharedMemPerBlockOptin")),
            warp_size=_i(g("warpSize"), 32) or 32,
            total_memory=_i(g("totalGlobalMem")),
        )


@dataclass
class GpuActivities:
    """Kernels, memcpys and memsets; one row per event, times in us."""

    name: List[str] = field(default_factory=list)
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="U6"))
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    device: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stream: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    correlation: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    external_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    grid: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    block: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    registers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shared_memory: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    est_occupancy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bytes: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.name)

    @property
    def end(self) -> np.ndarray:
        return self.ts + self.dur


@dataclass
class RuntimeCalls:
    """CUDA/HIP runtime and driver API calls on the host; times in us."""

    name: List[str] = field(default_factory=list)
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tid: List[Any] = field(default_factory=list)
    correlation: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    external_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class CpuOps:
    """CPU operators and user annotations; times in us. Shapes only with ``record_shapes``."""

    name: List[str] = field(default_factory=list)
    cat: List[str] = field(default_factory=list)
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pid: List[Any] = field(default_factory=list)
    tid: List[Any] = field(default_factory=list)
    external_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    input_dims: List[Any] = field(default_factory=list)
    input_types: List[Any] = field(default_factory=list)
    concrete_inputs: List[Any] = field(default_factory=list)
    kernel_num_gb: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kernel_flop: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kernel_backend: List[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class MemorySamples:
    """``[memory]`` instant events: allocator totals after each (de)allocation, bytes."""

    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    allocated: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reserved: np.ndarray = field(default_factory=lambda: np.zeros(0))
    device_type: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class Trace:
    """A loaded trace. ``meta`` holds the document's metadata (schema version, versions,
    ``distributedInfo``); ``devices`` the GPUs' properties by device id."""

    source: TraceSource
    backend: str
    meta: Dict[str, Any]
    devices: Dict[int, DeviceProps]
    gpu: GpuActivities
    runtime: RuntimeCalls
    ops: CpuOps
    memory: MemorySamples
    n_events: int
    span_us: tuple  # (first ts, last end) over all timed events, us

    @property
    def rank(self) -> Optional[int]:
        info = self.meta.get("distributedInfo")
        if isinstance(info, dict) and "rank" in info:
            return _i(info.get("rank"))
        return None

    @property
    def platform(self) -> str:
        """``"rocm"`` when the trace says so, else ``"cuda"``."""
        meta_keys = ("roctracer_version", "rocm_version", "hip_runtime_version")
        if any(self.meta.get(k) is not None for k in meta_keys) or any(n.startswith("hip") for n in self.runtime.name[:50]):
            return "rocm"
        return "cuda"


def _devices(meta: Dict[str, Any]) -> Dict[int, DeviceProps]:
    raw = meta.get("deviceProperties") or meta.get("computeProperties") or []
    if isinstance(raw, dict):
        raw = [raw]
    out: Dict[int, DeviceProps] = {}
    for i, d in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(d, dict):
            props = DeviceProps.from_dict({"id": i, **d})
            out[props.id] = props
    return out


def build_trace(meta: Dict[str, Any], events: List[Event], source: TraceSource, backend: str) -> Trace:
    """Sort raw events into the columnar tables of a :class:`Trace`."""
    g: Dict[str, list] = {k: [] for k in (
        "name", "kind", "ts", "dur", "device", "stream", "corr", "ext", "grid", "block", "regs", "smem", "occ",
        "bytes", "pid", "tid")}
    r: Dict[str, list] = {k: [] for k in ("name", "ts", "dur", "tid", "pid", "corr", "ext")}
    o: Dict[str, list] = {k: [] for k in (
        "name", "cat", "ts", "dur", "pid", "tid", "ext", "dims", "types", "conc", "gb", "flop", "backend")}
    m: Dict[str, list] = {k: [] for k in ("ts", "alloc", "res", "dtype", "did")}
    flow_start: Dict[tuple, int] = {}
    flow_end: Dict[tuple, int] = {}
    t_min, t_max = math.inf, -math.inf

    for ev in events:
        cat = ev.cat
        cat = cat.lower() if isinstance(cat, str) else ""
        ph = ev.ph
        if cat in FLOW_CATS:
            key = (ev.pid, ev.tid, _f(ev.ts))
            if ph == "s":
                flow_start[key] = _i(ev.id)
            elif ph in ("f", "t"):
                flow_end[key] = _i(ev.id)
            continue
        a = ev.args
        if ev.name == "[memory]":
            if a is not None:
                m["ts"].append(_f(ev.ts))
                m["alloc"].append(_f(a.total_allocated))
                m["res"].append(_f(a.total_reserved))
                m["dtype"].append(_i(a.device_type))
                m["did"].append(_i(a.device_id))
            continue
        if ph != "X":
            continue
        ts, dur = _f(ev.ts), _f(ev.dur)
        if not (math.isfinite(ts) and math.isfinite(dur)):
            continue
        if cat in KERNEL_CATS or cat in MEMCPY_CATS or cat in MEMSET_CATS:
            kind = "kernel" if cat in KERNEL_CATS else ("memcpy" if cat in MEMCPY_CATS else "memset")
            g["name"].append(str(ev.name))
            g["kind"].append(kind)
            g["ts"].append(ts)
            g["dur"].append(dur)
            dev = a.device if a is not None and a.device is not None else ev.pid
            g["device"].append(_i(dev, 0))
            g["stream"].append(_i(a.stream if a is not None and a.stream is not None else ev.tid))
            g["corr"].append(_i(a.correlation) if a is not None else -1)
            g["ext"].append(_i(a.external_id) if a is not None else -1)
            g["grid"].append(_dim3(a.grid if a is not None else None))
            g["block"].append(_dim3(a.block if a is not None else None))
            g["regs"].append(_i(a.registers) if a is not None else -1)
            g["smem"].append(_i(a.shared_memory) if a is not None else -1)
            g["occ"].append(_f(a.est_occupancy) if a is not None else math.nan)
            g["bytes"].append(_f(a.bytes) if a is not None else math.nan)
            g["pid"].append(ev.pid)
            g["tid"].append(ev.tid)
        elif cat in RUNTIME_CATS:
            r["name"].append(str(ev.name))
            r["ts"].append(ts)
            r["dur"].append(dur)
            r["tid"].append(ev.tid)
            r["pid"].append(ev.pid)
            r["corr"].append(_i(a.correlation) if a is not None else -1)
            r["ext"].append(_i(a.external_id) if a is not None else -1)
        elif cat in OP_CATS:
            o["name"].append(str(ev.name))
            o["cat"].append(cat)
            o["ts"].append(ts)
            o["dur"].append(dur)
            o["pid"].append(ev.pid)
            o["tid"].append(ev.tid)
            if a is not None:
                o["ext"].append(_i(a.external_id))
                o["dims"].append(a.input_dims)
                o["types"].append(a.input_type)
                o["conc"].append(a.concrete_inputs)
                o["gb"].append(_f(a.kernel_num_gb))
                o["flop"].append(_f(a.kernel_flop))
                o["backend"].append(a.kernel_backend)
            else:
                o["ext"].append(-1)
                for k in ("dims", "types", "conc", "backend"):
                    o[k].append(None)
                o["gb"].append(math.nan)
                o["flop"].append(math.nan)
        else:
            continue
        if ts < t_min:
            t_min = ts
        if ts + dur > t_max:
            t_max = ts + dur

    corr = np.asarray(g["corr"], dtype=np.int64)
    if flow_end and (corr < 0).any():
        for i in np.nonzero(corr < 0)[0]:
            corr[i] = flow_end.get((g["pid"][i], g["tid"][i], g["ts"][i]), -1)
    rcorr = np.asarray(r["corr"], dtype=np.int64)
    if flow_start and (rcorr < 0).any():
        for i in np.nonzero(rcorr < 0)[0]:
            rcorr[i] = flow_start.get((r["pid"][i], r["tid"][i], r["ts"][i]), -1)

    gpu = GpuActivities(
        name=g["name"], kind=np.asarray(g["kind"], dtype="U6"), ts=np.asarray(g["ts"], dtype=np.float64),
        dur=np.asarray(g["dur"], dtype=np.float64), device=np.asarray(g["device"], dtype=np.int64),
        stream=np.asarray(g["stream"], dtype=np.int64), correlation=corr,
        external_id=np.asarray(g["ext"], dtype=np.int64),
        grid=np.asarray(g["grid"], dtype=np.int64).reshape(-1, 3),
        block=np.asarray(g["block"], dtype=np.int64).reshape(-1, 3),
        registers=np.asarray(g["regs"], dtype=np.int64), shared_memory=np.asarray(g["smem"], dtype=np.int64),
        est_occupancy=np.asarray(g["occ"], dtype=np.float64), bytes=np.asarray(g["bytes"], dtype=np.float64),
    )
    runtime = RuntimeCalls(
        name=r["name"], ts=np.asarray(r["ts"], dtype=np.float64), dur=np.asarray(r["dur"], dtype=np.float64),
        tid=r["tid"], correlation=rcorr, external_id=np.asarray(r["ext"], dtype=np.int64),
    )
    ops = CpuOps(
        name=o["name"], cat=o["cat"], ts=np.asarray(o["ts"], dtype=np.float64),
        dur=np.asarray(o["dur"], dtype=np.float64), pid=o["pid"], tid=o["tid"],
        external_id=np.asarray(o["ext"], dtype=np.int64), input_dims=o["dims"], input_types=o["types"],
        concrete_inputs=o["conc"], kernel_num_gb=np.asarray(o["gb"], dtype=np.float64),
        kernel_flop=np.asarray(o["flop"], dtype=np.float64), kernel_backend=o["backend"],
    )
    memory = MemorySamples(
        ts=np.asarray(m["ts"], dtype=np.float64), allocated=np.asarray(m["alloc"], dtype=np.float64),
        reserved=np.asarray(m["res"], dtype=np.float64), device_type=np.asarray(m["dtype"], dtype=np.int64),
        device_id=np.asarray(m["did"], dtype=np.int64),
    )
    span = (t_min, t_max) if t_min <= t_max else (math.nan, math.nan)
    return Trace(source, backend, meta, _devices(meta), gpu, runtime, ops, memory, len(events), span)


def load_trace(path: Union[str, Path, TraceSource], backend: str = "auto") -> Trace:
    """Read a run directory or a ``.json``/``.json.gz`` trace into a :class:`Trace`.

    Raises :class:`~bambaprof.analyze.source.TraceError` (one line) for missing,
    corrupt, non-trace or empty input.
    """
    source = path if isinstance(path, TraceSource) else resolve(path)
    data = read_bytes(source.trace_path)
    try:
        meta, events, used = decode(data, backend)
    except TraceError as exc:
        raise TraceError(f"{source.trace_path}: {exc}") from None
    finally:
        close = getattr(data, "close", None)
        if close is not None:
            del data  # release the mapping once decoded
    if not events:
        raise TraceError(f"{source.trace_path}: the trace has no events")
    trace = build_trace(meta, events, source, used)
    if len(trace.gpu) == 0 and len(trace.runtime) == 0 and len(trace.ops) == 0:
        raise TraceError(f"{source.trace_path}: the trace has no timed CPU or GPU events")
    return trace
