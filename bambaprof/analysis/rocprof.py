"""rocprofv3's CSV output (``rocprofv3 --kernel-trace --hip-trace --memory-copy-trace --output-format csv``),
read as a trace of AMD GPUs.

rocprofv3 writes one CSV per kind of record, named ``<prefix>kernel_trace.csv``, ``<prefix>hip_api_trace.csv``
and so on, where the prefix is the output file's name (by default the process id and an underscore). The
kernel trace names the run: the files beside it with the same prefix are read with it. Each row becomes the
event a Kineto trace of ROCm would hold, and the events go through the same builder:

- ``kernel_trace.csv``: a ``kernel`` on (device, stream) with its correlation id, workgroup (``block``), grid
  in workgroups (rocprofv3 gives the grid in work-items, HIP's launch in blocks: the grid is divided by the
  workgroup size, rounding up), VGPRs per work-item (``registers``) and the LDS block (``shared memory``);
- ``hip_api_trace.csv``: ``hip_runtime`` calls on the calling thread, linked to the kernels and copies they
  launched by correlation id (rocprofv3's internal one, which both files carry);
- ``memory_copy_trace.csv``: ``gpu_memcpy`` events named as Kineto names them (``Memcpy HtoD``), on the
  device that is not the host; their bytes where the file has a size column (older versions have none:
  unknown);
- ``marker_api_trace.csv``: roctx ranges as ``user_annotation`` ranges (phases);
- ``agent_info.csv``: each GPU agent's properties (name, compute units, wavefront size, LDS), the device
  index being the agent's place among the GPU agents.

Times are nanoseconds in the files and microseconds here. A row whose numbers do not read is left out and
counted. Columns are looked up by name, so older and newer versions read alike; a column a file lacks is
unknown. A file beside the kernel trace that is empty, unreadable or without the columns its records need
(:data:`NEEDS`) is left out with a note saying what is then unknown, as if it were not there; a file whose
text breaks off or turns unreadable part way (a gzip stream cut short) is read up to there, with a note.
rocprofv3 records no PyTorch operators or shapes: bytes of a kernel are unknown, and occupancy too (the
occupancy model is NVIDIA's).
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import without_path
from .parse import EMPTY_ARGS, Args, Event
from .source import TextReader, TraceError, allow_long_csv_fields

#: The parser backend a trace read from rocprofv3's CSV files reports (``Trace.backend``).
BACKEND = "rocprofv3-csv"
#: The backend of rocprofv3's JSON output (:mod:`.rocprof_json`), and the two together.
JSON_BACKEND = "rocprofv3-json"
BACKENDS = (BACKEND, JSON_BACKEND)
#: The file that names a rocprofv3 run (its prefix names the others).
KERNEL_TRACE = "kernel_trace.csv"
#: The other files read beside it, by what they hold.
SIBLINGS = {"api": "hip_api_trace.csv", "copies": "memory_copy_trace.csv", "markers": "marker_api_trace.csv",
            "agents": "agent_info.csv"}
#: The columns without which a file's records say nothing, by kind (the kernel trace's under ``"kernels"``).
NEEDS = {"kernels": ("Kernel_Name", "Start_Timestamp", "End_Timestamp"),
         "api": ("Function", "Start_Timestamp", "End_Timestamp"),
         "copies": ("Start_Timestamp", "End_Timestamp"),
         "markers": ("Function", "Start_Timestamp", "End_Timestamp"),
         "agents": ("Agent_Type",)}
#: What is unknown without each file beside the kernel trace.
WITHOUT = {"api": "launch overhead and host waits are unknown (rocprofv3 --hip-trace records the calls)",
           "copies": "copies are not in the timeline (rocprofv3 --memory-copy-trace records them)",
           "markers": "its roctx ranges are not phases",
           "agents": "the GPUs' names and properties are unknown"}
_BATCH = 65536
_CHUNK = 1 << 20
_AGENT = re.compile(r"^\s*(?:(Agent|GPU|CPU)\s+)?(-?\d+)\s*$", re.IGNORECASE)
#: rocprofv3's copy directions (``MEMORY_COPY_HOST_TO_DEVICE``) as Kineto spells them.
DIRECTIONS = {"HOST_TO_DEVICE": "HtoD", "DEVICE_TO_HOST": "DtoH", "DEVICE_TO_DEVICE": "DtoD",
               "HOST_TO_HOST": "HtoH", "PEER_TO_PEER": "PtoP"}


def is_rocprof(path: Path) -> bool:
    """Whether ``path`` is a rocprofv3 kernel trace (``<prefix>kernel_trace.csv``, or ``.csv.gz``)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith(KERNEL_TRACE)


