"""Nsight Systems reports, exported to SQLite (``nsys export --type sqlite report.nsys-rep``), read as a trace.

The export keeps CUPTI's activity records in tables; each row becomes the event a Kineto trace would hold for
it, and the events go through the same builder as a Kineto trace's, so every analysis reads them alike:

- ``CUPTI_ACTIVITY_KIND_KERNEL``: a ``kernel`` event on (device, stream), with grid, block, registers per
  thread, correlation id and shared memory per block (static + dynamic, what Kineto records). Its name is
  the mangled name demangled as Kineto does (the C++ runtime's ``__cxa_demangle``: ``kernel<4, ...>``, where
  Nsight's own demangler writes ``kernel<(int)4, ...>(int, T2, T3)``), so that a kernel has the same name in
  both tools and ``compare`` can pair them; the export's demangled name where the runtime is not at hand.
- ``CUPTI_ACTIVITY_KIND_MEMCPY`` / ``_MEMSET``: ``gpu_memcpy`` / ``gpu_memset`` events with their bytes, named
  as Kineto names them (``Memcpy DtoH (Device -> Pageable)``, ``Memset (Device)``).
- ``CUPTI_ACTIVITY_KIND_RUNTIME``: ``cuda_runtime`` or ``cuda_driver`` calls on the calling thread, their
  version suffix dropped (``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel``), linked to the GPU work they
  launched by correlation id.
- ``CUPTI_ACTIVITY_KIND_GRAPH_TRACE``: a CUDA graph launch that Nsight recorded whole (its default,
  ``--cuda-graph-trace=graph``) is one GPU activity, ``CUDA graph <id>, recorded whole``, so GPU busy and
  idle time stay right; its kernels are not known one by one (a note says so: ``--cuda-graph-trace=node``
  records them as kernels).
- ``NVTX_EVENTS``: push/pop and start/end ranges as ``user_annotation`` ranges.
- ``TARGET_INFO_GPU``: the device properties (SMs, registers, shared memory, compute capability), under the
  CUDA device index the activity records use, and Nsight's DRAM bandwidth of the device (``memoryBandwidth``),
  the peak the analysis uses unless the user gives one (it is what NVML's bus width x clock gives a run).

Times are nanoseconds in the export and microseconds here (the export's clock: the session's, not the epoch).
A report (``.nsys-rep``) is exported first by the ``nsys`` CLI where there is one (:func:`exported`).
Nsight Systems records no PyTorch operators or shapes, so bytes and FLOPs of a kernel are unknown unless
another source gives them. A record whose start and end are both 0 (CUPTI: no timestamp) is left out and
counted. Tables and columns are looked up by name, so exports of older and newer versions read alike; a
column an export lacks is unknown. A gzipped export is inflated to a temporary file first (with the same size
guards as a gzipped trace).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .parse import EMPTY_ARGS, Args, Event
from .source import TextReader, TraceError

#: The parser backend a trace read from an Nsight Systems export reports (``Trace.backend``, the summary's
#: ``parser_backend``).
BACKEND = "nsys-sqlite"
#: The first bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Nsight Systems report files that must be exported before they can be read.
REPORT_SUFFIXES = (".nsys-rep", ".qdrep", ".qdstrm")
#: NVTX range event types (``ENUM_NSYS_EVENT_TYPE``): push/pop ranges (which nest on their thread) and
#: start/end ranges.
NVTX_PUSH_POP = 59
NVTX_RANGE_TYPES = (NVTX_PUSH_POP, 60)
#: ``eventClass`` of the runtime table (``ENUM_NSYS_EVENT_CLASS``) that marks driver API calls.
DRIVER_CLASS = 1
#: CUPTI's memcpy kinds (``CUpti_ActivityMemcpyKind``) and memory kinds (``CUpti_ActivityMemoryKind``), for
#: exports without the ``ENUM_`` tables that name them.
_COPY_KINDS = {1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD", 7: "DtoA", 8: "DtoD", 9: "HtoH",
               10: "PtoP"}
_MEMORY_KINDS = {0: "Pageable", 1: "Pinned", 2: "Device", 3: "Array", 4: "Managed", 5: "Device Static",
                 6: "Managed Static"}
_VERSION_SUFFIX = re.compile(r"_v\d+$")
#: The pid bits of a ``globalPid``/``globalTid`` (bits 24-47, shifted down).
_PID_MASK = 0xFFFFFF
#: Tables whose rows name their process by thread (``globalTid``); the others by ``globalPid``.
_PROCESS_COLUMN = {"CUPTI_ACTIVITY_KIND_RUNTIME": "globalTid", "NVTX_EVENTS": "globalTid"}
_BATCH = 65536


#: Longest mangled name handed to the C++ runtime's demangler (characters): real kernel names stay under a few
#: thousand; a longer one (a hostile export) keeps the export's own name rather than risk an old runtime's
#: recursion on it.
MAX_DEMANGLED = 32768


class _Demangler:
    """The C++ runtime's ``__cxa_demangle`` (libstdc++ or libc++) through ctypes, loaded on first use;
    :meth:`__call__` gives ``None`` where the runtime is missing or the name is not a mangled one."""

    def __init__(self) -> None:
        self._fn: Any = None
        self._free: Any = None
        self._loaded = False

    def _load(self) -> None:
        import ctypes
        import ctypes.util

        self._loaded = True
        for lib in ("stdc++", "c++", "c++abi"):
            path = ctypes.util.find_library(lib)
            try:
                handle = ctypes.CDLL(path) if path else None
                # getattr: spelled out in a class body, the name would be mangled to _Demangler__cxa_demangle
                fn = getattr(handle, "__cxa_demangle") if handle is not None else None  # noqa: B009
                free = ctypes.CDLL(None).free
            except (OSError, AttributeError, TypeError):  # TypeError: no CDLL(None) (Windows)
                continue
            if fn is None:
                continue
            fn.restype = ctypes.c_void_p
            fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
            free.argtypes = [ctypes.c_void_p]
            self._fn, self._free = fn, free
            return

    def __call__(self, mangled: str) -> Optional[str]:
        if not mangled.startswith("_Z") or len(mangled) > MAX_DEMANGLED:
            return None
        if not self._loaded:
            self._load()
        if self._fn is None:
            return None
        import ctypes

        status = ctypes.c_int(0)
        try:
            text = self._fn(mangled.encode(), None, None, ctypes.byref(status))
        except UnicodeEncodeError:
            return None
        if status.value != 0 or not text:
            return None
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            self._free(text)


demangle = _Demangler()


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` holds an SQLite database (plain or gzipped), judged by its first bytes."""
    try:
        with TextReader(path) as reader:
            return reader.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except TraceError:
        return False


