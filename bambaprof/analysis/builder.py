"""Sorting decoded events into columns: the work between the JSON decoder and a :class:`~.trace.Trace`.

A :class:`TraceBuilder` takes batches of :class:`~.parse.Event` in document
order. Each batch is read in one C-level pass (``attrgetter`` + ``zip``) into
field columns, sorted by category with numpy masks, and every table's columns
are taken from those with numpy indexing: no per-event Python code on the
common path. Text and ids (names, pids, tids, op categories) are kept as int
codes into one table of distinct values, so a builder's state is a few numpy
arrays: several builders (one per worker process) merge by remapping codes
(:meth:`TraceBuilder.merge`).

Category names follow every Kineto schema seen so far (old and new names,
CUDA and ROCm): see the ``*_CATS`` sets.
"""

from __future__ import annotations

import math
import operator
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import count, repeat
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import msgspec
import numpy as np

from .parse import EMPTY_ARGS

KERNEL_CATS = frozenset({"kernel"})
MEMCPY_CATS = frozenset({"gpu_memcpy", "memcpy"})
MEMSET_CATS = frozenset({"gpu_memset", "memset"})
RUNTIME_CATS = frozenset({"cuda_runtime", "cuda_driver", "runtime", "driver", "hip_runtime", "hip_driver",
                          "xpu_runtime", "xpu_driver"})
#: Other categories ending so are a backend's runtime and driver calls too: out-of-tree backends and Kineto's forks
#: name theirs after the device (``privateuse1_runtime``, ``mtia_runtime``, ``gcu_runtime``, ...).
RUNTIME_SUFFIXES = ("_runtime", "_driver")
OP_CATS = frozenset({"cpu_op", "operator", "user_annotation"})
FLOW_CATS = frozenset({"ac2g", "async_cpu_to_gpu"})

GPU_KINDS = ("kernel", "memcpy", "memset")
#: Skip-count prefixes of GPU activities (see :attr:`~.trace.Trace.skipped`).
GPU_SKIP_KINDS = ("kernel events", "memcpy events", "memset events")

_NAN = math.nan
_CATEGORY_SETS = (("kernel", KERNEL_CATS), ("memcpy", MEMCPY_CATS), ("memset", MEMSET_CATS),
                  ("runtime", RUNTIME_CATS), ("op", OP_CATS), ("flow", FLOW_CATS))
#: Category codes as small ints (index into this tuple); 0 is "not analysed".
_CODES = ("", "kernel", "memcpy", "memset", "runtime", "op", "flow")
_CODE_NUM = {c: i for i, c in enumerate(_CODES)}
_KERNEL, _MEMCPY, _MEMSET, _RUNTIME, _OP, _FLOW = range(1, 7)
_GPU_CODES = (_KERNEL, _MEMCPY, _MEMSET)
_TIMED = (*_GPU_CODES, _RUNTIME, _OP)
_CATEGORY: Dict[Any, int] = {}  # raw cat string -> category code, filled lazily
_OP_KIND = {"cpu_op": "cpu_op", "Operator": "cpu_op", "operator": "cpu_op", "user_annotation": "user_annotation"}
_SKIP_LABEL = {"op": "CPU op", "runtime": "runtime call"}

#: Event fields read for every event, in one C-level pass per batch.
_EVENT_FIELDS = operator.attrgetter("ph", "cat", "name", "pid", "tid", "ts", "dur", "id", "args")
_GPU_ARGS = operator.attrgetter("device", "stream", "correlation", "external_id", "grid", "block", "registers",
                                "shared_memory", "est_occupancy", "bytes")
_RUNTIME_ARGS = operator.attrgetter("correlation", "external_id")
_OP_ARGS = operator.attrgetter("external_id", "input_dims", "input_type", "concrete_inputs", "kernel_num_gb",
                               "kernel_flop", "kernel_backend", "sequence_number", "fwd_thread_id", "input_strides")