def sibling(kernel_trace: Path, what: str) -> Optional[Path]:
    """The file of kind ``what`` (a key of :data:`SIBLINGS`) written with ``kernel_trace``, if there is one."""
    gz = kernel_trace.name.endswith(".gz")
    prefix = kernel_trace.name[:-len(KERNEL_TRACE) - (3 if gz else 0)]
    for name in (prefix + SIBLINGS[what], prefix + SIBLINGS[what] + ".gz"):
        candidate = kernel_trace.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def _lines(path: Path) -> Iterator[str]:
    """A CSV file's lines (plain or gzipped, read in chunks; bytes that are not UTF-8 replaced, NULs dropped)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")  # a byte-order mark first is not text
    rest = ""
    with TextReader(path) as reader:
        while True:
            chunk = reader.read(_CHUNK)
            text = rest + decoder.decode(chunk, final=not chunk)
            if not chunk:
                if text:
                    yield text.replace("\x00", "")
                return
            parts = text.splitlines(keepends=True)
            rest = parts.pop() if parts and not parts[-1].endswith(("\n", "\r")) else ""
            for line in parts:
                yield line.replace("\x00", "")


def _not_csv(path: Path, exc: csv.Error) -> TraceError:
    """The error of a file the csv module cannot read (a field past :data:`.source.CSV_FIELD_LIMIT`, ...)."""
    return TraceError(f"{path.name}: not a CSV file rocprofv3 writes ({exc})")


def _rows(path: Path, notes: Optional[List[str]] = None) -> Iterator[Dict[str, str]]:
    """A CSV file's rows as dicts by header (:func:`_lines`). Raises :class:`TraceError` for a file that cannot be
    read; with ``notes``, a file that turns unreadable after its header is read up to there instead, and a note
    says so."""
    allow_long_csv_fields()
    reader = csv.DictReader(_lines(path))
    try:
        if reader.fieldnames is None:
            return
    except csv.Error as exc:
        raise _not_csv(path, exc) from None
    rows = 0
    try:
        for row in reader:
            rows += 1
            yield row
    except (csv.Error, TraceError) as exc:
        if notes is None:
            if isinstance(exc, TraceError):
                raise
            raise _not_csv(path, exc) from None
        why = without_path(str(exc), path)
        notes.append(f"{path.name} is read up to its row {rows:,}: the rest cannot be read ({why})")


def _header(path: Path) -> Optional[List[str]]:
    """A CSV file's first row (``None`` for a file without one). Raises :class:`TraceError` for a file that
    cannot be read."""
    allow_long_csv_fields()
    lines = _lines(path)
    try:
        return next(csv.reader(lines), None)
    except csv.Error as exc:
        raise _not_csv(path, exc) from None
    finally:
        lines.close()


def _unusable(path: Path, needs: Tuple[str, ...]) -> Optional[str]:
    """Why the CSV file ``path`` holds no usable records (empty, unreadable, without a header or without the
    columns ``needs``), or ``None`` when it can be read."""
    try:
        header = _header(path)
    except TraceError as exc:
        return without_path(str(exc), path)
    if not header:
        return "no header"
    missing = [c for c in needs if c not in header]
    if missing:
        return f"no column {', '.join(missing)}"
    return None


def _companion(kernel_trace: Path, what: str, notes: List[str]) -> Tuple[Optional[Path], bool]:
    """The file of kind ``what`` beside ``kernel_trace`` where it can be read, and whether one was there; a file
    there that cannot be read is left out with a note (:data:`WITHOUT`)."""
    path = sibling(kernel_trace, what)
    if path is None:
        return None, False
    why = _unusable(path, NEEDS[what])
    if why is None:
        return path, True
    notes.append(f"{path.name} beside the kernel trace is left out ({why}): {WITHOUT[what]}")
    return None, True


def _int(value: Any) -> Optional[int]:
    """An integer field, or ``None`` when it is empty, not an integer or beyond 64 bits."""
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if -2**63 <= v < 2**63 else None


def _times(start: Any, end: Any) -> Tuple[Optional[float], Optional[float]]:
    """(ts, dur) in us from start and end in ns; ``None`` where they do not read."""
    s, e = _int(start), _int(end)
    if s is None or e is None:
        return None, None
    return s / 1e3, (e - s) / 1e3


class _Agents:
    """rocprofv3's agents (``agent_info.csv``) and the device index of each GPU agent: its place among the GPU
    agents in node order. An ``Agent_Id`` field is ``Agent <n>`` (a node id, absolute or logical: rocprofv3's
    ``--agent-index`` setting) or ``GPU <n>`` (the n-th GPU)."""

    def __init__(self, path: Optional[Path], notes: Optional[List[str]] = None) -> None:
        self.rows = list(_rows(path, notes)) if path is not None else []
        gpus = sorted((r for r in self.rows if str(r.get("Agent_Type", "")).strip().upper() == "GPU"),
                      key=lambda r: (_int(r.get("Node_Id")) or 0))
        self.gpus = gpus
        self._by_node: Dict[int, int] = {}
        for i, r in enumerate(gpus):
            for key in ("Node_Id", "Logical_Node_Id"):
                node = _int(r.get(key))
                if node is not None:
                    self._by_node.setdefault(node, i)

    def device(self, agent: Any) -> Optional[int]:
        """The device index of an ``Agent_Id`` field, ``None`` where it does not read."""
        m = _AGENT.match(str(agent or ""))
        if not m:
            return None
        kind, n = (m.group(1) or "agent").lower(), int(m.group(2))
        if kind == "gpu":
            return n
        if kind == "cpu":
            return None
        return self._by_node.get(n, n) if self.gpus else n

    def properties(self) -> List[Dict[str, Any]]:
        """The GPU agents as Kineto's ``deviceProperties`` (what the files say; the rest unknown)."""
        out = []
        for i, r in enumerate(self.gpus):
            lds = _int(r.get("Lds_Size_In_Kb"))
            props = {"id": i, "name": (r.get("Product_Name") or r.get("Model_Name") or r.get("Name") or "").strip()
                     or None, "numSms": _int(r.get("Cu_Count")), "warpSize": _int(r.get("Wave_Front_Size")),
                     "maxThreadsPerBlock": _int(r.get("Workgroup_Max_Size")),
                     "sharedMemPerBlock": lds * 1024 if lds is not None else None,
                     "gfxTarget": (r.get("Name") or "").strip() or None}
            out.append({k: v for k, v in props.items() if v is not None})
        return out