def is_unexported_report(path: Path) -> bool:
    """Whether ``path`` is an Nsight Systems report that ``nsys export`` must turn into SQLite first."""
    return path.suffix in REPORT_SUFFIXES


#: Environment variable naming the ``nsys`` executable that exports reports (default: ``nsys`` on PATH).
NSYS_ENV = "BAMBAPROF_NSYS"


@contextlib.contextmanager
def exported(report: Path) -> Iterator[Path]:
    """An Nsight Systems report (``.nsys-rep``, ``.qdrep``) exported to SQLite in a temporary folder by the
    ``nsys`` CLI (``$BAMBAPROF_NSYS``, else ``nsys`` on PATH), removed afterwards. Raises :class:`TraceError`
    (one line) when there is no ``nsys`` or the export fails."""
    import shutil
    import subprocess

    nsys = os.environ.get(NSYS_ENV) or shutil.which("nsys")
    command = f"nsys export --type sqlite {report.name}"
    if report.suffix == ".qdstrm":
        raise TraceError("an Nsight Systems capture stream (.qdstrm): import it into a .nsys-rep with its "
                         f"QdstrmImporter, then export that ({command.replace('.qdstrm', '.nsys-rep')})")
    if not nsys:
        raise TraceError(f"an Nsight Systems report and no nsys here to export it: run `{command}` where Nsight "
                         f"Systems is installed (or set {NSYS_ENV}) and analyse the .sqlite file")
    with tempfile.TemporaryDirectory(prefix="bambaprof-nsys-") as folder:
        out = Path(folder) / "report.sqlite"
        try:
            done = subprocess.run([nsys, "export", "--type", "sqlite", "--force-overwrite", "true", "--output",
                                   str(out), str(report)], capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise TraceError(f"cannot run {nsys} to export the report ({exc.strerror or exc})") from None
        if done.returncode != 0 or not out.is_file():
            said = [line.strip() for line in done.stderr.splitlines() if line.strip()] \
                or [line.strip() for line in done.stdout.splitlines() if line.strip()]  # its error, else its output
            raise TraceError(f"`{command}` failed (exit {done.returncode})" + (f": {said[-1][:300]}" if said else ""))
        yield out


@contextlib.contextmanager
def _database_file(path: Path) -> Iterator[Path]:
    """The database as a plain file: ``path`` itself, or a temporary copy inflated from gzip."""
    with TextReader(path) as reader:
        if not reader.compressed:
            yield path
            return
        fd, name = tempfile.mkstemp(suffix=".sqlite", prefix="bambaprof-nsys-")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = reader.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            yield Path(name)
        finally:
            os.unlink(name)


class _Export:
    """An open export: which tables and columns it has, and its string table."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        #: The pid whose rows are read (``None``: every process's).
        self.process: Optional[int] = None
        self.tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.strings: Dict[int, str] = {}
        if "StringIds" in self.tables:
            self.strings = {int(i): str(v) for i, v in db.execute("SELECT id, value FROM StringIds")}

    def columns(self, table: str) -> List[str]:
        return [str(r[1]) for r in self.db.execute(f"PRAGMA table_info([{table}])")]

    def rows(self, table: str, wanted: Sequence[str], order: str = "") -> Iterator[Dict[str, Any]]:
        """The table's rows as dicts of the ``wanted`` columns (``None`` for a column it lacks); only the
        process's rows when the export is read for one process (:attr:`process`); ``order``: an ORDER BY of
        the table's columns (``[globalTid], [start]``), left out when the table lacks one of them."""
        if table not in self.tables:
            return
        have = set(self.columns(table))
        select = ", ".join(f"[{c}]" if c in have else "NULL" for c in wanted)
        where = self._where(table, have)
        if where is None:
            return
        if order and not all(c.strip(" []") in have for c in order.split(",")):
            order = ""  # a column to order by is missing: table order
        cursor = self.db.execute(f"SELECT {select} FROM [{table}]{where[0]}{f' ORDER BY {order}' if order else ''}",
                                 where[1])
        while True:
            batch = cursor.fetchmany(_BATCH)
            if not batch:
                return
            for row in batch:
                yield dict(zip(wanted, row))

    def _where(self, table: str, have: set) -> Optional[Tuple[str, Tuple[int, ...]]]:
        """The WHERE clause (and its parameters) that keeps the process's rows of ``table``: empty when every
        process is read; ``None`` when the table names no process (its rows belong to none)."""
        if self.process is None:
            return "", ()
        column = _PROCESS_COLUMN.get(table, "globalPid")
        if column not in have:
            return None
        return f" WHERE (([{column}] >> 24) & {_PID_MASK}) = ?", (self.process,)

    def processes(self, tables: Sequence[str]) -> List[int]:
        """The pids (bits 24-47 of ``globalPid`` or ``globalTid``) that have rows in ``tables``, sorted."""
        pids: set = set()
        for table in tables:
            column = _PROCESS_COLUMN.get(table, "globalPid")
            if table in self.tables and column in self.columns(table):
                found = self.db.execute(f"SELECT DISTINCT ([{column}] >> 24) & {_PID_MASK} FROM [{table}] "
                                        f"WHERE typeof([{column}]) = 'integer'")
                pids.update(int(pid) for (pid,) in found)
        return sorted(pids)

    def without_process(self, tables: Sequence[str]) -> int:
        """Rows of ``tables`` whose process column is not an integer (no process to read them with)."""
        n = 0
        for table in tables:
            column = _PROCESS_COLUMN.get(table, "globalPid")
            if table in self.tables and column in self.columns(table):
                n += int(self.db.execute(f"SELECT COUNT(*) FROM [{table}] WHERE typeof([{column}]) != 'integer'")
                         .fetchone()[0])
        return n

    def count(self, table: str) -> int:
        """Rows in ``table`` (0 when the export lacks it; the process's rows when it is read for one)."""
        where = self._where(table, set(self.columns(table))) if table in self.tables else None
        if where is None:
            return 0
        return int(self.db.execute(f"SELECT COUNT(*) FROM [{table}]{where[0]}", where[1]).fetchone()[0])

    def string(self, sid: Any) -> Optional[str]:
        return self.strings.get(sid) if isinstance(sid, int) else (sid if isinstance(sid, str) else None)

    def enum(self, table: str, column: str) -> Dict[int, str]:
        """An ``ENUM_`` table's integer ids and one of its text columns (``name``: ``CUDA_MEMCPY_KIND_DTOH``,
        ``label``: ``Pageable``); empty when the export lacks the table or the column."""
        if table not in self.tables or column not in self.columns(table) or "id" not in self.columns(table):
            return {}
        return {i: str(v) for i, v in self.db.execute(f"SELECT id, [{column}] FROM [{table}]")
                if _int_or_none(i) is not None}


def _times(start: Any, end: Any) -> Tuple[Optional[float], Optional[float]]:
    """(ts, dur) in us from CUPTI start/end in ns; ``None`` for a record without timestamps."""
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or (start == 0 and end == 0):
        return None, None
    return start / 1e3, (end - start) / 1e3


def _thread(global_tid: Any) -> Tuple[Any, Any]:
    """(pid, tid) of an Nsight Systems ``globalTid`` (pid in bits 24-47, tid in bits 0-23)."""
    if not isinstance(global_tid, int):
        return None, None
    return (global_tid >> 24) & 0xFFFFFF, global_tid & 0xFFFFFF


def _process(global_id: Any) -> Optional[int]:
    """The pid of an Nsight Systems ``globalPid`` or ``globalTid``."""
    return (global_id >> 24) & _PID_MASK if isinstance(global_id, int) else None


class _Correlations:
    """Correlation ids kept apart per process. CUPTI numbers them per process, so in an export of several
    processes (``nsys profile torchrun ...``) two processes' kernels can carry the same id: each process's ids
    are offset by its index times 2**32 (one process: the ids as recorded)."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._offset = {pid: i << 32 for i, pid in enumerate(pids)} if len(pids) > 1 else {}

    def __call__(self, correlation: Any, global_id: Any) -> Optional[int]:
        corr = _int_or_none(correlation)
        if corr is None or not self._offset:
            return corr
        pid = _process(global_id)
        return corr + (self._offset.get(pid, 0) if pid is not None else 0)


def _int_or_none(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _linked(corr: _Correlations, ops: "_Operators", r: Dict[str, Any]) -> Dict[str, Any]:
    """A GPU activity's correlation id and the ``External id`` of the operator that launched it (if known)."""
    correlation = corr(r["correlationId"], r["globalPid"])
    return {"correlation": correlation,
            "external_id": ops.launched.get(correlation) if correlation is not None else None}


def _kernels(ex: _Export, corr: _Correlations, ops: "_Operators") -> Iterator[Event]:
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "demangledName", "shortName",
            "mangledName",
            "gridX", "gridY", "gridZ", "blockX", "blockY", "blockZ", "registersPerThread", "staticSharedMemory",
            "dynamicSharedMemory")
    names: Dict[Any, str] = {}
    for r in ex.rows("CUPTI_ACTIVITY_KIND_KERNEL", cols):
        ts, dur = _times(r["start"], r["end"])
        key = (r["mangledName"], r["demangledName"], r["shortName"])
        name = names.get(key)
        if name is None:
            name = names[key] = _kernel_name(ex, *key)
        static, dynamic = _int_or_none(r["staticSharedMemory"]), _int_or_none(r["dynamicSharedMemory"])
        grid = [r["gridX"], r["gridY"], r["gridZ"]]
        block = [r["blockX"], r["blockY"], r["blockZ"]]
        yield Event(ph="X", cat="kernel", name=name, pid=r["deviceId"], tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=_int_or_none(r["deviceId"]), stream=_int_or_none(r["streamId"]),
                              **_linked(corr, ops, r),
                              grid=grid if None not in grid else None, block=block if None not in block else None,
                              registers=_int_or_none(r["registersPerThread"]),
                              shared_memory=None if static is None and dynamic is None
                              else (static or 0) + (dynamic or 0)))


