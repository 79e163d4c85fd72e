"""rocprofv3's JSON output (``rocprofv3 --kernel-trace --hip-trace --memory-copy-trace --output-format json``:
``<prefix>results.json``), read as a trace of AMD GPUs, as its CSV output is (:mod:`.rocprof`).

The file is one object, ``{"rocprofiler-sdk-tool": [...]}``, holding an object per profiled process (or that
object alone). Of each process:

- ``buffer_records.kernel_dispatch``: a ``kernel`` per record on (device, queue), from its ``dispatch_info``: the
  kernel's name by ``kernel_id`` in ``kernel_symbols`` (its ``formatted_kernel_name``, else the demangled or raw
  name; a list of symbols, or an object keyed by id), the grid in workgroups (``grid_size`` is in work-items, as
  in the CSV), the workgroup (``block``), the kernel's VGPRs (``arch_vgpr_count``) and LDS (``group_segment_size``)
  and the internal correlation id;
- ``buffer_records.hip_api``: ``hip_runtime`` calls on their thread, named by ``strings.buffer_records`` (the
  record's ``kind`` and ``operation`` index the names rocprofv3 writes there), linked to what they launched by
  the internal correlation id;
- ``buffer_records.memory_copy``: ``gpu_memcpy`` events with their bytes, their direction from the source and
  destination agents' types (CPU or GPU);
- ``buffer_records.marker_api``: roctx ranges (their text from ``strings.marker_api``) as ``user_annotation``
  ranges;
- ``agents``: the GPU agents (type 2), ordered by node id, as devices: name, compute units, wavefront size, LDS.

Times are nanoseconds in the file and microseconds here. Records whose times do not read are left out and
counted; a process without kernel dispatches adds nothing. Several processes are read as one trace (each with
its own devices' agents), as ``--process all`` reads an Nsight Systems export. Like the CSV, the JSON records no
PyTorch operators or shapes: bytes of a kernel are unknown, and occupancy too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import msgspec

from .parse import EMPTY_ARGS, Args, Event
from .rocprof import JSON_BACKEND, feed, workgroups
from .source import TraceError, first_json_key, read_bytes

#: The parser backend a trace read from rocprofv3's JSON output reports (``Trace.backend``).
BACKEND = JSON_BACKEND
#: The key rocprofv3's JSON output starts with.
TOOL_KEY = "rocprofiler-sdk-tool"
_GPU, _CPU = 2, 1  # rocprofiler_agent_type_t


def is_rocprof_json(path: Path) -> bool:
    """Whether ``path`` (packed as a trace may be, or not) is rocprofv3's JSON output: an object whose first key
    is ``rocprofiler-sdk-tool``. Reads the first bytes only."""
    return first_json_key(path) == TOOL_KEY


def _int(value: Any) -> Optional[int]:
    """An integer field (a JSON number, or a handle ``{"handle": n}``), or None."""
    if isinstance(value, dict):
        value = value.get("handle")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -2**63 <= value < 2**63 else None


def _times(record: Dict[str, Any]) -> Tuple[Optional[float], Optional[float]]:
    s, e = _int(record.get("start_timestamp")), _int(record.get("end_timestamp"))
    if s is None or e is None:
        return None, None
    return s / 1e3, (e - s) / 1e3


def _records(process: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    records = process.get("buffer_records")
    found = records.get(kind) if isinstance(records, dict) else None
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


class _Process:
    """What one process's records are read against: its agents, kernel symbols and name tables."""

    def __init__(self, process: Dict[str, Any], first_device: int) -> None:
        agents = [a for a in _list(process.get("agents")) if isinstance(a, dict)]
        self.types = {_int(a.get("id")): _int(a.get("type")) for a in agents}
        gpus = sorted((a for a in agents if _int(a.get("type")) == _GPU), key=lambda a: _int(a.get("node_id")) or 0)
        self.gpus = gpus
        self.device = {_int(a.get("id")): first_device + i for i, a in enumerate(gpus)}
        symbols = process.get("kernel_symbols")
        if isinstance(symbols, dict):
            symbols = [{**v, "kernel_id": _int(v.get("kernel_id")) if "kernel_id" in v else _key(k)}
                       for k, v in symbols.items() if isinstance(v, dict)]
        self.symbols = {_int(s.get("kernel_id")): s for s in _list(symbols) if isinstance(s, dict)}
        strings = process.get("strings") if isinstance(process.get("strings"), dict) else {}
        kinds = strings.get("buffer_records")
        self.operations: Dict[int, List[Any]] = {}
        for i, k in enumerate(_list(kinds)):
            if isinstance(k, dict) and isinstance(k.get("operations"), list):
                self.operations[i] = k["operations"]
        markers = strings.get("marker_api")
        self.messages = {_int(m.get("key")): m.get("value") for m in _list(markers) if isinstance(m, dict)}
        meta = process.get("metadata") if isinstance(process.get("metadata"), dict) else {}
        self.pid = _int(meta.get("pid"))

    def kernel_name(self, kernel_id: Optional[int]) -> str:
        s = self.symbols.get(kernel_id) or {}
        for key in ("formatted_kernel_name", "demangled_kernel_name", "truncated_kernel_name", "kernel_name"):
            name = s.get(key)
            if isinstance(name, str) and name:
                return name[:-3] if name.endswith(".kd") else name
        return f"kernel {kernel_id}" if kernel_id is not None else "unknown kernel"

    def operation(self, record: Dict[str, Any]) -> str:
        kind, op = _int(record.get("kind")), _int(record.get("operation"))
        names = self.operations.get(kind) if kind is not None else None
        if names is not None and op is not None and 0 <= op < len(names) and isinstance(names[op], str):
            return names[op]
        return f"operation {op}" if op is not None else "unknown call"

    def properties(self) -> List[Dict[str, Any]]:
        out = []
        for a in self.gpus:
            lds = _int(a.get("lds_size_in_kb"))
            name = next((a.get(k) for k in ("product_name", "model_name", "name")
                         if isinstance(a.get(k), str) and a.get(k)), None)
            props = {"id": self.device[_int(a.get("id"))], "name": name, "numSms": _int(a.get("cu_count")),
                     "warpSize": _int(a.get("wave_front_size")), "maxThreadsPerBlock": _int(a.get("workgroup_max_size")),
                     "sharedMemPerBlock": lds * 1024 if lds is not None else None,
                     "gfxTarget": a.get("name") if isinstance(a.get("name"), str) else None}
            out.append({k: v for k, v in props.items() if v is not None})
        return out


