"""A trace as columns: GPU activities, runtime/driver calls, CPU ops, memory samples, nn.Module calls.

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

How it reads: :mod:`.source` finds the file and reads its text (plain or gzip, with size guards);
:mod:`.stream` cuts the text into pieces of whole events without holding the document; :mod:`.parse`
decodes each piece into slotted structs (msgspec); :mod:`.builder` sorts them into columns, in this process
or in forked worker processes (:mod:`.workers`) for a large trace. Text the piece reader does not take is
read whole instead (:func:`~.parse.decode`), with the same result; text cut short is read up to its last
whole event there. An Nsight Systems export (SQLite, or a report the ``nsys`` CLI exports) is read by
:mod:`.nsys` into the same events and builder.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import msgspec
import numpy as np

from .builder import (  # noqa: F401 (the category sets are part of this module's surface)
    FLOW_CATS,
    GPU_KINDS,
    GPU_SKIP_KINDS,
    KERNEL_CATS,
    MEMCPY_CATS,
    MEMSET_CATS,
    OP_CATS,
    RUNTIME_CATS,
    TraceBuilder,
    as_int,
    as_positive,
    json_value,
)
from .misplaced import HEAD_BYTES, misplaced_by_name, misplaced_by_text
from .nsys import BACKEND as NSYS_BACKEND
from .nsys import exported, is_sqlite, is_unexported_report, read_export
from .nsys.files import database_file
from .parse import BACKENDS, DecodedTrace, decode, decode_piece
from .rocpd import BACKEND as ROCPD_BACKEND
from .rocpd import is_rocpd, read_rocpd
from .rocprof import BACKEND as ROCPROF_BACKEND
from .rocprof import is_rocprof, read_rocprof
from .rocprof_json import BACKEND as ROCPROF_JSON_BACKEND
from .rocprof_json import is_rocprof_json, read_rocprof_json
from .source import BrokenStream, TextReader, TraceError, TraceSource, read_bytes, resolve, salvage_compressed
from .stream import EventPieces, NotStreamable, PieceText
from .workers import MIN_PARALLEL_BYTES, PiecesFailed, build_in_workers, can_fork, default_jobs

#: Ranges the profiler and bambaprof add that are neither ops nor phases: torch's step ranges and the clock marker.
PROFILER_MARKERS = re.compile(r"^(ProfilerStep#\d+|bambaprof::clock_sync)$")
#: Runtime calls of Intel GPUs: Unified Runtime (``urEnqueueKernelLaunch``) and Level Zero (``zeCommandList...``).
_XPU_CALL = re.compile(r"^(?:ur|ze)[A-Z]")
#: The profiler's step ranges (``torch.profiler`` schedules mark each step).
PROFILER_STEP = re.compile(r"^ProfilerStep#\d+$")


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
    peak_bandwidth_gbps: Optional[float] = None  # a figure the trace's tool gives (Nsight Systems), GB/s

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DeviceProps":
        g = d.get
        return cls(
            id=as_int(g("id"), 0),
            name=str(g("name", "unknown")),
            compute_major=as_int(g("computeMajor")),
            compute_minor=as_int(g("computeMinor")),
            num_sms=as_int(g("numSms", g("multiProcessorCount"))),
            max_threads_per_sm=as_int(g("maxThreadsPerMultiprocessor", g("maxThreadsPerMultiProcessor"))),
            max_threads_per_block=as_int(g("maxThreadsPerBlock")),
            regs_per_sm=as_int(g("regsPerMultiprocessor")),
            regs_per_block=as_int(g("regsPerBlock")),
            smem_per_sm=as_int(g("sharedMemPerMultiprocessor")),
            smem_per_block=as_int(g("sharedMemPerBlock")),
            smem_per_block_optin=as_int(g("sharedMemPerBlockOptin")),
            warp_size=as_int(g("warpSize"), 32) or 32,
            total_memory=as_int(g("totalGlobalMem")),
            peak_bandwidth_gbps=as_positive(g("nsysPeakBandwidthGbps")),
        )


#: What a collective's parameters hold, in order (PyTorch's ``Collective name``, ``In msg nelems``, ``Out msg
#: nelems``, ``Group size``, ``dtype``).
COMM_FIELDS = ("collective", "in_nelems", "out_nelems", "group_size", "dtype")


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
    #: A collective kernel's parameters where the trace gives them (:data:`COMM_FIELDS`), else ``None``; empty
    #: for readers of other formats.
    comm: List[Any] = field(default_factory=list)

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
    #: ``Input Strides`` (PyTorch 2.3 and later, with ``record_shapes``): each tensor input's strides, in elements.
    input_strides: List[Any] = field(default_factory=list)
    kernel_num_gb: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kernel_flop: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kernel_backend: List[Any] = field(default_factory=list)
    #: Autograd's ``Sequence number`` (-1: none): a backward node carries its forward op's.
    sequence_number: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: ``Fwd thread id``: on a backward node, the profiler's id of the thread that ran its forward op (> 0);
    #: 0 on forward ops, -1 when absent.
    fwd_thread_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    shapes_recorded: bool = False  # any op carried Input Dims (record_shapes=True)
    #: A collective op's parameters (``record_param_comms``: :data:`COMM_FIELDS`), else ``None``.
    comm: List[Any] = field(default_factory=list)

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
    tid: List[Any] = field(default_factory=list)  # the allocating thread

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class ModuleCalls:
    """The ``nn.Module`` calls the profiler records with ``with_stack=True`` (Python frames named
    ``nn.Module: <Class>_<instance>``): one row per forward call, named ``<Class>_<instance>`` (the instance
    numbered per class in the order the profiler first saw it); times in us."""

    name: List[str] = field(default_factory=list)
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pid: List[Any] = field(default_factory=list)
    tid: List[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.name)


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
    #: Complete events of categories that no analysis reads (another tool's trace), by category.
    unread: Dict[Any, int] = field(default_factory=dict)
    #: nn.Module calls (traces recorded with ``with_stack=True``; empty otherwise).
    modules: ModuleCalls = field(default_factory=ModuleCalls)
    #: Derived arrays that several analyses use (e.g. ``launch_rows``), computed once by the first that asks.
    memo: Dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Runtime and driver calls by their category (``cuda_runtime``, ``privateuse1_runtime``, ...).
    runtime_categories: Dict[Any, int] = field(default_factory=dict)

    @functools.cached_property
    def gpu_op_row(self) -> np.ndarray:
        """For each GPU activity, the row of the CPU op that launched it (the first op carrying its
        ``External id``); -1 when none does."""
        ext = self.ops.external_id
        return first_row_with(ext, np.flatnonzero(ext >= 0), self.gpu.external_id)

    @property
    def rank(self) -> Optional[int]:
        info = self.meta.get("distributedInfo")
        if isinstance(info, dict) and "rank" in info:
            return as_int(info.get("rank"))
        return None

    @property
    def platform(self) -> str:
        """``"rocm"`` or ``"xpu"`` (Intel: Unified Runtime or Level Zero calls, ``ur*``/``ze*``) when the trace
        says so; the device a backend outside the tree names in its calls' categories when they are all of it
        (``privateuse1`` for ``privateuse1_runtime``, ``mtia``, ``gcu``, ...; ``privateuse1`` for several); else
        ``"cuda"``."""
        meta_keys = ("roctracer_version", "rocm_version", "hip_runtime_version", "rocprofv3")
        first = self.runtime.name[:50]
        if any(self.meta.get(k) is not None for k in meta_keys) or any(n.startswith("hip") for n in first):
            return "rocm"
        if any(_XPU_CALL.match(n) for n in first):
            return "xpu"
        # runtime calls only of another backend's categories (``<device>_runtime``; bare ``runtime``, ``driver``
        # are old Kineto's CUDA ones): that backend, by the device its categories name
        devices = {str(c).lower().rpartition("_")[0] for c in self.runtime_categories}
        if devices and not devices & {"", "cuda", "hip", "xpu"}:
            return devices.pop() if len(devices) == 1 else "privateuse1"
        return "cuda"


def first_row_with(keys: np.ndarray, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each of ``queries``, the first of ``rows`` (increasing row numbers) whose ``keys[row]`` equals it;
    -1 where none does or the query is negative (ids Kineto leaves unknown)."""
    ids, first = np.unique(keys[rows], return_index=True)
    if not len(ids):
        return np.full(len(queries), -1, dtype=np.int64)
    pos, found = _search(ids, queries)
    return np.where((queries >= 0) & found, rows[first][pos], -1)