def _kernel_name(ex: _Export, mangled_id: Any, demangled_id: Any, short_id: Any) -> str:
    """Kineto's name for a kernel: its mangled name demangled by the C++ runtime, or as it is when it is not
    a mangled C++ name (``sm80_xmma_gemm_...``, Triton's kernels); else the export's own names."""
    mangled = ex.string(mangled_id)
    if mangled:
        ours = demangle(mangled)
        if ours is not None:
            return ours
        if not mangled.startswith("_Z"):
            return mangled
    return ex.string(demangled_id) or ex.string(short_id) or mangled or ""


def _copy_kind(name: str) -> str:
    """``CUDA_MEMCPY_KIND_DTOH`` -> ``DtoH`` (Kineto's spelling)."""
    last = name.rsplit("_", 1)[-1]
    return last.replace("TO", "to") if "TO" in last else last.capitalize()


def _copies_and_sets(ex: _Export, corr: _Correlations, ops: "_Operators") -> Iterator[Event]:
    copy_names = {i: _copy_kind(n) for i, n in ex.enum("ENUM_CUDA_MEMCPY_OPER", "name").items()} or _COPY_KINDS
    memory = ex.enum("ENUM_CUDA_MEM_KIND", "label") or _MEMORY_KINDS
    cols: Tuple[str, ...] = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "bytes",
                             "copyKind", "srcKind", "dstKind")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_MEMCPY", cols):
        ts, dur = _times(r["start"], r["end"])
        kind = copy_names.get(r["copyKind"], "Unknown")
        src, dst = memory.get(r["srcKind"], "Unknown"), memory.get(r["dstKind"], "Unknown")
        yield Event(ph="X", cat="gpu_memcpy", name=f"Memcpy {kind} ({src} -> {dst})", pid=r["deviceId"],
                    tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=_int_or_none(r["deviceId"]), stream=_int_or_none(r["streamId"]),
                              **_linked(corr, ops, r),
                              bytes=float(r["bytes"]) if isinstance(r["bytes"], (int, float)) else None))
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "bytes", "memKind")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_MEMSET", cols):
        ts, dur = _times(r["start"], r["end"])
        yield Event(ph="X", cat="gpu_memset", name=f"Memset ({memory.get(r['memKind'], 'Unknown')})",
                    pid=r["deviceId"], tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=_int_or_none(r["deviceId"]), stream=_int_or_none(r["streamId"]),
                              **_linked(corr, ops, r),
                              bytes=float(r["bytes"]) if isinstance(r["bytes"], (int, float)) else None))