def _list(value: Any) -> List[Any]:
    """``value`` where it is a list, else an empty one (a field of another type says nothing)."""
    return value if isinstance(value, list) else []


def _key(text: Any) -> Optional[int]:
    try:
        return int(str(text))
    except ValueError:
        return None


def _dims(value: Any) -> List[Optional[int]]:
    return [_int(value.get(d)) if isinstance(value, dict) else None for d in "xyz"]


def _kernels(p: _Process, process: Dict[str, Any]) -> Iterator[Event]:
    for r in _records(process, "kernel_dispatch"):
        info = r.get("dispatch_info") if isinstance(r.get("dispatch_info"), dict) else {}
        ts, dur = _times(r)
        kernel_id = _int(info.get("kernel_id"))
        device = p.device.get(_int(info.get("agent_id")))
        stream = _int(info.get("queue_id"))
        size, group = _dims(info.get("grid_size")), _dims(info.get("workgroup_size"))
        grid = [workgroups(g, w) for g, w in zip(size, group)]
        symbol = p.symbols.get(kernel_id) or {}
        lds = _int(info.get("group_segment_size"))
        yield Event(ph="X", cat="kernel", name=p.kernel_name(kernel_id), pid=device, tid=stream, ts=ts, dur=dur,
                    args=Args(device=device, stream=stream, correlation=_correlation(r),
                              grid=grid if None not in grid else None, block=group if None not in group else None,
                              registers=_int(symbol.get("arch_vgpr_count")),
                              shared_memory=lds if lds is not None else _int(symbol.get("group_segment_size"))))


def _correlation(record: Dict[str, Any]) -> Optional[int]:
    c = record.get("correlation_id")
    return _int(c.get("internal")) if isinstance(c, dict) else _int(c)


