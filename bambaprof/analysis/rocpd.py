"""rocprofv3's rocpd database (its default output since ROCm 7.0, ``<pid>_results.db``: SQLite), read as a trace of
AMD GPUs, as :mod:`.rocprof` reads its CSV output.

rocpd writes each process's records into tables named with a per-run suffix (``rocpd_kernel_dispatch_<uuid>``)
and views without it (``rocpd_kernel_dispatch``) over them; a database merged from several runs holds several
suffixes. A relation is read through its view where there is one, else as the union of its suffixed tables.
Two layouts of the record tables are read, told apart by their columns: times (ns) in ``start``/``end`` and the
place (``pid``, ``tid``, ``agent_id``, ``queue_id``, ``stream_id``) on the record, or times in
``rocpd_timestamp`` (``start_id``/``end_id``) and the place on a ``rocpd_track`` (``track_id``). Each record
becomes the event a Kineto trace of ROCm would hold:

- ``rocpd_kernel_dispatch``: a ``kernel`` on (device, stream) with its correlation id (from ``rocpd_event``),
  its name (``rocpd_info_kernel_symbol``'s display name, else its kernel name), workgroup (``block``), grid in
  workgroups (rocpd gives work-items, as rocprofv3's CSV does), architected VGPRs (``registers``) and LDS bytes;
- ``rocpd_region`` of a HIP API category (``HIP_RUNTIME_API``, ...): ``hip_runtime`` calls on their thread,
  linked to the kernels and copies they launched by correlation id; of a marker category (roctx): a
  ``user_annotation`` range (a phase); other categories (HSA, RCCL API calls) are left out and counted;
- ``rocpd_memory_copy``: a ``gpu_memcpy`` named as Kineto names it (``Memcpy HtoD``), on the device that is
  not the host, with its bytes;
- ``rocpd_info_agent``: each GPU agent's properties (name, compute units, wavefront size, LDS from its
  ``extdata``), the device index being its ``type_index`` (its place among the GPUs).

Times are nanoseconds in the database and microseconds here. A record whose times do not read is left out and
counted. Like the CSV, rocpd records no PyTorch operators or shapes: bytes of kernels are unknown, and
occupancy too (the occupancy model is NVIDIA's).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .nsys.files import SQLITE_ERRORS, connect
from .parse import EMPTY_ARGS, Args, Event
from .rocprof import DIRECTIONS, feed, workgroups
from .source import TraceError

#: The parser backend a trace read from a rocpd database reports (``Trace.backend``).
BACKEND = "rocpd-sqlite"
_BATCH = 65536
#: The relations read, by their view names (each process's tables add ``_<uuid>``).
KERNELS, REGIONS, COPIES = "rocpd_kernel_dispatch", "rocpd_region", "rocpd_memory_copy"
_PLACE = ("pid", "tid", "agent_id", "queue_id", "stream_id")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _int(value: Any) -> Optional[int]:
    """An integer column's value, ``None`` when it is NULL, not an integer or beyond 64 bits."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if -2**63 <= v < 2**63 else None