def _whole_graphs(ex: _Export, corr: _Correlations, ops: "_Operators") -> Iterator[Event]:
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "graphId")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_GRAPH_TRACE", cols):
        ts, dur = _times(r["start"], r["end"])
        yield Event(ph="X", cat="kernel", name=f"CUDA graph {r['graphId']}, recorded whole", pid=r["deviceId"],
                    tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=_int_or_none(r["deviceId"]), stream=_int_or_none(r["streamId"]),
                              **_linked(corr, ops, r)))


class _Operators:
    """The PyTorch operators that ``torch.autograd.profiler.emit_nvtx`` wrote as NVTX push/pop ranges, and
    which of them launched each CUDA call: the innermost one open on the calling thread when the call began
    (a thread's push/pop ranges nest). Each operator gets an ``External id``, as Kineto gives it, and so do
    the calls it made and, by correlation id, the GPU work they launched."""

    def __init__(self) -> None:
        self.ranges: Dict[Any, List[Tuple[int, int, int]]] = {}  # globalTid -> (start, end, id) of its operators
        self.launched: Dict[int, int] = {}  # correlation id -> operator id
        self._thread: Any = None
        self._open: List[Tuple[int, int, int]] = []
        self._i = 0
        self.count = 0  # operator ranges read

    def add(self, global_tid: Any, start: Any, end: Any) -> int:
        """A new operator range; returns its id (1, 2, ...)."""
        self.count += 1
        if isinstance(start, int) and isinstance(end, int):
            self.ranges.setdefault(global_tid, []).append((start, end, self.count))
        return self.count

    def launcher(self, global_tid: Any, start: Any) -> Optional[int]:
        """The operator open on the thread at ``start``; calls must come ordered by (thread, start)."""
        ranges = self.ranges.get(global_tid)
        if global_tid != self._thread:
            self._thread, self._open, self._i = global_tid, [], 0
            if ranges:
                ranges.sort(key=lambda r: (r[0], -r[1]))
        if not ranges or not isinstance(start, int):
            return None
        while self._i < len(ranges) and ranges[self._i][0] <= start:
            opening = ranges[self._i]
            while self._open and self._open[-1][1] < opening[0]:
                self._open.pop()
            self._open.append(opening)
            self._i += 1
        while self._open and self._open[-1][1] < start:
            self._open.pop()
        return self._open[-1][2] if self._open else None