def _search(ids: np.ndarray, queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For each query, its position in the sorted, non-empty ``ids`` (clipped to the last) and whether it is
    there."""
    pos = np.minimum(np.searchsorted(ids, queries), len(ids) - 1)
    return pos, ids[pos] == queries


_CODED: Dict[str, Callable[["Trace"], Sequence[Any]]] = {
    "ops.name": lambda t: t.ops.name,
    "ops.thread": lambda t: _Pairs(t.ops.pid, t.ops.tid),
    "gpu.name": lambda t: t.gpu.name,
    "runtime.name": lambda t: t.runtime.name,
}


class _Pairs(Sequence):
    """Two lists read as one list of pairs, without building the pairs."""

    def __init__(self, a: List[Any], b: List[Any]) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: Any) -> Any:
        return (self.a[i], self.b[i])

    def __iter__(self) -> Iterator[tuple]:
        return zip(self.a, self.b)


def member_of(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(values, pool)`` for integer arrays by one sort of ``pool`` and a binary search per value
    (``np.isin`` sorts both together: about 3x slower on millions of ids)."""
    if not len(pool) or not len(values):
        return np.zeros(len(values), dtype=bool)
    return _search(np.sort(pool), values)[1]


def value_codes(trace: "Trace", column: str) -> Tuple[np.ndarray, List[Any]]:
    """A text/id column as dense int codes in order of first appearance, and the distinct values by code.

    ``column``: ``ops.name``, ``ops.thread`` (pid, tid), ``gpu.name`` or ``runtime.name``. The loader's codes
    are reused where it left them (see :attr:`Trace.memo`), so this is a few numpy passes, not a dict lookup
    per row."""
    key = ("dense codes", column)
    if key in trace.memo:
        return trace.memo[key]
    values = _CODED[column](trace)
    raw = trace.memo.get(("codes", column))
    if raw is None or len(raw) != len(values):
        table: Dict[Any, int] = defaultdict(itertools.count().__next__)
        codes = np.fromiter(map(table.__getitem__, values), np.int64, len(values))
        result = (codes, list(table))
    else:
        _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        by_first = np.argsort(first, kind="stable")
        rank[by_first] = np.arange(len(first))
        result = (rank[inverse.reshape(-1)], [values[i] for i in first[by_first].tolist()])
    trace.memo[key] = result
    return result


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


def step_ranges(trace: "Trace") -> List[Tuple[float, float]]:
    """The ``ProfilerStep#<n>`` ranges of a trace as (start, end) in us, by start."""
    ops = trace.ops
    return sorted((float(ops.ts[i]), float(ops.ts[i] + ops.dur[i])) for i, name in enumerate(ops.name)
                  if PROFILER_STEP.match(name))


def _trace_of(builder: TraceBuilder, meta: Dict[str, Any], source: TraceSource, backend: str) -> Trace:
    """The :class:`Trace` of a builder's columns: flows linked, launched ops' shapes decoded."""
    g, r, o, m = (builder.columns(t) for t in ("gpu", "runtime", "ops", "memory"))
    corr, rcorr = g["corr"], r["corr"]
    need_end, need_start = bool((corr < 0).any()), bool((rcorr < 0).any())
    if need_end or need_start:  # links missing from args (old traces): the flow events give them
        flow = builder.columns("flow")
        keys = zip(flow["pid"], flow["tid"], flow["ts"].tolist())
        flow_start: Dict[tuple, int] = {}
        flow_end: Dict[tuple, int] = {}
        for key, fid, is_start in zip(keys, flow["id"].tolist(), flow["start"].tolist()):
            (flow_start if is_start else flow_end)[key] = fid
        if flow_end and need_end:
            corr = corr.copy()
            for i in np.flatnonzero(corr < 0).tolist():
                corr[i] = flow_end.get((g["pid"][i], g["tid"][i], float(g["ts"][i])), -1)
        if flow_start and need_start:
            rcorr = rcorr.copy()
            for i in np.flatnonzero(rcorr < 0).tolist():
                rcorr[i] = flow_start.get((r["pid"][i], r["tid"][i], float(r["ts"][i])), -1)

    # Shapes are decoded only for ops that launched GPU work (the byte model's input), for the elementwise ops and
    # reductions that may compute a contraction elementwise (:mod:`.contractions`, on the host too), for attention's
    # ops (:mod:`.attention`: calls that launch no kernel themselves), for concatenations (:mod:`.growing_cats`, on the
    # host too), for the products that apply a weight (:mod:`.generation`), for copies (:mod:`.copies`: a cast's
    # dtypes) and for embeddings (:mod:`.prefill_logits`: the vocabulary), each distinct shape once.
    ext, gpu_ext, shape_of = o["ext"], g["ext"], o["shape"]
    n_ops = len(ext)
    dims: List[Any] = [None] * n_ops
    types: List[Any] = [None] * n_ops
    conc: List[Any] = [None] * n_ops
    strides: List[Any] = [None] * n_ops
    shape_keys = builder.shapes()
    if shape_keys and n_ops:
        decoded_shapes: Dict[int, tuple] = {}
        from .attention import SHAPED_OPS as ATTENTION_OPS
        from .contractions import SHAPED_OPS
        from .copies import COPY_OP
        from .generation import WEIGHT_OPS
        from .growing_cats import CAT_OPS
        from .prefill_logits import EMBEDDING_OPS

        read = [code for name in (*SHAPED_OPS, *ATTENTION_OPS, *CAT_OPS, *WEIGHT_OPS, COPY_OP, *EMBEDDING_OPS)
                if (code := builder.values.get(name)) is not None]
        launched = (member_of(ext, gpu_ext[gpu_ext >= 0]) | np.isin(o["name#codes"], read)) & (shape_of >= 0)
        for i in np.flatnonzero(launched).tolist():
            sid = int(shape_of[i])
            if sid not in decoded_shapes:
                decoded_shapes[sid] = tuple(json_value(b) for b in shape_keys[sid])
            dims[i], types[i], conc[i], strides[i] = decoded_shapes[sid]

    kinds = g["kind"]
    gpu = GpuActivities(
        name=g["name"], kind=np.array(GPU_KINDS)[kinds] if len(kinds) else np.zeros(0, dtype="U6"),
        ts=g["ts"], dur=g["dur"], device=g["device"], stream=g["stream"], correlation=corr, external_id=gpu_ext,
        grid=g["grid"], block=g["block"], registers=g["regs"], shared_memory=g["smem"], est_occupancy=g["occ"],
        bytes=g["bytes"], comm=g["comm"],
    )
    runtime = RuntimeCalls(name=r["name"], ts=r["ts"], dur=r["dur"], tid=r["tid"], correlation=rcorr,
                           external_id=r["ext"], pid=r["pid"])
    ops = CpuOps(
        name=o["name"], cat=o["cat"], ts=o["ts"], dur=o["dur"], pid=o["pid"], tid=o["tid"], external_id=ext,
        input_dims=dims, input_types=types, concrete_inputs=conc, input_strides=strides, kernel_num_gb=o["gb"],
        kernel_flop=o["flop"],
        kernel_backend=o["backend"], sequence_number=o["seq"], fwd_thread_id=o["fwd"],
        shapes_recorded=bool(shape_keys), comm=o["comm"],
    )
    memory = MemorySamples(ts=m["ts"], allocated=m["alloc"], reserved=m["res"], device_type=m["dtype"],
                           device_id=m["did"], tid=m["tid"])
    memo = {("codes", "ops.name"): o["name#codes"], ("codes", "gpu.name"): g["name#codes"],
            ("codes", "runtime.name"): r["name#codes"],
            ("codes", "ops.thread"): o["pid#codes"] * (int(o["tid#codes"].max(initial=0)) + 1) + o["tid#codes"]}
    starts = [a for a in (gpu.ts, runtime.ts, ops.ts) if len(a)]
    ends = [a + d for a, d in ((gpu.ts, gpu.dur), (runtime.ts, runtime.dur), (ops.ts, ops.dur)) if len(a)]
    span = (min(float(a.min()) for a in starts), max(float(e.max()) for e in ends)) if starts else (math.nan, math.nan)
    skipped = Counter(builder.skipped)
    if builder.undecodable:
        skipped["events that are not valid JSON"] += builder.undecodable
    mod = builder.columns("modules")
    modules = ModuleCalls(name=mod["name"], ts=mod["ts"], dur=mod["dur"], pid=mod["pid"], tid=mod["tid"])
    return Trace(source, backend, meta, _devices(meta), gpu, runtime, ops, memory, builder.n_events, span,
                 builder.lenient, dict(skipped), dict(builder.unread), modules=modules, memo=memo,
                 runtime_categories=dict(builder.runtime_cats))


def build_trace(
    decoded: DecodedTrace, source: TraceSource, progress: Optional[Callable[[int, int], None]] = None
) -> Trace:
    """Sort a whole decoded document's events, batch by batch, into the columnar tables of a :class:`Trace`."""
    builder = TraceBuilder()
    total = len(decoded)
    for batch in decoded.batches():
        builder.add(batch)
        del batch
        if progress is not None:
            progress(builder.n_events, total)
    builder.lenient, builder.undecodable = decoded.lenient, decoded.undecodable
    return _trace_of(builder, decoded.meta, source, decoded.backend)


Progress = Optional[Callable[[int, int], None]]


def _load_nsys(source: TraceSource, progress: Progress, database: Optional[Path] = None) -> Trace:
    """An Nsight Systems SQLite export (:mod:`.nsys`; ``database``, else the source's file) through the same
    builder as a Kineto trace."""
    builder = TraceBuilder()

    def add(batch: List[Any], rows: int) -> None:
        builder.add(batch)
        if progress is not None:
            progress(builder.n_events, rows)  # NVTX marks are read and skipped: the end may stop short of rows

    try:
        meta = read_export(database or source.database or source.trace_path, add, source.process)
    except TraceError as exc:
        raise _naming(source.trace_path, exc) from None
    trace = _trace_of(builder, meta, source, NSYS_BACKEND)
    if len(trace.gpu) == 0 and len(trace.runtime) == 0 and len(trace.ops) == 0:
        raise TraceError(f"{source.trace_path}: the export has no timed CUDA activity")
    return trace


def _load_rocm(source: TraceSource, progress: Progress, database: Optional[Path] = None,
               json_output: bool = False) -> Trace:
    """rocprofv3's output through the same builder as a Kineto trace: its CSV files (:mod:`.rocprof`: the kernel
    trace and the files beside it), its JSON output (``json_output``: :mod:`.rocprof_json`), or, given
    ``database`` (the source's file as a plain SQLite file), its rocpd database (:mod:`.rocpd`)."""
    builder = TraceBuilder()

    def add(batch: List[Any], done: int) -> None:
        builder.add(batch)
        if progress is not None:
            progress(done, done)

    if database is not None and source.process is not None:
        raise TraceError(f"{source.trace_path}: a process ({source.process}) picks one process of an Nsight Systems "
                         "export, and this is a rocpd database")
    try:
        if database is not None:
            meta, backend, what = read_rocpd(database, add), ROCPD_BACKEND, "database"
        elif json_output:
            meta, backend, what = read_rocprof_json(source.trace_path, add), ROCPROF_JSON_BACKEND, "JSON output"
        else:
            meta, backend, what = read_rocprof(source.trace_path, add), ROCPROF_BACKEND, "kernel trace"
    except TraceError as exc:
        raise _naming(source.trace_path, exc) from None
    trace = _trace_of(builder, meta, source, backend)
    if len(trace.gpu) == 0 and len(trace.runtime) == 0:
        raise TraceError(f"{source.trace_path}: the {what} has no timed kernels")
    return trace


def _load_pieces(source: TraceSource, progress: Progress, jobs: Optional[int]) -> Trace:
    """Read the trace piece by piece (:mod:`.stream`), in worker processes when it is large.

    Raises :class:`NotStreamable` or :class:`PiecesFailed` (or :class:`msgspec.DecodeError`) for text this
    path does not read: the caller then reads the document whole."""
    with TextReader(source.trace_path) as reader:
        pieces = EventPieces(reader)
        expected_text = reader.size * (10 if reader.compressed else 1)  # traces compress about 10x
        n_jobs = default_jobs() if jobs is None else max(1, jobs)
        parallel = n_jobs > 1 and expected_text >= MIN_PARALLEL_BYTES and can_fork()

        fd = reader.fileno() if pieces.file_ranges else None

        def tick(item: Union[bytearray, bytes, Tuple[int, int]]) -> None:
            if progress is not None:
                progress(sum(item) if isinstance(item, tuple) else reader.tell(), reader.size)

        if parallel:
            builder = build_in_workers(pieces, n_jobs, fd, tick)
        else:
            builder = TraceBuilder()
            text_of = PieceText(fd)
            for item in pieces:
                events, lenient, bad = decode_piece(text_of(item))
                builder.lenient += lenient
                builder.undecodable += bad
                builder.add(events)
                del events  # its raw slices point into the reused buffer
                tick(item)
    if builder.n_events == 0:
        raise _no_events(builder.undecodable)
    return _trace_of(builder, pieces.meta, source, "msgspec")


def _load_whole(source: TraceSource, backend: str, progress: Progress) -> Trace:
    """Read the whole document at once (any backend; the reader of last resort for odd text)."""
    try:
        data = read_bytes(source.trace_path)
    except BrokenStream:
        data = salvage_compressed(source.trace_path)  # a cut file: the text before the break, to its last event
    try:
        decoded = decode(data, backend)
        if len(decoded) == 0:  # no event at all (events that do not decode are counted as batches are built)
            raise TraceError(NO_EVENTS)
        return build_trace(decoded, source, progress)
    finally:
        decoded = None  # the raw slices reference the buffer: drop them before the buffer
        close = getattr(data, "close", None)
        del data
        if close is not None:
            try:
                close()
            except BufferError:  # an exception's frames still view the buffer: the collector closes it
                pass


NO_EVENTS = "the trace has no events"


def _no_events(undecodable: int) -> TraceError:
    """The error for a document without a readable event, saying how many were not valid JSON."""
    if undecodable:
        return TraceError(f"{NO_EVENTS} that can be read ({undecodable} not valid JSON, such as a number out of "
                          "range or a broken string)")
    return TraceError(NO_EVENTS)


def _misplaced(path: Path) -> Optional[TraceError]:
    """The error for a file that is not a trace but another tool's, read elsewhere (:mod:`.misplaced`), told by
    its first bytes (inflated); None for any other file, or one whose start cannot be read."""
    try:
        with TextReader(path) as reader:
            head = reader.read(HEAD_BYTES)
    except TraceError:
        return None
    elsewhere = misplaced_by_text(head, path.name)
    return TraceError(elsewhere) if elsewhere is not None else None


def _naming(path: Path, exc: TraceError) -> TraceError:
    """``exc`` as one line that starts with ``path`` (once)."""
    msg = str(exc)
    return TraceError(msg if msg.startswith(str(path)) else f"{path}: {msg}")


def load_trace(
    path: Union[str, Path, TraceSource],
    backend: str = "auto",
    progress: Progress = None,
    jobs: Optional[int] = None,
) -> Trace:
    """Read a run directory or a ``.json``/``.json.gz`` trace into a :class:`Trace`.

    With the ``auto``/``msgspec`` backend the text is read in pieces, never whole, and a large trace is
    decoded by ``jobs`` worker processes (default: the CPUs available, see
    :func:`~bambaprof.analysis.workers.default_jobs`; ``1`` decodes in this process). Text that the piece
    reader does not handle is read whole instead (same result). ``progress(done, total)`` is called after each
    piece (bytes of the file) or batch (events).

    Raises :class:`~bambaprof.analysis.source.TraceError` (one line) for missing,
    corrupt, non-trace or empty input.
    """
    if backend not in BACKENDS:
        raise TraceError(f"unknown parser backend {backend!r} (choose from {', '.join(BACKENDS)})")
    source = path if isinstance(path, TraceSource) else resolve(path)
    if source.database is None and is_unexported_report(source.trace_path):
        try:
            with exported(source.trace_path) as database:
                return _load_nsys(source, progress, database)
        except TraceError as exc:
            raise _naming(source.trace_path, exc) from None
    if source.database is not None or is_sqlite(source.trace_path):  # an export, one process of it, or rocpd's
        try:
            with contextlib.ExitStack() as held:
                plain = source.database or held.enter_context(database_file(source.trace_path))
                if is_rocpd(plain):
                    return _load_rocm(source, progress, plain)
                return _load_nsys(source, progress, plain)
        except TraceError as exc:
            raise _naming(source.trace_path, exc) from None
    if source.process is not None:
        raise TraceError(f"{source.trace_path}: a process ({source.process}) picks one process of an Nsight Systems "
                         "export, and this is not one (a Kineto trace is one process already)")
    elsewhere = misplaced_by_name(source.trace_path)
    if elsewhere is not None:
        raise TraceError(f"{source.trace_path}: {elsewhere}")
    if is_rocprof(source.trace_path):
        return _load_rocm(source, progress)
    if is_rocprof_json(source.trace_path):
        return _load_rocm(source, progress, json_output=True)
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived tuples: the collector's passes would cost more than the decoding
    try:
        trace = None
        if backend != "json":
            try:
                trace = _load_pieces(source, progress, jobs)
            except (NotStreamable, PiecesFailed, msgspec.DecodeError, RecursionError):
                trace = None  # odd text: read whole below, which reports any error in its own words
            except BrokenStream:
                trace = None  # a cut gzip: the whole reader salvages what it can
            except TraceError as exc:
                raise TraceError(f"{source.trace_path}: {exc}" if str(exc).startswith(NO_EVENTS)
                                 else str(exc)) from None
        if trace is None:
            try:
                trace = _load_whole(source, backend, progress)
            except TraceError as exc:
                raise _naming(source.trace_path, _misplaced(source.trace_path) or exc) from None
    finally:
        if collecting:
            gc.enable()
    if len(trace.gpu) == 0 and len(trace.runtime) == 0 and len(trace.ops) == 0:
        raise TraceError(f"{source.trace_path}: the trace has no timed CPU or GPU events{_unread(trace)}")
    return trace


def _unread(trace: Trace, most: int = 4) -> str:
    """What a trace without events bambaprof reads holds instead, for its error (empty when nothing)."""
    from .builder import BEGIN_END_SKIPPED

    pairs = trace.skipped.get(BEGIN_END_SKIPPED)
    if pairs:
        return (f": its {pairs:,} duration events are begin/end pairs (ph B and E); bambaprof reads complete "
                "events (ph X), as the PyTorch profiler writes them")
    if not trace.unread:
        return ""
    top = sorted(trace.unread.items(), key=lambda kv: -kv[1])
    cats = ", ".join(f"{'no category' if c is None else repr(str(c)[:40])} ({n:,})" for c, n in top[:most])
    more = f" and {len(top) - most} more" if len(top) > most else ""
    return (f": its {sum(trace.unread.values()):,} complete events are of categories no analysis reads ({cats}{more}); "
            "bambaprof reads PyTorch profiler (Kineto) traces and Nsight Systems exports")