_COMM_ARGS = operator.attrgetter("collective", "in_nelems", "out_nelems", "group_size", "comm_dtype")
_COLLECTIVE = operator.attrgetter("collective")
_MEMORY_ARGS = operator.attrgetter("total_allocated", "total_reserved", "device_type", "device_id")
#: Chrome's duration events as begin/end pairs; bambaprof reads complete (``X``) events, as Kineto writes them.
_BEGIN_END = ("B", "E")
#: How the pairs are counted among the events left out (:attr:`Builder.skipped`).
BEGIN_END_SKIPPED = "begin/end events (ph B or E: only complete X events are read)"
_EXACT = 2.0**53  # float64 holds every integer below this exactly


def _hashable(value: Any) -> Any:
    """A decoded JSON value as a key of the value table (a list or object becomes its text)."""
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def category(cat: Any) -> int:
    """The category code of a raw ``cat`` value (see ``_CODES``); 0 for categories not analysed."""
    code = _CATEGORY.get(cat)
    if code is None:
        low = cat.lower() if isinstance(cat, str) else ""
        code = next((_CODE_NUM[name] for name, cats in _CATEGORY_SETS if low in cats),
                    _RUNTIME if low.endswith(RUNTIME_SUFFIXES) else 0)
        if isinstance(cat, (str, type(None))):
            _CATEGORY[cat] = code
    return code


def as_int(x: Any, default: int = -1) -> int:
    """An int from an int, float or numeric string; ``default`` when there is none."""
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def as_positive(x: Any) -> Optional[float]:
    """A float from an int or float that is finite and positive (a bandwidth, a byte or FLOP count); ``None``
    for anything else (booleans, text, zero, negative, NaN, infinite)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    v = float(x)
    return v if math.isfinite(v) and v > 0 else None


#: Launch dimensions at or past this are not real (CUDA's grid x is below 2**31): unknown, as are negative ones
#: (and so no value overflows the int64 columns).
MAX_DIM = 2**31


def dim3(x: Any) -> tuple:
    """A (x, y, z) launch dimension; (-1, -1, -1) when unknown (not a list, or a value below 0 or past
    :data:`MAX_DIM`)."""
    if isinstance(x, (list, tuple)) and x:
        vals = [as_int(v, 1) for v in list(x)[:3]]
        if any(not 0 <= v < MAX_DIM for v in vals):
            return (-1, -1, -1)
        return tuple(vals + [1] * (3 - len(vals)))
    return (-1, -1, -1)


def json_value(raw: bytes) -> Any:
    """Decoded JSON text; ``None`` when empty or not valid JSON."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def _exact_ints(values: Any) -> np.ndarray:
    try:
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)
    except (OverflowError, TypeError, ValueError):  # an id beyond 64 bits (or not an int): unknown, as when absent
        return np.array([v if isinstance(v, int) and -2**63 <= v < 2**63 else -1 for v in values], dtype=np.int64)


def int_column(values: Any) -> np.ndarray:
    """Python ints (or None) as int64, -1 for None or an id beyond 64 bits; in C through float64 when exact."""
    try:
        f = np.array(values, dtype=np.float64)  # None -> nan
    except (OverflowError, TypeError, ValueError):
        return _exact_ints(values)
    if len(f) == 0:
        return np.zeros(0, dtype=np.int64)
    known = ~np.isnan(f)
    if not (np.abs(f[known]) < _EXACT).all():  # large ids: the exact path
        return _exact_ints(values)
    out = np.full(len(f), -1, dtype=np.int64)
    out[known] = f[known]
    return out


def float_column(values: Any) -> np.ndarray:
    """Python numbers (or None) as float64, nan for None."""
    try:
        return np.array(values, dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _NAN
                         for v in values], dtype=np.float64)