#: What ``torch.autograd.profiler.emit_nvtx`` writes after an operator's name (``aten::mm, seq = 12, op_id = 5,
#: sizes = [[64, 64], [64, 64]]``).
_EMIT_NVTX_SUFFIX = re.compile(r", (?:seq|op_id) = -?\d+|, sizes = \[|, input_op_ids = \[")
#: A sequence number of the autograd graph (``MmBackward0, seq = 12``): the range is an operator.
_SEQUENCE = re.compile(r", seq = \d+")
#: An operator's qualified name (``aten::mm``, ``c10d::allreduce_``, ``mylib::op.overload``).
_OP_NAME = re.compile(r"[A-Za-z_]\w*::[A-Za-z_][\w.]*$")


def nvtx_range_name(text: str) -> Tuple[str, bool]:
    """``(name, is_operator)`` of an NVTX range's text: emit_nvtx's suffixes dropped from the name; an
    operator when the name is qualified (``aten::mm``) or the range carries an autograd sequence number."""
    cut = _EMIT_NVTX_SUFFIX.search(text)
    name = text[:cut.start()] if cut else text
    return name, bool(_OP_NAME.match(name) or _SEQUENCE.search(text))


def _api_calls(ex: _Export, corr: _Correlations, ops: _Operators) -> Iterator[Event]:
    order = "[globalTid], [start]" if ops.ranges else ""  # a thread's calls in time order, to find their operators
    for r in ex.rows("CUPTI_ACTIVITY_KIND_RUNTIME", ("start", "end", "eventClass", "globalTid", "correlationId",
                                                      "nameId"), order=order):
        ts, dur = _times(r["start"], r["end"])
        pid, tid = _thread(r["globalTid"])
        name = _VERSION_SUFFIX.sub("", ex.string(r["nameId"]) or "")
        correlation = corr(r["correlationId"], r["globalTid"])
        op = ops.launcher(r["globalTid"], r["start"]) if ops.ranges else None
        if op is not None and correlation is not None:
            ops.launched[correlation] = op
        yield Event(ph="X", cat="cuda_driver" if r["eventClass"] == DRIVER_CLASS else "cuda_runtime", name=name,
                    pid=pid, tid=tid, ts=ts, dur=dur, args=Args(correlation=correlation, external_id=op))


def _ranges(ex: _Export, ops: _Operators) -> Iterator[Event]:
    for r in ex.rows("NVTX_EVENTS", ("start", "end", "eventType", "text", "textId", "globalTid")):
        if r["eventType"] not in NVTX_RANGE_TYPES or r["end"] is None:
            continue
        ts, dur = _times(r["start"], r["end"])
        pid, tid = _thread(r["globalTid"])
        name, is_op = nvtx_range_name(r["text"] if isinstance(r["text"], str) else ex.string(r["textId"]) or "")
        if is_op and r["eventType"] == NVTX_PUSH_POP:
            op = ops.add(r["globalTid"], r["start"], r["end"])
            yield Event(ph="X", cat="cpu_op", name=name, pid=pid, tid=tid, ts=ts, dur=dur, args=Args(external_id=op))
        else:
            yield Event(ph="X", cat="user_annotation", name=name, pid=pid, tid=tid, ts=ts, dur=dur, args=EMPTY_ARGS)