def relations(db: sqlite3.Connection) -> Dict[str, str]:
    """The database's tables and views by name (``table`` or ``view``)."""
    return {str(n): str(t) for n, t in db.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')")}


def is_rocpd(path: Path) -> bool:
    """Whether the SQLite database ``path`` (a plain file) was written by rocpd: it has kernel dispatches or
    rocpd's metadata, as a view or per-process tables."""
    try:
        with contextlib.closing(connect(path)) as db:
            names = relations(db)
    except (TraceError, *SQLITE_ERRORS):
        return False
    return any(n == base or n.startswith(base + "_") for n in names for base in (KERNELS, "rocpd_metadata"))


class _Database:
    """An open rocpd database: each relation as SQL (its view, else the union of its suffixed tables), its
    columns, and the tables every record refers to (strings, agents, kernel symbols, tracks) loaded once, keyed
    by (guid, id) (guid ``None`` where the layout has none)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.names = relations(db)
        self.strings = {key: str(row[0]) for key, row in self._keyed("rocpd_string", ("string",))}
        self.tracks = dict(self._keyed("rocpd_track", _PLACE))
        self.symbols = dict(self._keyed("rocpd_info_kernel_symbol", ("display_name", "kernel_name",
                                                                     "arch_vgpr_count", "group_segment_size")))
        self.agents = dict(self._keyed("rocpd_info_agent", ("type", "type_index", "absolute_index", "name",
                                                            "model_name", "product_name", "extdata")))
        gpus = sorted(((k, a) for k, a in self.agents.items() if str(a[0] or "").upper() == "GPU"),
                      key=lambda ka: (_int(ka[1][2]) if _int(ka[1][2]) is not None else 1 << 62, str(ka[0])))
        #: The device index of each GPU agent: its type index, else its place among the GPUs.
        self.device_of: Dict[tuple, int] = {}
        for place, (key, agent) in enumerate(gpus):
            index = _int(agent[1])
            self.device_of[key] = index if index is not None and index >= 0 else place
        self.gpus = gpus

    def _parts(self, name: str) -> List[str]:
        """What relation ``name`` is read from: its view or table, else its per-run tables (``name_<uuid>``)."""
        if name in self.names:
            return [name]
        return sorted(n for n, kind in self.names.items() if kind == "table" and n.startswith(name + "_"))

    def relation(self, name: str) -> Optional[str]:
        """SQL naming relation ``name``: its view or table, else the union of its per-run tables."""
        parts = self._parts(name)
        if len(parts) < 2:
            return _quote(parts[0]) if parts else None
        return "(" + " UNION ALL ".join(f"SELECT * FROM {_quote(p)}" for p in parts) + ")"

    def columns(self, name: str) -> set:
        """The columns of relation ``name`` (of its first per-run table where it has no view)."""
        parts = self._parts(name)
        if not parts:
            return set()
        return {str(r[1]) for r in self.db.execute(f"PRAGMA table_info({_quote(parts[0])})")}

    def _keyed(self, name: str, wanted: Tuple[str, ...]) -> Iterator[Tuple[tuple, tuple]]:
        rel, have = self.relation(name), self.columns(name)
        if rel is None or "id" not in have:
            return
        select = ", ".join(_quote(c) if c in have else "NULL" for c in ("guid", "id", *wanted))
        for row in self.db.execute(f"SELECT {select} FROM {rel}"):
            yield (row[0], row[1]), tuple(row[2:])

    def records(self, name: str, extra: Tuple[str, ...]) -> Iterator[Dict[str, Any]]:
        """The rows of record relation ``name`` as dicts: ``start`` and ``end`` (ns, from the row or its
        timestamps), the place (:data:`_PLACE`, from the row or its track), ``correlation`` and ``category``
        (from its event), ``guid``, and the ``extra`` columns (``None`` where missing)."""
        rel, have = self.relation(name), self.columns(name)
        if rel is None:
            return
        select = [f"R.{_quote(c)} AS {_quote(c)}" if c in have else f"NULL AS {_quote(c)}"
                  for c in ("guid", "track_id", *_PLACE, *extra)]
        joins = []

        def same_guid(alias: str, other: str) -> str:
            return f" AND {alias}.guid = R.guid" if "guid" in have and "guid" in self.columns(other) else ""

        if {"start", "end"} <= have:
            select += ['R."start" AS "start"', 'R."end" AS "end"']
        elif {"start_id", "end_id"} <= have and self.relation("rocpd_timestamp") is not None:
            ts = self.relation("rocpd_timestamp")
            for alias, column in (("DS", "start_id"), ("DE", "end_id")):
                joins.append(f" LEFT JOIN {ts} {alias} ON {alias}.id = R.{column}{same_guid(alias, 'rocpd_timestamp')}")
            select += ['DS.value AS "start"', 'DE.value AS "end"']
        else:
            select += ['NULL AS "start"', 'NULL AS "end"']
        event = self.relation("rocpd_event")
        event_cols = self.columns("rocpd_event")
        if "event_id" in have and event is not None:
            joins.append(f" LEFT JOIN {event} E ON E.id = R.event_id{same_guid('E', 'rocpd_event')}")
            select.append('E.correlation_id AS "correlation"' if "correlation_id" in event_cols else 'NULL AS "correlation"')
            select.append('E.category_id AS "category_id"' if "category_id" in event_cols else 'NULL AS "category_id"')
        else:
            select.append('R.correlation_id AS "correlation"' if "correlation_id" in have else 'NULL AS "correlation"')
            select.append('NULL AS "category_id"')
        cursor = self.db.execute(f"SELECT {', '.join(select)} FROM {rel} R{''.join(joins)}")
        keys = [d[0] for d in cursor.description]
        while True:
            batch = cursor.fetchmany(_BATCH)
            if not batch:
                return
            for values in batch:
                row = dict(zip(keys, values))
                track = self.tracks.get((row["guid"], row["track_id"]))
                if track is not None:
                    for i, column in enumerate(_PLACE):
                        if row[column] is None:
                            row[column] = track[i]
                row["category"] = self.strings.get((row["guid"], row.pop("category_id")))
                yield row

    def device(self, guid: Any, agent: Any) -> Optional[int]:
        """The device index of an agent id (``None`` for a CPU or an unknown agent)."""
        return self.device_of.get((guid, agent))

    def is_cpu(self, guid: Any, agent: Any) -> bool:
        found = self.agents.get((guid, agent))
        return found is not None and str(found[0] or "").upper() == "CPU"

    def properties(self) -> List[Dict[str, Any]]:
        """The GPU agents as Kineto's ``deviceProperties`` (what the database says; the rest unknown)."""
        out = []
        for key, (_, _, _, name, model, product, extdata) in self.gpus:
            try:
                ext = json.loads(extdata) if isinstance(extdata, (str, bytes)) else {}
            except ValueError:
                ext = {}
            ext = ext if isinstance(ext, dict) else {}
            lds = _int(ext.get("lds_size_in_kb"))
            props = {"id": self.device_of[key], "name": str(product or model or name or "").strip() or None,
                     "numSms": _int(ext.get("cu_count")), "warpSize": _int(ext.get("wave_front_size")),
                     "maxThreadsPerBlock": _int(ext.get("workgroup_max_size")),
                     "sharedMemPerBlock": lds * 1024 if lds is not None else None,
                     "gfxTarget": str(name).strip() if name else None}
            out.append({k: v for k, v in props.items() if v is not None})
        return out


def _times(row: Dict[str, Any]) -> Tuple[Optional[float], Optional[float]]:
    s, e = _int(row["start"]), _int(row["end"])
    if s is None or e is None:
        return None, None
    return s / 1e3, (e - s) / 1e3


def _stream(row: Dict[str, Any]) -> Optional[int]:
    stream = _int(row["stream_id"])
    return stream if stream is not None else _int(row["queue_id"])


def _kernels(db: _Database) -> Iterator[Event]:
    for r in db.records(KERNELS, ("kernel_id", "grid_size_x", "grid_size_y", "grid_size_z", "workgroup_size_x",
                                  "workgroup_size_y", "workgroup_size_z", "group_segment_size")):
        ts, dur = _times(r)
        device, stream = db.device(r["guid"], r["agent_id"]), _stream(r)
        symbol = db.symbols.get((r["guid"], r["kernel_id"]))
        name = str((symbol[0] or symbol[1]) if symbol else "") or f"kernel {r['kernel_id']}"
        grid = [workgroups(r[f"grid_size_{d}"], r[f"workgroup_size_{d}"]) for d in "xyz"]
        block = [_int(r[f"workgroup_size_{d}"]) for d in "xyz"]
        lds = _int(r["group_segment_size"])
        if lds is None and symbol:
            lds = _int(symbol[3])
        yield Event(ph="X", cat="kernel", name=name, pid=device, tid=stream, ts=ts, dur=dur,
                    args=Args(device=device, stream=stream, correlation=_int(r["correlation"]),
                              grid=grid if None not in grid else None, block=block if None not in block else None,
                              registers=_int(symbol[2]) if symbol else None, shared_memory=lds))


def _region_kind(category: Optional[str], name: str) -> Optional[str]:
    """What a region is: ``hip_runtime`` (a HIP API call), ``user_annotation`` (a roctx range) or ``None``
    (another API's call: HSA, RCCL, ...); by its category, else (no events table) by its name."""
    if category:
        upper = category.upper()
        return "hip_runtime" if upper.startswith("HIP_") else "user_annotation" if upper.startswith("MARKER_") else None
    lower = name.lower()
    return "hip_runtime" if lower.startswith("hip") else None if lower.startswith(("hsa", "nccl", "rccl")) \
        else "user_annotation"


def _regions(db: _Database, skipped: Dict[str, int]) -> Iterator[Event]:
    for r in db.records(REGIONS, ("name_id",)):
        name = db.strings.get((r["guid"], r["name_id"]), "")
        kind = _region_kind(r["category"], name)
        ts, dur = _times(r)
        if kind is None:
            skipped[r["category"] or "unknown"] = skipped.get(r["category"] or "unknown", 0) + 1
            continue
        if kind == "user_annotation" and (dur is None or dur <= 0):
            continue  # a mark, not a range
        yield Event(ph="X", cat=kind, name=name, pid=_int(r["pid"]), tid=_int(r["tid"]), ts=ts, dur=dur,
                    args=Args(correlation=_int(r["correlation"])) if kind == "hip_runtime" else EMPTY_ARGS)


def _copies(db: _Database) -> Iterator[Event]:
    for r in db.records(COPIES, ("name_id", "size", "src_agent_id", "dst_agent_id")):
        ts, dur = _times(r)
        label = db.strings.get((r["guid"], r["name_id"]), "").upper()
        src, dst = db.device(r["guid"], r["src_agent_id"]), db.device(r["guid"], r["dst_agent_id"])
        kind = next((short for long_, short in DIRECTIONS.items() if long_ in label), None)
        if kind is None:  # the name does not say: the agents do
            src_cpu, dst_cpu = db.is_cpu(r["guid"], r["src_agent_id"]), db.is_cpu(r["guid"], r["dst_agent_id"])
            kind = {(True, False): "HtoD", (False, True): "DtoH", (True, True): "HtoH"}.get((src_cpu, dst_cpu)) \
                or ("DtoD" if src is not None and dst is not None else "Unknown")
        device = dst if kind == "HtoD" or src is None else src
        stream, size = _stream(r), _int(r["size"])
        yield Event(ph="X", cat="gpu_memcpy", name=f"Memcpy {kind}", pid=device, tid=stream, ts=ts, dur=dur,
                    args=Args(device=device, stream=stream, correlation=_int(r["correlation"]),
                              bytes=float(size) if size is not None and size >= 0 else None))


def read_rocpd(path: Path, on_batch: Callable[[List[Event], int], None]) -> Dict[str, Any]:
    """Hand the events of a rocpd database ``path`` (a plain SQLite file) to ``on_batch(events, rows)``, a batch
    at a time (``rows``: events so far); returns the metadata (``deviceProperties``, ``reader_notes``).

    Raises :class:`TraceError` (one line) for a database without kernel dispatches or one SQLite cannot read."""
    with contextlib.closing(connect(path)) as conn:
        try:
            db = _Database(conn)
            if db.relation(KERNELS) is None:
                raise TraceError("a rocpd database without kernel dispatches (profile with rocprofv3 --kernel-trace)")
            skipped: Dict[str, int] = {}
            counts = {"kernel": 0, "hip_runtime": 0, "gpu_memcpy": 0}
            feed([_kernels(db), _regions(db, skipped), _copies(db)], on_batch, counts)
            processes = db.relation("rocpd_info_process")
            n_processes = db.db.execute(f"SELECT COUNT(*) FROM {processes}").fetchone()[0] if processes else 0
        except SQLITE_ERRORS as exc:
            raise TraceError(f"SQLite cannot read it ({exc})") from None
    notes = ["a rocprofv3 database (rocpd): no PyTorch operators or input shapes, so bytes of kernels are unknown"]
    if not counts["hip_runtime"]:
        notes.append("no HIP API calls in the database: launch overhead and host waits are unknown (rocprofv3 "
                     "--hip-trace records them)")
    if not counts["gpu_memcpy"]:
        notes.append("no memory copies in the database: copies are not in the timeline (rocprofv3 "
                     "--memory-copy-trace records them)")
    if skipped:
        notes.append("API calls other than HIP's left out: " + ", ".join(
            f"{n:,} {category}" for category, n in sorted(skipped.items(), key=lambda kv: -kv[1])))
    if n_processes > 1:
        notes.append(f"{n_processes} processes in one database: their activity is combined")
    return {"deviceProperties": db.properties(), "reader_notes": notes, "rocprofv3": True,
            "launch_calls_absent": not counts["hip_runtime"]}
