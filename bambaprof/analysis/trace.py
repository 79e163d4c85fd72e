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

import functools
import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import msgspec
import numpy as np

from .parse import EMPTY_ARGS, DecodedTrace, decode
from .source import TraceError, TraceSource, read_bytes, resolve

KERNEL_CATS = frozenset({"kernel"})
MEMCPY_CATS = frozenset({"gpu_memcpy", "memcpy"})
MEMSET_CATS = frozenset({"gpu_memset", "memset"})
RUNTIME_CATS = frozenset({"cuda_runtime", "cuda_driver", "runtime", "driver", "hip_runtime", "hip_driver"})
OP_CATS = frozenset({"cpu_op", "operator", "user_annotation"})
FLOW_CATS = frozenset({"ac2g", "async_cpu_to_gpu"})

GPU_KINDS = ("kernel", "memcpy", "memset")
#: Ranges the profiler and bambaprof add that are neither ops nor phases: torch's step ranges and the clock marker.
PROFILER_MARKERS = re.compile(r"^(ProfilerStep#\d+|bambaprof::clock_sync)$")
#: The profiler's step ranges (``torch.profiler`` schedules mark each step).
PROFILER_STEP = re.compile(r"^ProfilerStep#\d+$")


def _i(x: Any, default: int = -1) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def _dim3(x: Any) -> tuple:
    """A (x, y, z) launch dimension; (-1, -1, -1) when unknown."""
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
    skipped: Dict[str, int] = field(default_factory=dict)  # "<kind> events <why>" -> events left out

    @functools.cached_property
    def op_row_by_external_id(self) -> Dict[int, int]:
        """The first CPU op row carrying each ``External id``: the op that launched GPU work with that id."""
        out: Dict[int, int] = {}
        for i, e in enumerate(self.ops.external_id.tolist()):
            if e >= 0:
                out.setdefault(e, i)
        return out

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
_CATEGORY: Dict[Any, str] = {}  # raw cat string -> category code, filled lazily
_OP_KIND = {"cpu_op": "cpu_op", "Operator": "cpu_op", "operator": "cpu_op", "user_annotation": "user_annotation"}


_CATEGORY_SETS = (("kernel", KERNEL_CATS), ("memcpy", MEMCPY_CATS), ("memset", MEMSET_CATS),
                  ("runtime", RUNTIME_CATS), ("op", OP_CATS), ("flow", FLOW_CATS))


def _category(cat: Any) -> str:
    code = _CATEGORY.get(cat)
    if code is None:
        low = cat.lower() if isinstance(cat, str) else ""
        code = next((name for name, cats in _CATEGORY_SETS if low in cats), "")
        if isinstance(cat, (str, type(None))):
            _CATEGORY[cat] = code
    return code