def _device_properties(ex: _Export) -> List[Dict[str, Any]]:
    """``TARGET_INFO_GPU`` as Kineto's ``deviceProperties`` (keyed by the CUDA device index)."""
    cols = ("id", "cuDevice", "name", "totalMemory", "computeMajor", "computeMinor", "maxThreadsPerBlock",
            "maxWarpsPerSm", "threadsPerWarp", "maxRegistersPerBlock", "maxRegistersPerSm", "maxShmemPerBlock",
            "maxShmemPerBlockOptin", "maxShmemPerSm", "smCount", "memoryBandwidth")
    out = []
    for r in ex.rows("TARGET_INFO_GPU", cols):
        warps, warp = _int_or_none(r["maxWarpsPerSm"]), _int_or_none(r["threadsPerWarp"])
        props = {
            "id": r["cuDevice"] if _int_or_none(r["cuDevice"]) is not None else r["id"], "name": r["name"],
            "totalGlobalMem": r["totalMemory"], "computeMajor": r["computeMajor"], "computeMinor": r["computeMinor"],
            "maxThreadsPerBlock": r["maxThreadsPerBlock"],
            "maxThreadsPerMultiprocessor": warps * warp if warps is not None and warp is not None else None,
            "regsPerBlock": r["maxRegistersPerBlock"], "regsPerMultiprocessor": r["maxRegistersPerSm"],
            "warpSize": warp, "sharedMemPerBlock": r["maxShmemPerBlock"],
            "sharedMemPerBlockOptin": r["maxShmemPerBlockOptin"], "sharedMemPerMultiprocessor": r["maxShmemPerSm"],
            "numSms": r["smCount"],
            # Nsight's figure for the device's DRAM bandwidth (bytes/s: bus width x memory clock), as GB/s
            "nsysPeakBandwidthGbps": r["memoryBandwidth"] / 1e9 if isinstance(r["memoryBandwidth"], (int, float))
            and r["memoryBandwidth"] > 0 else None,
        }
        out.append({k: v for k, v in props.items() if v is not None})
    return out


#: Tables of which an export must have at least one to be read as a trace.
ACTIVITY_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                   "CUPTI_ACTIVITY_KIND_RUNTIME")


def _metrics_window(ex: _Export) -> Optional[Tuple[int, int]]:
    """(first start, last end) in ns of the GPU work read, when the export has GPU metrics to summarise over
    it (``GPU_METRICS`` and ``TARGET_INFO_GPU_METRICS`` with the columns used); else ``None``."""
    if "GPU_METRICS" not in ex.tables or "TARGET_INFO_GPU_METRICS" not in ex.tables:
        return None
    have, info = set(ex.columns("GPU_METRICS")), set(ex.columns("TARGET_INFO_GPU_METRICS"))
    if not {"timestamp", "metricId", "value"} <= have or not {"metricId", "metricName"} <= info:
        return None
    bounds = [ex.db.execute(f"SELECT MIN([start]), MAX([end]) FROM [{t}]{w[0]}", w[1]).fetchone()
              for t in DEVICE_TABLES if t in ex.tables and {"start", "end"} <= set(ex.columns(t))
              for w in [ex._where(t, set(ex.columns(t)))] if w is not None]
    starts = [b[0] for b in bounds if isinstance(b[0], int)]
    ends = [b[1] for b in bounds if isinstance(b[1], int)]
    return (min(starts), max(ends)) if starts and ends else None


#: Most samples of one metric attributed to kernels (10 kHz for 10 minutes of GPU window); a longer capture
#: keeps its window summary but not the per-kernel figures.
MAX_KERNEL_SAMPLES = 6_000_000