def dims_column(values: Sequence[Any]) -> np.ndarray:
    """Launch dimensions (``[x, y, z]`` lists) as an (n, 3) int64 array; rows of -1 where unknown."""
    n = len(values)
    if n:
        try:
            arr = np.array(values, dtype=np.int64)
            if arr.shape == (n, 3):
                return arr
        except (OverflowError, TypeError, ValueError):
            pass
        missing = _is(values, None)
        if missing.any() and not missing.all():  # memcpys and memsets have none: the others in C
            out = np.full((n, 3), -1, dtype=np.int64)
            given = np.flatnonzero(~missing)
            out[given] = dims_column(_take(values, given))
            return out
    return np.array([dim3(v) for v in values], dtype=np.int64).reshape(-1, 3)


def _raw_texts(raws: List[Any]) -> Iterable[bytes]:
    """Raw JSON slices as bytes (``b""`` for None)."""
    if None in raws:
        return [b"" if r is None else bytes(r) for r in raws]
    return map(bytes, raws)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def unusable_because(ts: Any, dur: Any) -> Optional[str]:
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


def _transpose(rows: Iterable[tuple], width: int) -> List[tuple]:
    """Rows of ``width`` fields as ``width`` columns (tuples), transposed in C."""
    cols = list(zip(*rows))
    return cols if cols else [()] * width


def _take(column: Sequence[Any], idx: np.ndarray) -> List[Any]:
    """The items of a tuple/list at the positions ``idx`` (int array), as a list."""
    if len(idx) == len(column):
        return list(column)
    if len(idx) == 0:
        return []
    got = operator.itemgetter(*idx.tolist())(column)
    return list(got) if len(idx) > 1 else [got]


def _is(values: Sequence[Any], value: Any) -> np.ndarray:
    """Mask of the items that are ``value`` (identity), computed in C."""
    return np.fromiter(map(operator.is_, values, repeat(value)), bool, len(values))


#: Numeric columns of each table (dtype), and its text/id columns (kept as codes into :attr:`TraceBuilder.values`).
TABLES: Dict[str, Tuple[Dict[str, Any], Tuple[str, ...]]] = {
    "gpu": ({"kind": np.int8, "ts": np.float64, "dur": np.float64, "device": np.int64, "stream": np.int64,
             "corr": np.int64, "ext": np.int64, "grid": np.int64, "block": np.int64, "regs": np.int64,
             "smem": np.int64, "occ": np.float64, "bytes": np.float64}, ("name", "pid", "tid", "comm")),
    "runtime": ({"ts": np.float64, "dur": np.float64, "corr": np.int64, "ext": np.int64}, ("name", "pid", "tid")),
    "ops": ({"ts": np.float64, "dur": np.float64, "ext": np.int64, "shape": np.int64, "gb": np.float64,
             "flop": np.float64, "seq": np.int64, "fwd": np.int64}, ("name", "cat", "pid", "tid", "backend", "comm")),
    "memory": ({"ts": np.float64, "alloc": np.float64, "res": np.float64, "dtype": np.int64, "did": np.int64},
               ("tid",)),
    "flow": ({"start": np.bool_, "id": np.int64, "ts": np.float64}, ("pid", "tid")),
    "modules": ({"ts": np.float64, "dur": np.float64}, ("name", "pid", "tid")),
}
#: The category and name prefix of the profiler's nn.Module calls (recorded with ``with_stack=True``).
MODULE_CAT = "python_function"
MODULE_PREFIX = "nn.Module: "
_IS_MODULE = operator.methodcaller("startswith", MODULE_PREFIX)  # names are text here (None made "")
_WIDE = {"grid", "block"}  # (n, 3) columns


