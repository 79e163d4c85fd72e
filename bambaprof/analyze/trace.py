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

from array import array

from .parse import EMPTY_ARGS, DecodedTrace, decode, raw_value
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
    pid: List[Any] = field(default_factory=list)

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
    shapes_recorded: bool = False  # any op carried Input Dims (record_shapes=True)

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
    lenient_events: int = 0  # events decoded through the lenient path (schema drift)

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


class _Columns:
    """Append-only typed columns (array.array: 8 bytes per number, not a Python object)."""

    def __init__(self, floats: tuple, ints: tuple, objects: tuple) -> None:
        self.f = {k: array("d") for k in floats}
        self.i = {k: array("q") for k in ints}
        self.o: Dict[str, list] = {k: [] for k in objects}

    def np_float(self, k: str) -> np.ndarray:
        return np.frombuffer(self.f[k], dtype=np.float64).copy() if len(self.f[k]) else np.zeros(0)

    def np_int(self, k: str) -> np.ndarray:
        return np.frombuffer(self.i[k], dtype=np.int64).copy() if len(self.i[k]) else np.zeros(0, dtype=np.int64)


_NAN = math.nan
_CATEGORY = {}  # raw cat string -> category code, filled lazily


def _category(cat: Any) -> str:
    code = _CATEGORY.get(cat)
    if code is None:
        low = cat.lower() if isinstance(cat, str) else ""
        if low in KERNEL_CATS:
            code = "kernel"
        elif low in MEMCPY_CATS:
            code = "memcpy"
        elif low in MEMSET_CATS:
            code = "memset"
        elif low in RUNTIME_CATS:
            code = "runtime"
        elif low in OP_CATS:
            code = low
        elif low in FLOW_CATS:
            code = "flow"
        else:
            code = ""
        if isinstance(cat, (str, type(None))):
            _CATEGORY[cat] = code
    return code