def _api_calls(p: _Process, process: Dict[str, Any]) -> Iterator[Event]:
    for r in _records(process, "hip_api"):
        ts, dur = _times(r)
        yield Event(ph="X", cat="hip_runtime", name=p.operation(r), pid=p.pid, tid=_int(r.get("thread_id")), ts=ts,
                    dur=dur, args=Args(correlation=_correlation(r)))


def _copies(p: _Process, process: Dict[str, Any]) -> Iterator[Event]:
    for r in _records(process, "memory_copy"):
        ts, dur = _times(r)
        src, dst = _int(r.get("src_agent_id")), _int(r.get("dst_agent_id"))
        kinds = (p.types.get(src), p.types.get(dst))
        kind = {(_CPU, _GPU): "HtoD", (_GPU, _CPU): "DtoH", (_GPU, _GPU): "DtoD", (_CPU, _CPU): "HtoH"}.get(
            kinds, "Unknown")
        device = p.device.get(dst) if kind == "HtoD" else p.device.get(src)
        if device is None:
            device = p.device.get(dst)
        size = _int(r.get("bytes"))
        yield Event(ph="X", cat="gpu_memcpy", name=f"Memcpy {kind}", pid=device, tid=_int(r.get("queue_id")), ts=ts,
                    dur=dur, args=Args(device=device, correlation=_correlation(r),
                                       bytes=float(size) if size is not None and size >= 0 else None))


def _markers(p: _Process, process: Dict[str, Any]) -> Iterator[Event]:
    for r in _records(process, "marker_api"):
        ts, dur = _times(r)
        if dur is None or dur <= 0:
            continue  # a mark, or a call without a range
        text = p.messages.get(_correlation(r))
        name = text if isinstance(text, str) and text else p.operation(r)
        yield Event(ph="X", cat="user_annotation", name=name, pid=p.pid, tid=_int(r.get("thread_id")), ts=ts,
                    dur=dur, args=EMPTY_ARGS)


def read_rocprof_json(path: Path, on_batch: Callable[[List[Event], int], None]) -> Dict[str, Any]:
    """Hand the events of a rocprofv3 JSON output to ``on_batch(events, done)`` a batch at a time; returns the
    metadata (``deviceProperties``, ``reader_notes``, ``launch_calls_absent`` where no HIP call was read).

    Raises :class:`TraceError` (one line) for a file that does not read as rocprofv3's JSON."""
    try:
        doc = msgspec.json.decode(read_bytes(path))
    except (msgspec.DecodeError, RecursionError) as exc:
        raise TraceError(f"not a readable rocprofv3 JSON output ({str(exc).splitlines()[0][:200]})") from None
    tool = doc.get(TOOL_KEY) if isinstance(doc, dict) else None
    processes = [tool] if isinstance(tool, dict) else [p for p in _list(tool) if isinstance(p, dict)]
    if not processes:
        raise TraceError(f"a rocprofv3 JSON output without a process ({TOOL_KEY!r} holds no object)")
    notes = ["a rocprofv3 trace (JSON): no PyTorch operators or input shapes, so bytes of kernels are unknown"]
    sources: List[Iterator[Event]] = []
    props: List[Dict[str, Any]] = []
    for process in processes:
        p = _Process(process, len(props))
        props += p.properties()
        sources += [_kernels(p, process), _api_calls(p, process), _markers(p, process), _copies(p, process)]
    counts: Dict[str, int] = {}
    feed(sources, on_batch, counts)
    if len(processes) > 1:
        notes.append(f"{len(processes)} processes read as one trace (their GPUs numbered one after the other)")
    if not counts.get("hip_runtime"):
        notes.append("no HIP calls in the output: launch overhead and host waits are unknown (rocprofv3 --hip-trace "
                     "records the calls)")
    if not counts.get("gpu_memcpy"):
        notes.append("no memory copies in the output: copies are not in the timeline (rocprofv3 --memory-copy-trace "
                     "records them)")
    return {"deviceProperties": props, "reader_notes": notes, "rocprofv3": True,
            "launch_calls_absent": not counts.get("hip_runtime")}