def _gpu_metrics(ex: _Export, window: Tuple[int, int]) -> Dict[str, Dict[str, Any]]:
    """Nsight Systems' sampled GPU metrics (``nsys profile --gpu-metrics-devices``: ``GPU_METRICS`` named by
    ``TARGET_INFO_GPU_METRICS``) over the GPU window of the activity read (first start to last end, on the
    export's clock): ``{"nsys.<metric name>" (and " (<GPU>)" when several GPUs were sampled): {"mean", "max",
    "samples"}}`` of the values as sampled (``[Throughput %]`` metrics are percent of their peak), ``window``
    being :func:`_metrics_window`'s. Empty when no sample falls in the window."""
    have, info = set(ex.columns("GPU_METRICS")), set(ex.columns("TARGET_INFO_GPU_METRICS"))
    by_type = "typeId" in have
    names: Dict[Tuple[Any, Any], str] = {}
    gpu_names: Dict[Any, str] = {}
    cols = "typeId, metricId, metricName" + (", typeName" if "typeName" in info else "")
    for row in ex.db.execute(f"SELECT {cols if 'typeId' in info else 'NULL, metricId, metricName'} "
                             "FROM TARGET_INFO_GPU_METRICS"):
        names[(row[0] if by_type else None, row[1])] = str(row[2])
        names.setdefault((None, row[1]), str(row[2]))
        if len(row) > 3 and row[0] is not None:
            gpu_names[row[0]] = f"{row[3] or 'GPU'} {row[0]:#x}" if isinstance(row[0], int) else str(row[3])
    group = "typeId" if by_type else "NULL"
    rows = ex.db.execute(f"SELECT {group}, metricId, AVG(value), MAX(value), COUNT(*) FROM GPU_METRICS "
                         f"WHERE timestamp BETWEEN ? AND ? AND typeof(value) IN ('integer', 'real') "
                         f"GROUP BY {group}, metricId", window).fetchall()
    gpus = {r[0] for r in rows}
    out: Dict[str, Dict[str, Any]] = {}
    for gpu, metric, mean, peak, n in rows:
        name = names.get((gpu, metric)) or names.get((None, metric)) or f"metric {metric}"
        where = f" ({gpu_names.get(gpu, f'type {gpu}')})" if len(gpus) > 1 else ""  # nsys's typeId, as it is
        out[f"nsys.{name}{where}"] = {"mean": float(mean), "max": float(peak), "samples": int(n)}
    return dict(sorted(out.items()))


#: Sampled metrics attributed to kernels (:mod:`.sampled`), by the name Nsight Systems gives them.
PER_KERNEL_METRICS = ("DRAM Read Bandwidth [Throughput %]", "DRAM Write Bandwidth [Throughput %]",
                      "SMs Active [Throughput %]")


def _metric_samples(ex: _Export, window: Tuple[int, int], notes: List[str]) -> Optional[Dict[str, Any]]:
    """The samples of :data:`PER_KERNEL_METRICS` when the export sampled one GPU: ``{"t_ns": {metric: array},
    "value": {metric: array}}`` in time order (ns on the export's clock); ``None`` when it sampled none, or
    several (which sampled GPU is which CUDA device is not recorded in a way read here), or more samples of a
    metric than :data:`MAX_KERNEL_SAMPLES` (with a note in ``notes``). ``window``: :func:`_metrics_window`'s."""
    if "typeId" in ex.columns("GPU_METRICS") and \
            ex.db.execute("SELECT COUNT(DISTINCT typeId) FROM GPU_METRICS").fetchone()[0] != 1:
        return None
    ids = {str(name): mid for mid, name in ex.db.execute("SELECT metricId, metricName FROM TARGET_INFO_GPU_METRICS")}
    import numpy as np

    out: Dict[str, Any] = {"t_ns": {}, "value": {}}
    picked = ("FROM GPU_METRICS WHERE metricId = ? AND timestamp BETWEEN ? AND ? AND typeof(timestamp) = 'integer' "
              "AND typeof(value) IN ('integer', 'real')")
    for metric in PER_KERNEL_METRICS:
        if metric not in ids:
            continue
        count = ex.db.execute(f"SELECT COUNT(*) {picked}", (ids[metric], *window)).fetchone()[0]
        if count > MAX_KERNEL_SAMPLES:
            notes.append(f"GPU metrics are not attributed to kernels: {count:,} samples of {metric} in the window, "
                         f"over the {MAX_KERNEL_SAMPLES:,} read (MAX_KERNEL_SAMPLES); their summary stays")
            return None
        rows = ex.db.execute(f"SELECT timestamp, value {picked} ORDER BY timestamp", (ids[metric], *window)).fetchall()
        if len(rows) >= 3:
            data = np.array(rows, dtype=np.float64)
            out["t_ns"][metric], out["value"][metric] = data[:, 0], data[:, 1]
    return out if out["t_ns"] else None


#: Tables of GPU work (what makes a process one that ran on a GPU, a rank of a distributed job).
DEVICE_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                 "CUPTI_ACTIVITY_KIND_GRAPH_TRACE")