def build_trace(decoded: DecodedTrace, source: TraceSource) -> Trace:
    """Sort the decoded events, batch by batch, into the columnar tables of a :class:`Trace`."""
    g = _Columns(("ts", "dur", "occ", "bytes"), ("kind", "device", "stream", "corr", "ext", "regs", "smem"),
                 ("name", "grid", "block", "pid", "tid"))
    r = _Columns(("ts", "dur"), ("corr", "ext"), ("name", "tid", "pid"))
    o = _Columns(("ts", "dur", "gb", "flop"), ("ext",), ("name", "cat", "pid", "tid", "dims", "types", "conc",
                                                        "backend"))
    m = _Columns(("ts", "alloc", "res"), ("dtype", "did"), ())
    flow_start: Dict[tuple, int] = {}
    flow_end: Dict[tuple, int] = {}
    intern: Dict[Any, Any] = {}
    t_min, t_max = math.inf, -math.inf
    kinds = {"kernel": 0, "memcpy": 1, "memset": 2}
    n_events = 0

    for batch in decoded.batches():
        n_events += len(batch)
        for ev in batch:
            code = _category(ev.cat)
            if code == "flow":
                if ev.id is not None and ev.ts is not None:
                    key = (ev.pid, ev.tid, ev.ts)
                    fid = ev.id if isinstance(ev.id, int) else _i(ev.id)
                    if ev.ph == "s":
                        flow_start[key] = fid
                    elif ev.ph in ("f", "t"):
                        flow_end[key] = fid
                continue
            a = ev.args if ev.args is not None else EMPTY_ARGS
            if ev.name == "[memory]":
                if ev.args is not None and ev.ts is not None:
                    m.f["ts"].append(ev.ts)
                    m.f["alloc"].append(_NAN if a.total_allocated is None else a.total_allocated)
                    m.f["res"].append(_NAN if a.total_reserved is None else a.total_reserved)
                    m.i["dtype"].append(-1 if a.device_type is None else a.device_type)
                    m.i["did"].append(-1 if a.device_id is None else a.device_id)
                continue
            if ev.ph != "X" or not code:
                continue
            ts, dur = ev.ts, ev.dur
            if ts is None or dur is None or ts != ts or dur != dur:
                continue
            name = ev.name if ev.name is not None else ""
            name = intern.setdefault(name, name)
            pid = intern.setdefault(ev.pid, ev.pid)
            tid = intern.setdefault(ev.tid, ev.tid)
            if code in kinds:
                g.o["name"].append(name)
                g.i["kind"].append(kinds[code])
                g.f["ts"].append(ts)
                g.f["dur"].append(dur)
                dev = a.device if a.device is not None else (pid if isinstance(pid, int) else 0)
                g.i["device"].append(dev)
                g.i["stream"].append(a.stream if a.stream is not None else (tid if isinstance(tid, int) else -1))
                g.i["corr"].append(-1 if a.correlation is None else a.correlation)
                g.i["ext"].append(-1 if a.external_id is None else a.external_id)
                g.o["grid"].append(intern.setdefault(_dim3(a.grid), _dim3(a.grid)))
                g.o["block"].append(intern.setdefault(_dim3(a.block), _dim3(a.block)))
                g.i["regs"].append(-1 if a.registers is None else a.registers)
                g.i["smem"].append(-1 if a.shared_memory is None else a.shared_memory)
                g.f["occ"].append(_NAN if a.est_occupancy is None else a.est_occupancy)
                g.f["bytes"].append(_NAN if a.bytes is None else a.bytes)
                g.o["pid"].append(pid)
                g.o["tid"].append(tid)
            elif code == "runtime":
                r.o["name"].append(name)
                r.f["ts"].append(ts)
                r.f["dur"].append(dur)
                r.o["tid"].append(tid)
                r.o["pid"].append(pid)
                r.i["corr"].append(-1 if a.correlation is None else a.correlation)
                r.i["ext"].append(-1 if a.external_id is None else a.external_id)
            else:
                o.o["name"].append(name)
                o.o["cat"].append(code)
                o.f["ts"].append(ts)
                o.f["dur"].append(dur)
                o.o["pid"].append(pid)
                o.o["tid"].append(tid)
                o.i["ext"].append(-1 if a.external_id is None else a.external_id)
                o.o["dims"].append(a.input_dims)
                o.o["types"].append(a.input_type)
                o.o["conc"].append(a.concrete_inputs)
                o.f["gb"].append(_NAN if a.kernel_num_gb is None else a.kernel_num_gb)
                o.f["flop"].append(_NAN if a.kernel_flop is None else a.kernel_flop)
                o.o["backend"].append(a.kernel_backend)
            if ts < t_min:
                t_min = ts
            if ts + dur > t_max:
                t_max = ts + dur
        del batch

    corr = g.np_int("corr")
    if flow_end and (corr < 0).any():
        for i in np.nonzero(corr < 0)[0].tolist():
            corr[i] = flow_end.get((g.o["pid"][i], g.o["tid"][i], g.f["ts"][i]), -1)
    rcorr = r.np_int("corr")
    if flow_start and (rcorr < 0).any():
        for i in np.nonzero(rcorr < 0)[0].tolist():
            rcorr[i] = flow_start.get((r.o["pid"][i], r.o["tid"][i], r.f["ts"][i]), -1)

    # Shapes are decoded only for ops that launched a GPU activity (the byte model's input).
    ext = o.np_int("ext")
    launched = set(g.np_int("ext").tolist())
    launched.discard(-1)
    dims, types, conc = o.o["dims"], o.o["types"], o.o["conc"]
    has_shapes = any(d is not None for d in dims)
    for i in range(len(dims)):
        if ext[i] in launched:
            dims[i], types[i], conc[i] = raw_value(dims[i]), raw_value(types[i]), raw_value(conc[i])
        else:
            dims[i] = types[i] = conc[i] = None

    kind_names = np.array(GPU_KINDS)
    gpu = GpuActivities(
        name=g.o["name"], kind=kind_names[g.np_int("kind")] if len(g.i["kind"]) else np.zeros(0, dtype="U6"),
        ts=g.np_float("ts"), dur=g.np_float("dur"), device=g.np_int("device"), stream=g.np_int("stream"),
        correlation=corr, external_id=g.np_int("ext"),
        grid=np.asarray(g.o["grid"], dtype=np.int64).reshape(-1, 3),
        block=np.asarray(g.o["block"], dtype=np.int64).reshape(-1, 3),
        registers=g.np_int("regs"), shared_memory=g.np_int("smem"),
        est_occupancy=g.np_float("occ"), bytes=g.np_float("bytes"),
    )
    runtime = RuntimeCalls(
        name=r.o["name"], ts=r.np_float("ts"), dur=r.np_float("dur"), tid=r.o["tid"], correlation=rcorr,
        external_id=r.np_int("ext"), pid=r.o["pid"],
    )
    ops = CpuOps(
        name=o.o["name"], cat=o.o["cat"], ts=o.np_float("ts"), dur=o.np_float("dur"), pid=o.o["pid"],
        tid=o.o["tid"], external_id=ext, input_dims=dims, input_types=types, concrete_inputs=conc,
        kernel_num_gb=o.np_float("gb"), kernel_flop=o.np_float("flop"), kernel_backend=o.o["backend"],
        shapes_recorded=has_shapes,
    )
    memory = MemorySamples(
        ts=m.np_float("ts"), allocated=m.np_float("alloc"), reserved=m.np_float("res"),
        device_type=m.np_int("dtype"), device_id=m.np_int("did"),
    )
    span = (t_min, t_max) if t_min <= t_max else (math.nan, math.nan)
    return Trace(source, decoded.backend, decoded.meta, _devices(decoded.meta), gpu, runtime, ops, memory,
                 n_events, span, decoded.lenient)


def load_trace(path: Union[str, Path, TraceSource], backend: str = "auto") -> Trace:
    """Read a run directory or a ``.json``/``.json.gz`` trace into a :class:`Trace`.

    Raises :class:`~bambaprof.analyze.source.TraceError` (one line) for missing,
    corrupt, non-trace or empty input.
    """
    source = path if isinstance(path, TraceSource) else resolve(path)
    data = read_bytes(source.trace_path)
    try:
        decoded = decode(data, backend)
        if len(decoded) == 0:
            raise TraceError("the trace has no events")
        trace = build_trace(decoded, source)
    except TraceError as exc:
        raise TraceError(f"{source.trace_path}: {exc}") from None
    finally:
        decoded = None  # the raw slices reference the buffer: drop them before the buffer
        close = getattr(data, "close", None)
        del data
        if close is not None:
            close()
    if len(trace.gpu) == 0 and len(trace.runtime) == 0 and len(trace.ops) == 0:
        raise TraceError(f"{source.trace_path}: the trace has no timed CPU or GPU events")
    return trace