def workgroups(grid: Any, workgroup: Any) -> Optional[int]:
    """Workgroups along one dimension: work-items / workgroup size, rounded up."""
    g, w = _int(grid), _int(workgroup)
    if g is None or w is None or g < 0 or w <= 0:
        return None
    return -(-g // w)


def _kernels(path: Path, agents: _Agents, notes: List[str]) -> Iterator[Event]:
    for r in _rows(path, notes):
        ts, dur = _times(r.get("Start_Timestamp"), r.get("End_Timestamp"))
        device, stream = agents.device(r.get("Agent_Id")), _int(r.get("Stream_Id"))
        if stream is None:
            stream = _int(r.get("Queue_Id"))
        grid = [workgroups(r.get(f"Grid_Size_{d}"), r.get(f"Workgroup_Size_{d}")) for d in "XYZ"]
        block = [_int(r.get(f"Workgroup_Size_{d}")) for d in "XYZ"]
        yield Event(ph="X", cat="kernel", name=r.get("Kernel_Name") or "", pid=device, tid=stream, ts=ts, dur=dur,
                    args=Args(device=device, stream=stream, correlation=_int(r.get("Correlation_Id")),
                              grid=grid if None not in grid else None, block=block if None not in block else None,
                              registers=_int(r.get("VGPR_Count")), shared_memory=_int(r.get("LDS_Block_Size"))))


def _api_calls(path: Path, notes: List[str]) -> Iterator[Event]:
    for r in _rows(path, notes):
        ts, dur = _times(r.get("Start_Timestamp"), r.get("End_Timestamp"))
        yield Event(ph="X", cat="hip_runtime", name=r.get("Function") or "", pid=_int(r.get("Process_Id")),
                    tid=_int(r.get("Thread_Id")), ts=ts, dur=dur, args=Args(correlation=_int(r.get("Correlation_Id"))))


def _copies(path: Path, agents: _Agents, notes: List[str]) -> Iterator[Event]:
    for r in _rows(path, notes):
        ts, dur = _times(r.get("Start_Timestamp"), r.get("End_Timestamp"))
        direction = str(r.get("Direction") or "").upper()
        kind = next((short for long_, short in DIRECTIONS.items() if long_ in direction), "Unknown")
        src, dst = agents.device(r.get("Source_Agent_Id")), agents.device(r.get("Destination_Agent_Id"))
        device = dst if kind == "HtoD" or src is None else src
        stream = _int(r.get("Stream_Id"))
        size = next((_int(r.get(k)) for k in ("Bytes", "Size", "Copy_Bytes") if _int(r.get(k)) is not None), None)
        yield Event(ph="X", cat="gpu_memcpy", name=f"Memcpy {kind}", pid=device, tid=stream, ts=ts, dur=dur,
                    args=Args(device=device, stream=stream, correlation=_int(r.get("Correlation_Id")),
                              bytes=float(size) if size is not None and size >= 0 else None))


def _markers(path: Path, notes: List[str]) -> Iterator[Event]:
    for r in _rows(path, notes):
        ts, dur = _times(r.get("Start_Timestamp"), r.get("End_Timestamp"))
        if dur is None or dur <= 0:
            continue  # a mark, or a call without a range
        yield Event(ph="X", cat="user_annotation", name=r.get("Function") or "", pid=_int(r.get("Process_Id")),
                    tid=_int(r.get("Thread_Id")), ts=ts, dur=dur, args=EMPTY_ARGS)


def feed(sources: List[Iterator[Event]], on_batch: Callable[[List[Event], int], None],
         count: Optional[Dict[str, int]] = None) -> int:
    """Hand the events of ``sources``, one after the other, to ``on_batch(events, done)`` in batches of up to
    65,536 (``done``: events so far); ``count``, when given, counts them by category. Returns the events fed."""
    done = 0
    for source in sources:
        batch: List[Event] = []
        for event in source:
            if count is not None:
                count[event.cat] = count.get(event.cat, 0) + 1
            batch.append(event)
            if len(batch) == _BATCH:
                done += len(batch)
                on_batch(batch, done)
                batch = []
        if batch:
            done += len(batch)
            on_batch(batch, done)
    return done


def read_rocprof(path: Path, on_batch: Callable[[List[Event], int], None]) -> Dict[str, Any]:
    """Hand the events of a rocprofv3 run (its kernel trace ``path`` and the files beside it with the same
    prefix) to ``on_batch(events, rows)``, a batch at a time (``rows``: events so far, the total being
    unknown before the end); returns the metadata (``deviceProperties``, ``reader_notes``, and
    ``launch_calls_absent`` where no HIP call was read: the notes then say why host waits are unknown).

    Raises :class:`TraceError` (one line) for a kernel trace that is not rocprofv3's; a file beside it that cannot
    be read is left out with a note."""
    header = _header(path)
    if header is not None and not set(NEEDS["kernels"]) <= set(header):
        raise TraceError("a CSV file without rocprofv3's kernel trace columns (" + ", ".join(NEEDS["kernels"]) + ")")
    notes = ["a rocprofv3 trace: no PyTorch operators or input shapes, so bytes of kernels are unknown"]
    found = {what: _companion(path, what, notes) for what in ("agents", "api", "markers", "copies")}
    usable = {what: p for what, (p, _) in found.items()}
    agents = _Agents(usable["agents"], notes)
    sources = [_kernels(path, agents, notes)]
    if usable["api"] is not None:
        sources.append(_api_calls(usable["api"], notes))
    if usable["markers"] is not None:
        sources.append(_markers(usable["markers"], notes))
    if usable["copies"] is not None:
        sources.append(_copies(usable["copies"], agents, notes))
    counts: Dict[str, int] = {}
    feed(sources, on_batch, counts)
    for what in ("api", "copies"):
        if not found[what][1]:
            notes.append(f"no {SIBLINGS[what]} beside the kernel trace: {WITHOUT[what]}")
    if usable["api"] is not None and not counts.get("hip_runtime"):
        notes.append(f"{usable['api'].name} beside the kernel trace holds no calls: {WITHOUT['api']}")
    return {"deviceProperties": agents.properties(), "reader_notes": notes, "rocprofv3": True,
            "launch_calls_absent": not counts.get("hip_runtime")}
