"""An open export (:class:`Export`): its tables and columns, rows read by name (only one process's when asked),
its string table; and the conversions every reader shares (CUPTI ns to us, ``globalTid`` to pid and tid,
correlation ids kept apart per process)."""

from __future__ import annotations

import sqlite3
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

#: The pid bits of a ``globalPid``/``globalTid`` (bits 24-47, shifted down).
PID_MASK = 0xFFFFFF


#: Tables whose rows name their process by thread (``globalTid``); the others by ``globalPid``.
PROCESS_COLUMN = {"CUPTI_ACTIVITY_KIND_RUNTIME": "globalTid", "NVTX_EVENTS": "globalTid"}


BATCH = 65536


#: Tables of which an export must have at least one to be read as a trace.
ACTIVITY_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                   "CUPTI_ACTIVITY_KIND_RUNTIME")


#: Tables of GPU work (what makes a process one that ran on a GPU, a rank of a distributed job).
DEVICE_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                 "CUPTI_ACTIVITY_KIND_GRAPH_TRACE")


class Export:
    """An open export: which tables and columns it has, and its string table."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        #: The pid whose rows are read (``None``: every process's).
        self.process: Optional[int] = None
        self.tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.strings: Dict[int, str] = {}
        if "StringIds" in self.tables:
            self.strings = {i: str(v) for i, v in db.execute("SELECT id, value FROM StringIds")
                            if isinstance(i, int)}  # a damaged row's id (NULL, text) names nothing

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
        where = self.where(table, have)
        if where is None:
            return
        if order and not all(c.strip(" []") in have for c in order.split(",")):
            order = ""  # a column to order by is missing: table order
        cursor = self.db.execute(f"SELECT {select} FROM [{table}]{where[0]}{f' ORDER BY {order}' if order else ''}",
                                 where[1])
        while True:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                return
            for row in batch:
                yield dict(zip(wanted, row))

    def where(self, table: str, have: set) -> Optional[Tuple[str, Tuple[int, ...]]]:
        """The WHERE clause (and its parameters) that keeps the process's rows of ``table``: empty when every
        process is read; ``None`` when the table names no process (its rows belong to none)."""
        if self.process is None:
            return "", ()
        column = PROCESS_COLUMN.get(table, "globalPid")
        if column not in have:
            return None
        return f" WHERE (([{column}] >> 24) & {PID_MASK}) = ?", (self.process,)

    def processes(self, tables: Sequence[str]) -> List[int]:
        """The pids (bits 24-47 of ``globalPid`` or ``globalTid``) that have rows in ``tables``, sorted."""
        pids: set = set()
        for table in tables:
            column = PROCESS_COLUMN.get(table, "globalPid")
            if table in self.tables and column in self.columns(table):
                found = self.db.execute(f"SELECT DISTINCT ([{column}] >> 24) & {PID_MASK} FROM [{table}] "
                                        f"WHERE typeof([{column}]) = 'integer'")
                pids.update(int(pid) for (pid,) in found)
        return sorted(pids)

    def without_process(self, tables: Sequence[str]) -> int:
        """Rows of ``tables`` whose process column is not an integer (no process to read them with)."""
        n = 0
        for table in tables:
            column = PROCESS_COLUMN.get(table, "globalPid")
            if table in self.tables and column in self.columns(table):
                n += int(self.db.execute(f"SELECT COUNT(*) FROM [{table}] WHERE typeof([{column}]) != 'integer'")
                         .fetchone()[0])
        return n

    def count(self, table: str) -> int:
        """Rows in ``table`` (0 when the export lacks it; the process's rows when it is read for one)."""
        where = self.where(table, set(self.columns(table))) if table in self.tables else None
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
                if int_or_none(i) is not None}


def times(start: Any, end: Any) -> Tuple[Optional[float], Optional[float]]:
    """(ts, dur) in us from CUPTI start/end in ns; ``None`` for a record without timestamps."""
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or (start == 0 and end == 0):
        return None, None
    return start / 1e3, (end - start) / 1e3


def thread_of(global_tid: Any) -> Tuple[Any, Any]:
    """(pid, tid) of an Nsight Systems ``globalTid`` (pid in bits 24-47, tid in bits 0-23)."""
    if not isinstance(global_tid, int):
        return None, None
    return (global_tid >> 24) & 0xFFFFFF, global_tid & 0xFFFFFF


def process_of(global_id: Any) -> Optional[int]:
    """The pid of an Nsight Systems ``globalPid`` or ``globalTid``."""
    return (global_id >> 24) & PID_MASK if isinstance(global_id, int) else None


class Correlations:
    """Correlation ids kept apart per process. CUPTI numbers them per process, so in an export of several
    processes (``nsys profile torchrun ...``) two processes' kernels can carry the same id: each process's ids
    are offset by its index times 2**32 (one process: the ids as recorded)."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._offset = {pid: i << 32 for i, pid in enumerate(pids)} if len(pids) > 1 else {}

    def __call__(self, correlation: Any, global_id: Any) -> Optional[int]:
        corr = int_or_none(correlation)
        if corr is None or not self._offset:
            return corr
        pid = process_of(global_id)
        return corr + (self._offset.get(pid, 0) if pid is not None else 0)


def int_or_none(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