def _json_value(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def _ints(values: list) -> array:
    try:
        return array("q", [-1 if v is None else v for v in values])
    except (OverflowError, TypeError):  # an id beyond 64 bits (or not an int): unknown, as when absent
        return array("q", [v if isinstance(v, int) and -2**63 <= v < 2**63 else -1 for v in values])


def _floats(values: list) -> array:
    return array("d", [_NAN if v is None else v for v in values])


_SKIP_LABEL = {"op": "CPU op", "runtime": "runtime call"}
#: Skip-count prefixes of GPU activities (see :attr:`Trace.skipped`).
GPU_SKIP_KINDS = ("kernel events", "memcpy events", "memset events")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _unusable_because(ts: Any, dur: Any) -> Optional[str]:
    """Why a complete event's times cannot be used, or ``None`` when they can."""
    if ts is None:
        return "without a usable ts"
    if not _number(ts):
        return "with a ts that is not a finite number"
    if dur is None:
        return "without dur"
    if not _number(dur):
        return "with a dur that is not a finite number"
    if dur < 0:
        return "with a negative dur"
    return None


def step_ranges(trace: "Trace") -> List[Tuple[float, float]]:
    """The ``ProfilerStep#<n>`` ranges of a trace as (start, end) in us, by start."""
    ops = trace.ops
    return sorted((float(ops.ts[i]), float(ops.ts[i] + ops.dur[i])) for i, name in enumerate(ops.name)
                  if PROFILER_STEP.match(name))


def build_trace(
    decoded: DecodedTrace, source: TraceSource, progress: Optional[Callable[[int, int], None]] = None
) -> Trace:
    """Sort the decoded events, batch by batch, into the columnar tables of a :class:`Trace`.

    Each batch is split by category, then every column is filled by one
    comprehension; only numbers and interned strings outlive the batch.
    """
    g = _Columns(("ts", "dur", "occ", "bytes"), ("kind", "device", "stream", "corr", "ext", "regs", "smem"),
                 ("name", "grid", "block", "pid", "tid"))
    r = _Columns(("ts", "dur"), ("corr", "ext"), ("name", "tid", "pid"))
    o = _Columns(("ts", "dur", "gb", "flop"), ("ext", "shape"), ("name", "cat", "pid", "tid", "backend"))
    shape_ids: Dict[tuple, int] = {}  # (raw Input Dims, raw Input type, raw Concrete Inputs) -> id
    m = _Columns(("ts", "alloc", "res"), ("dtype", "did"), ())
    flow_start: Dict[tuple, int] = {}
    flow_end: Dict[tuple, int] = {}
    intern: Dict[Any, Any] = {}
    kinds = {"kernel": 0, "memcpy": 1, "memset": 2}
    skipped: Counter = Counter()  # "<kind> events <why>" -> count: events left out, never silently
    n_events = 0
    total = len(decoded)
    codes = _CATEGORY

    for batch in decoded.batches():
        cats = [ev.cat for ev in batch]
        code_of = {cat: (codes[cat] if cat in codes else _category(cat)) for cat in set(cats)}
        op_cats = {cat for cat, code in code_of.items() if code == "op"}
        buckets: Dict[str, list] = {code: [] for code in set(code_of.values())}
        for ev, cat in zip(batch, cats):
            buckets[code_of[cat]].append(ev)
        if op_cats:  # document positions of the ops: their shapes are decoded later from the raw events
            buckets["op"] = list(zip([i + n_events for i, c in enumerate(cats) if c in op_cats], buckets["op"]))
        memory_events = [ev for ev in buckets.pop("", []) if ev.name == "[memory]"]
        if memory_events:
            buckets["memory"] = memory_events
        n_events += len(batch)
        del batch, cats
        if progress is not None:
            progress(n_events, total)
        for code, items in buckets.items():
            if code == "flow":
                for ev in items:
                    if ev.id is None or ev.ts is None:
                        continue
                    fid = ev.id if isinstance(ev.id, int) else _i(ev.id)
                    if not -2**63 <= fid < 2**63:  # beyond 64 bits: no correlation can carry it
                        continue
                    if ev.ph == "s":
                        flow_start[(ev.pid, ev.tid, ev.ts)] = fid
                    elif ev.ph in ("f", "t"):
                        flow_end[(ev.pid, ev.tid, ev.ts)] = fid
                continue
            if code == "memory":
                evs = [ev for ev in items if ev.args is not None and ev.ts is not None]
                m.f["ts"].extend(_floats([e.ts for e in evs]))
                m.f["alloc"].extend(_floats([e.args.total_allocated for e in evs]))
                m.f["res"].extend(_floats([e.args.total_reserved for e in evs]))
                m.i["dtype"].extend(_ints([e.args.device_type for e in evs]))
                m.i["did"].extend(_ints([e.args.device_id for e in evs]))
                continue
            if code != "op":
                items = [(0, ev) for ev in items if ev.name != "[memory]"]
            complete = [(i, ev) for i, ev in items if ev.ph == "X"]
            # times checked in bulk (the decoders give floats or None): finite, the duration not negative
            ts_all = np.fromiter((_NAN if ev.ts is None else ev.ts for _, ev in complete), np.float64, len(complete))
            dur_all = np.fromiter((_NAN if ev.dur is None else ev.dur for _, ev in complete), np.float64,
                                  len(complete))
            good = np.isfinite(ts_all) & np.isfinite(dur_all) & (dur_all >= 0)
            if good.all():
                kept = complete
            else:
                kept = [c for c, ok in zip(complete, good.tolist()) if ok]
                for _, ev in complete:
                    reason = _unusable_because(ev.ts, ev.dur)
                    if reason:
                        skipped[f"{_SKIP_LABEL.get(code, code)} events {reason}"] += 1
                ts_all, dur_all = ts_all[good], dur_all[good]
            if not kept:
                continue
            ts_col, dur_col = array("d", ts_all.tobytes()), array("d", dur_all.tobytes())
            evs = [ev for _, ev in kept]
            args = [ev.args if ev.args is not None else EMPTY_ARGS for ev in evs]
            names = [intern.setdefault(ev.name, ev.name) if ev.name is not None else "" for ev in evs]
            pids = [intern.setdefault(ev.pid, ev.pid) for ev in evs]
            tids = [intern.setdefault(ev.tid, ev.tid) for ev in evs]
            if code in kinds:
                g.o["name"].extend(names)
                g.i["kind"].extend(array("q", [kinds[code]]) * len(evs))
                g.f["ts"].extend(ts_col)
                g.f["dur"].extend(dur_col)
                g.i["device"].extend(_ints([a.device if a.device is not None else (p if isinstance(p, int) else 0)
                                            for a, p in zip(args, pids)]))
                g.i["stream"].extend(_ints([a.stream if a.stream is not None else (t if isinstance(t, int) else -1)
                                            for a, t in zip(args, tids)]))
                g.i["corr"].extend(_ints([a.correlation for a in args]))
                g.i["ext"].extend(_ints([a.external_id for a in args]))
                for key, values in (("grid", [a.grid for a in args]), ("block", [a.block for a in args])):
                    dims = [tuple(v) if type(v) is list and len(v) == 3 else _dim3(v) for v in values]
                    g.o[key].extend([intern.setdefault(d, d) for d in dims])
                g.i["regs"].extend(_ints([a.registers for a in args]))
                g.i["smem"].extend(_ints([a.shared_memory for a in args]))
                g.f["occ"].extend(_floats([a.est_occupancy for a in args]))
                g.f["bytes"].extend(_floats([a.bytes for a in args]))
                g.o["pid"].extend(pids)
                g.o["tid"].extend(tids)
            elif code == "runtime":
                r.o["name"].extend(names)
                r.f["ts"].extend(ts_col)
                r.f["dur"].extend(dur_col)
                r.o["tid"].extend(tids)
                r.o["pid"].extend(pids)
                r.i["corr"].extend(_ints([a.correlation for a in args]))
                r.i["ext"].extend(_ints([a.external_id for a in args]))
            else:
                o.o["name"].extend(names)
                o.o["cat"].extend([_OP_KIND.get(e.cat) or (e.cat or "").lower() for e in evs])
                o.f["ts"].extend(ts_col)
                o.f["dur"].extend(dur_col)
                o.o["pid"].extend(pids)
                o.o["tid"].extend(tids)
                o.i["ext"].extend(_ints([a.external_id for a in args]))
                o.i["shape"].extend(array("q", [
                    shape_ids.setdefault((bytes(a.input_dims), bytes(a.input_type or b""), bytes(a.concrete_inputs or b"")),
                                         len(shape_ids))
                    if a.input_dims is not None else -1
                    for a in args
                ]))
                o.f["gb"].extend(_floats([a.kernel_num_gb for a in args]))
                o.f["flop"].extend(_floats([a.kernel_flop for a in args]))
                o.o["backend"].extend([a.kernel_backend for a in args])
        del buckets

    corr = g.np_int("corr")
    if flow_end and (corr < 0).any():
        for i in np.nonzero(corr < 0)[0].tolist():
            corr[i] = flow_end.get((g.o["pid"][i], g.o["tid"][i], g.f["ts"][i]), -1)
    rcorr = r.np_int("corr")
    if flow_start and (rcorr < 0).any():
        for i in np.nonzero(rcorr < 0)[0].tolist():
            rcorr[i] = flow_start.get((r.o["pid"][i], r.o["tid"][i], r.f["ts"][i]), -1)

    # Shapes are decoded only for ops that launched GPU work (the byte model's input),
    # each distinct shape once.
    ext = o.np_int("ext")
    gpu_ext = g.np_int("ext")
    n_ops = len(ext)
    dims: List[Any] = [None] * n_ops
    types: List[Any] = [None] * n_ops
    conc: List[Any] = [None] * n_ops
    shapes_recorded = bool(shape_ids)
    if shapes_recorded and n_ops:
        by_id = {v: k for k, v in shape_ids.items()}
        decoded_shapes: Dict[int, tuple] = {}
        shape_of = o.np_int("shape")
        launched = np.isin(ext, gpu_ext[gpu_ext >= 0]) & (shape_of >= 0)
        for i in np.nonzero(launched)[0].tolist():
            sid = int(shape_of[i])
            if sid not in decoded_shapes:
                decoded_shapes[sid] = tuple(_json_value(b) for b in by_id[sid])
            dims[i], types[i], conc[i] = decoded_shapes[sid]

    kind_names = np.array(GPU_KINDS)
    gpu_ts, gpu_dur = g.np_float("ts"), g.np_float("dur")
    gpu = GpuActivities(
        name=g.o["name"], kind=kind_names[g.np_int("kind")] if len(g.i["kind"]) else np.zeros(0, dtype="U6"),
        ts=gpu_ts, dur=gpu_dur, device=g.np_int("device"), stream=g.np_int("stream"),
        correlation=corr, external_id=gpu_ext,
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
        shapes_recorded=shapes_recorded,
    )
    memory = MemorySamples(
        ts=m.np_float("ts"), allocated=m.np_float("alloc"), reserved=m.np_float("res"),
        device_type=m.np_int("dtype"), device_id=m.np_int("did"),
    )
    starts = [a for a in (gpu.ts, runtime.ts, ops.ts) if len(a)]
    ends = [a + d for a, d in ((gpu.ts, gpu.dur), (runtime.ts, runtime.dur), (ops.ts, ops.dur)) if len(a)]
    span = (min(float(a.min()) for a in starts), max(float(e.max()) for e in ends)) if starts else (math.nan, math.nan)
    if decoded.undecodable:
        skipped["events that are not valid JSON text (invalid UTF-8)"] += decoded.undecodable
    return Trace(source, decoded.backend, decoded.meta, _devices(decoded.meta), gpu, runtime, ops, memory,
                 n_events, span, decoded.lenient, dict(skipped))


def load_trace(
    path: Union[str, Path, TraceSource],
    backend: str = "auto",
    progress: Optional[Callable[[int, int], None]] = None,
) -> Trace:
    """Read a run directory or a ``.json``/``.json.gz`` trace into a :class:`Trace`.

    ``progress(events_done, events_total)`` is called after each batch of events.

    Raises :class:`~bambaprof.analysis.source.TraceError` (one line) for missing,
    corrupt, non-trace or empty input.
    """
    source = path if isinstance(path, TraceSource) else resolve(path)
    data = read_bytes(source.trace_path)
    try:
        decoded = decode(data, backend)
        if len(decoded) == 0:
            raise TraceError("the trace has no events")
        trace = build_trace(decoded, source, progress)
    except TraceError as exc:
        raise TraceError(f"{source.trace_path}: {exc}") from None
    finally:
        decoded = None  # the raw slices reference the buffer: drop them before the buffer
        close = getattr(data, "close", None)
        del data
        if close is not None:
            try:
                close()
            except BufferError:  # an exception's frames still view the buffer: the collector closes it
                pass
    if len(trace.gpu) == 0 and len(trace.runtime) == 0 and len(trace.ops) == 0:
        raise TraceError(f"{source.trace_path}: the trace has no timed CPU or GPU events")
    return trace