def read_export(path: Path, on_batch: Callable[[List[Event], int], None],
                process: Optional[int] = None) -> Dict[str, Any]:
    """Hand the events of an Nsight Systems SQLite export to ``on_batch(events, rows)``, a batch (up to 65,536
    events) at a time, so that no more than one batch is held (``rows``: the rows of the tables read, for a
    progress bar); returns the metadata (``deviceProperties``, ``reader_notes``). ``process``: read only
    that pid's rows (its GPU work, API calls and NVTX ranges), as the trace of one rank.

    Raises :class:`TraceError` (one line) for a database that is not an Nsight Systems export, one without
    CUDA activity (of the process), or one SQLite cannot read."""
    with _database_file(path) as db_path, contextlib.closing(_connect(db_path)) as db:
        try:
            ex = _Export(db)
            if "StringIds" not in ex.tables and not ex.tables.intersection(ACTIVITY_TABLES):
                raise TraceError("an SQLite database that is not an Nsight Systems export")
            if not ex.tables.intersection(ACTIVITY_TABLES):
                raise TraceError("an Nsight Systems export without CUDA activity (profile with `nsys profile "
                                 "--trace cuda`)")
            pids = ex.processes(ACTIVITY_TABLES + ("CUPTI_ACTIVITY_KIND_GRAPH_TRACE",))
            meta: Dict[str, Any] = {"deviceProperties": _device_properties(ex), "reader_notes": []}
            if process is not None:
                if process not in pids:
                    raise TraceError(f"no CUDA activity of process {process} in the export (processes with some: "
                                     f"{_pid_list(pids) or 'none'})")
                orphans = ex.without_process(DEVICE_TABLES)
                ex.process = process
                if len(pids) > 1:
                    meta["reader_notes"].append(f"process {process} of the {len(pids)} in the export (pids "
                                                f"{_pid_list(pids)}): its GPU work, CUDA API calls and NVTX ranges")
                if orphans:
                    meta["reader_notes"].append(f"{orphans} GPU activities of the export name no process and are "
                                                f"left out of process {process}'s")
            elif len(pids) > 1:
                meta["reader_notes"].append(
                    f"{len(pids)} processes in one export (pids {_pid_list(pids)}): their activity is combined, one "
                    "row per device in the device table, and each kernel is linked only to its own process's "
                    "launch call")
            whole = ex.count("CUPTI_ACTIVITY_KIND_GRAPH_TRACE")
            if whole:
                meta["reader_notes"].append(
                    f"{whole} CUDA graph launches were recorded whole (nsys --cuda-graph-trace=graph): each is one "
                    "activity named 'CUDA graph <id>, recorded whole'; profile with --cuda-graph-trace=node to see "
                    "their kernels")
            window = _metrics_window(ex)  # one pass over the activity tables for both readers
            meta["gpuMetrics"] = _gpu_metrics(ex, window) if window is not None else {}
            meta["gpuMetricSamples"] = _metric_samples(ex, window, meta["reader_notes"]) if window is not None else None
            corr = _Correlations(pids if process is None else [process])
            ops = _Operators()
            rows = sum(ex.count(t) for t in (*ACTIVITY_TABLES, "CUPTI_ACTIVITY_KIND_GRAPH_TRACE", "NVTX_EVENTS"))
            for source in (_ranges(ex, ops), _api_calls(ex, corr, ops), _kernels(ex, corr, ops),
                           _whole_graphs(ex, corr, ops), _copies_and_sets(ex, corr, ops)):
                batch: List[Event] = []
                for event in source:
                    batch.append(event)
                    if len(batch) == _BATCH:
                        on_batch(batch, rows)
                        batch = []
                if batch:
                    on_batch(batch, rows)
        except sqlite3.Error as exc:
            raise TraceError(f"SQLite cannot read it ({exc})") from None
    if ops.ranges:
        meta["reader_notes"].insert(0, (
            f"an Nsight Systems export with PyTorch operators (torch.autograd.profiler.emit_nvtx: {ops.count} NVTX "
            f"ranges, {len(ops.launched)} launches linked to the operator open on their thread); their input sizes "
            "come without dtypes, so bytes come only from kernel metadata"))
    else:
        meta["reader_notes"].insert(0, "an Nsight Systems export: no PyTorch operators or input shapes, so bytes "
                                       "come only from kernel metadata")
    return meta


def gpu_processes(path: Path) -> List[int]:
    """The pids of an export's processes that ran GPU work (kernels, copies, memsets, graphs), sorted: the
    ranks of a distributed job captured in one report (``nsys profile torchrun ...``). Raises
    :class:`TraceError` (one line) for a database SQLite cannot read."""
    with _database_file(path) as db_path, contextlib.closing(_connect(db_path)) as db:
        try:
            return _Export(db).processes(DEVICE_TABLES)
        except sqlite3.Error as exc:
            raise TraceError(f"SQLite cannot read it ({exc})") from None


@contextlib.contextmanager
def database(path: Path) -> Iterator[Path]:
    """An export as a plain SQLite file for as long as the block runs: a ``.sqlite`` itself, a ``.sqlite.gz``
    inflated, a report (``.nsys-rep``) exported by the ``nsys`` CLI, so that reading it several times (one
    process at a time) inflates or exports it once."""
    if is_unexported_report(path):
        with exported(path) as out:
            yield out
        return
    with _database_file(path) as out:
        yield out


def _pid_list(pids: Sequence[int], most: int = 8) -> str:
    return ", ".join(map(str, pids[:most])) + (", ..." if len(pids) > most else "")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise TraceError(f"SQLite cannot open it ({exc})") from None