@dataclass
class BuilderState:
    """What a :class:`TraceBuilder` holds, in a form that pickles compactly (for worker processes).

    ``parts[table]`` is a list of ``(batch number, {column: array})`` in the order added (empty when the
    tables travel separately, see :meth:`TraceBuilder.take_parts`); text and id columns are int codes into
    ``values``; op shapes are codes into ``shape_keys``.
    """

    values: List[Any] = field(default_factory=list)
    shape_keys: List[tuple] = field(default_factory=list)
    parts: Dict[str, List[Tuple[int, Dict[str, np.ndarray]]]] = field(default_factory=dict)
    skipped: Dict[str, int] = field(default_factory=dict)
    n_events: int = 0
    lenient: int = 0
    undecodable: int = 0
    unread: Dict[Any, int] = field(default_factory=dict)
    runtime_cats: Dict[Any, int] = field(default_factory=dict)


class TraceBuilder:
    """Columns of a trace, built batch by batch (see the module docstring)."""

    def __init__(self) -> None:
        self.values: Dict[Any, int] = defaultdict(count().__next__)  # distinct text/id value -> code
        self.shape_ids: Dict[tuple, int] = defaultdict(count().__next__)  # raw (dims, types, concrete, strides) -> code
        self.parts: Dict[str, List[Tuple[int, Dict[str, np.ndarray]]]] = {t: [] for t in TABLES}
        self.skipped: Counter = Counter()  # "<kind> events <why>" -> count: events left out, never silently
        self.n_events = 0
        self.lenient = 0  # events decoded through the lenient path (schema drift)
        self.undecodable = 0  # events that are not valid JSON, even with bad UTF-8 replaced
        self.unread: Counter = Counter()  # category -> complete events of categories no analysis reads
        self.runtime_cats: Counter = Counter()  # category -> runtime and driver calls of that category
        self._batch = 0

    def _codes(self, values: Sequence[Any]) -> np.ndarray:
        return np.fromiter(map(self.values.__getitem__, values), np.int64, len(values))

    def add(self, batch: Sequence[Any], number: Optional[int] = None) -> None:
        """Add one batch of :class:`~.parse.Event`, in document order; ``number`` orders batches that
        several builders share out (default: one after the last)."""
        self._batch = self._batch + 1 if number is None else number
        n = len(batch)
        self.n_events += n
        if not n:
            return
        phs, cats, names, pids, tids, ts_raw, dur_raw, ids, args = _transpose(map(_EVENT_FIELDS, batch), 9)
        code_of = {cat: category(cat) for cat in set(cats)}
        code = np.fromiter(map(code_of.__getitem__, cats), np.int8, n)
        present = set(code_of.values())
        if _RUNTIME in present:  # which runtime's calls these are (the platform, where names do not tell)
            self.runtime_cats.update(c for c in cats if code_of[c] == _RUNTIME)
        if None in args:  # "args": null
            args = tuple(EMPTY_ARGS if a is None else a for a in args)
        if None in names:
            names = tuple("" if x is None else x for x in names)
        is_memory = np.fromiter(map(operator.eq, names, repeat("[memory]")), bool, n)
        if _FLOW in present:
            self._flows(np.flatnonzero(code == _FLOW), phs, pids, tids, ts_raw, ids)
        if 0 in present and is_memory.any():
            self._memory(np.flatnonzero((code == 0) & is_memory), ts_raw, args, tids)
        is_x = np.fromiter(map(operator.eq, phs, repeat("X")), bool, n)
        if not is_x.all():  # durations as begin/end pairs (Chrome's B/E, not Kineto's): counted, not read
            begin_end = sum(map(operator.contains, repeat(_BEGIN_END), phs))
            if begin_end:
                self.skipped[BEGIN_END_SKIPPED] += begin_end
        if 0 in present:  # complete events of other categories (another tool's trace): counted by category
            unread = np.flatnonzero((code == 0) & is_x & ~is_memory)
            if len(unread) and MODULE_CAT in code_of:
                unread = self._modules(unread, cats, names, pids, tids, ts_raw, dur_raw)
            if len(unread):
                self.unread.update(_take(cats, unread))
        timed_codes = sorted(present.intersection(_TIMED))
        if not timed_codes:
            return
        ts, dur = float_column(ts_raw), float_column(dur_raw)
        good = np.isfinite(ts) & np.isfinite(dur) & (dur >= 0)
        name_c, pid_c, tid_c = self._codes(names), self._codes(pids), self._codes(tids)
        timed = np.isin(code, timed_codes) & is_x & ~(is_memory & (code != _OP))
        bad = timed & ~good
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                label = _CODES[code[i]]
                reason = unusable_because(ts_raw[i], dur_raw[i])
                self.skipped[f"{_SKIP_LABEL.get(label, label)} events {reason}"] += 1
            timed &= good
        for group in (_GPU_CODES, (_RUNTIME,), (_OP,)):
            if not present.intersection(group):
                continue
            idx = np.flatnonzero(timed & np.isin(code, group))
            if not len(idx):
                continue
            rows = {"ts": ts[idx], "dur": dur[idx], "name": name_c[idx], "pid": pid_c[idx], "tid": tid_c[idx]}
            sub_args = _take(args, idx)
            if group[0] == _RUNTIME:
                corr, ext = _transpose(map(_RUNTIME_ARGS, sub_args), 2)
                self._part("runtime", corr=int_column(corr), ext=int_column(ext), **rows)
            elif group[0] == _OP:
                self._ops(rows, sub_args, _take(cats, idx))
            else:
                kind = (code[idx] - _KERNEL).astype(np.int8)
                self._gpu(kind, rows, sub_args, _take(pids, idx), _take(tids, idx))

    def _part(self, table: str, **cols: np.ndarray) -> None:
        self.parts[table].append((self._batch, cols))

    def _gpu(self, kind: np.ndarray, rows: Dict[str, np.ndarray], args: List[Any], pids: List[Any],
             tids: List[Any]) -> None:
        device, stream, corr, ext, grid, block, regs, smem, occ, nbytes = _transpose(map(_GPU_ARGS, args), 10)
        dev, stm = int_column(device), int_column(stream)
        if None in device:  # no device in args (old traces): the pid names it
            for i in np.flatnonzero(_is(device, None)).tolist():
                p = pids[i]
                dev[i] = (p if -2**63 <= p < 2**63 else -1) if isinstance(p, int) else 0
        if None in stream:  # no stream in args: the tid names it
            for i in np.flatnonzero(_is(stream, None)).tolist():
                t = tids[i]
                stm[i] = t if isinstance(t, int) and -2**63 <= t < 2**63 else -1
        self._part("gpu", kind=kind, device=dev, stream=stm, corr=int_column(corr),
                   ext=int_column(ext), grid=dims_column(grid), block=dims_column(block), regs=int_column(regs),
                   smem=int_column(smem), occ=float_column(occ), bytes=float_column(nbytes),
                   comm=self._comm_codes(args), **rows)

    def _comm_codes(self, args: Sequence[Any]) -> np.ndarray:
        """Each row's collective parameters (name, in and out elements, group size, dtype) as a code of the
        value table; the code of ``None`` for the rows (nearly all) that carry none."""
        names = list(map(_COLLECTIVE, args))
        if names.count(None) == len(names):  # the usual batch: one C-level pass, no per-row Python
            return np.full(len(names), self.values[None], dtype=np.int64)
        values: List[Any] = [None] * len(args)
        for i, name in enumerate(names):
            if name is not None:
                values[i] = tuple(map(_hashable, _COMM_ARGS(args[i])))
        return self._codes(values)

    def _ops(self, rows: Dict[str, np.ndarray], args: List[Any], cats: List[Any]) -> None:
        n = len(args)
        ext, dims, types, concrete, gb, flop, backend, seq, fwd, strides = _transpose(map(_OP_ARGS, args), 10)
        kind_of = {c: _OP_KIND.get(c) or (c or "").lower() for c in set(cats)}
        shape = np.full(n, -1, dtype=np.int64)
        with_dims = np.flatnonzero(~_is(dims, None))
        if len(with_dims):
            keys = zip(map(bytes, _take(dims, with_dims)), _raw_texts(_take(types, with_dims)),
                       _raw_texts(_take(concrete, with_dims)), _raw_texts(_take(strides, with_dims)))
            shape[with_dims] = np.fromiter(map(self.shape_ids.__getitem__, keys), np.int64, len(with_dims))
        self._part("ops", cat=self._codes([kind_of[c] for c in cats]), ext=int_column(ext), shape=shape,
                   gb=float_column(gb), flop=float_column(flop), backend=self._codes(backend), seq=int_column(seq),
                   fwd=int_column(fwd), comm=self._comm_codes(args), **rows)

    def _modules(self, idx: np.ndarray, cats: tuple, names: tuple, pids: tuple, tids: tuple, ts_raw: tuple,
                 dur_raw: tuple) -> np.ndarray:
        """Keep the nn.Module calls among the complete events ``idx`` of unread categories (the Python frames
        ``with_stack`` records, name ``nn.Module: <Class>_<instance>``), the prefix dropped; returns the rest
        of ``idx``, which stay unread (the other Python frames)."""
        frames = idx[np.fromiter(map(operator.eq, _take(cats, idx), repeat(MODULE_CAT)), bool, len(idx))]
        if not len(frames):
            return idx
        mine = frames[np.fromiter(map(_IS_MODULE, _take(names, frames)), bool, len(frames))]
        if not len(mine):
            return idx
        ts, dur = float_column(_take(ts_raw, mine)), float_column(_take(dur_raw, mine))
        good = np.isfinite(ts) & np.isfinite(dur) & (dur >= 0)
        if not good.all():
            for i in np.flatnonzero(~good).tolist():
                self.skipped[f"nn.Module events {unusable_because(ts_raw[mine[i]], dur_raw[mine[i]])}"] += 1
        keep = mine[good]
        if len(keep):
            self._part("modules", ts=ts[good], dur=dur[good],
                       name=self._codes([names[i][len(MODULE_PREFIX):] for i in keep.tolist()]),
                       pid=self._codes(_take(pids, keep)), tid=self._codes(_take(tids, keep)))
        return np.setdiff1d(idx, mine, assume_unique=True)

    def _memory(self, idx: np.ndarray, ts_raw: tuple, args: tuple, tids: tuple) -> None:
        kept = [(t, a, th) for t, a, th in zip(_take(ts_raw, idx), _take(args, idx), _take(tids, idx))
                if t is not None and a is not EMPTY_ARGS]
        if not kept:
            return
        ts, sub, thread = _transpose(kept, 3)
        alloc, res, dtype, did = _transpose(map(_MEMORY_ARGS, sub), 4)
        self._part("memory", ts=float_column(ts), alloc=float_column(alloc), res=float_column(res),
                   dtype=int_column(dtype), did=int_column(did), tid=self._codes(thread))

    def _flows(self, idx: np.ndarray, phs: tuple, pids: tuple, tids: tuple, ts_raw: tuple, ids: tuple) -> None:
        ph, fid, ts = _take(phs, idx), _take(ids, idx), _take(ts_raw, idx)
        start = np.fromiter(map(operator.eq, ph, repeat("s")), bool, len(ph))
        end = np.fromiter(map(operator.contains, repeat(("f", "t")), ph), bool, len(ph))
        keep = (start | end) & ~_is(fid, None) & ~_is(ts, None)
        if not set(map(type, fid)) <= {int, type(None)}:  # ids given as text or floats
            fid = [None if f is None else as_int(f, 2**63) for f in fid]
        try:
            ids_col = np.array([-1 if f is None else f for f in fid], dtype=np.int64)
        except OverflowError:  # beyond 64 bits: no correlation can carry it
            fits = [f is not None and -2**63 <= f < 2**63 for f in fid]
            keep &= np.array(fits, dtype=bool)
            ids_col = np.array([f if ok else -1 for f, ok in zip(fid, fits)], dtype=np.int64)
        sel = np.flatnonzero(keep)
        if len(sel):
            rows = idx[sel]
            self._part("flow", start=start[sel], id=ids_col[sel], ts=float_column(_take(ts, sel)),
                       pid=self._codes(_take(pids, rows)), tid=self._codes(_take(tids, rows)))

    # ---- several builders (worker processes) --------------------------------------------------------------

    def state(self) -> BuilderState:
        """This builder's code tables and counts, to send to the process that merges; the columns themselves
        follow table by table (:meth:`take_parts`), so that no process holds two copies of them at once."""
        return BuilderState(list(self.values), list(self.shape_ids), {}, dict(self.skipped),
                            self.n_events, self.lenient, self.undecodable, dict(self.unread), dict(self.runtime_cats))

    def take_parts(self, table: str) -> List[Tuple[int, Dict[str, np.ndarray]]]:
        """One table's batches, handed over (this builder forgets them)."""
        parts, self.parts[table] = self.parts[table], []
        return parts

    def merge(self, other: BuilderState) -> "Callable[[str, List[Tuple[int, Dict[str, np.ndarray]]]], None]":
        """Take in another builder's code tables and counts; returns the function that takes in its tables
        (``(table, parts)``, as :meth:`take_parts` gives them), which keep their batch numbers: order is by
        batch number. Parts carried in ``other.parts`` are taken in at once."""
        value_map = self._codes(other.values)
        shape_map = np.fromiter(map(self.shape_ids.__getitem__, other.shape_keys), np.int64, len(other.shape_keys))

        def take(table: str, parts: List[Tuple[int, Dict[str, np.ndarray]]]) -> None:
            texts = TABLES[table][1]
            for number, cols in parts:
                cols = dict(cols)
                for k in texts:
                    cols[k] = value_map[cols[k]]
                if table == "ops":
                    s = cols["shape"]
                    cols["shape"] = np.where(s >= 0, shape_map[np.maximum(s, 0)] if len(shape_map) else -1, -1)
                self.parts[table].append((number, cols))

        for table, parts in other.parts.items():
            take(table, parts)
        self.skipped.update(other.skipped)
        self.n_events += other.n_events
        self.lenient += other.lenient
        self.undecodable += other.undecodable
        self.unread.update(other.unread)
        self.runtime_cats.update(other.runtime_cats)
        return take

    # ---- the finished columns -----------------------------------------------------------------------------

    def columns(self, table: str) -> Dict[str, Any]:
        """One table's columns over every batch, in batch order: numpy arrays, and lists for text/ids (with
        their codes as ``<name>#codes``). The table's batches are handed over: a second call returns it
        empty (memory is released column by column as they are joined)."""
        numeric, texts = TABLES[table]
        parts = [cols for _, cols in sorted(self.parts[table], key=operator.itemgetter(0))]
        self.parts[table] = []
        out: Dict[str, Any] = {}
        for k, dtype in numeric.items():
            arrays = [p.pop(k) for p in parts]
            if arrays:
                out[k] = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
            else:
                out[k] = np.zeros((0, 3) if k in _WIDE else 0, dtype=dtype)
            del arrays
        values = np.empty(len(self.values), dtype=object)
        values[:] = list(self.values)
        for k in texts:
            arrays = [p.pop(k) for p in parts]
            codes = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
            del arrays
            out[k] = values[codes].tolist()
            out[k + "#codes"] = codes  # equal codes, equal values (codes into this builder's table)
        return out

    def shapes(self) -> List[tuple]:
        """The distinct raw op shapes ``(Input Dims, Input type, Concrete Inputs, Input Strides)`` by code."""
        return list(self.shape_ids)
