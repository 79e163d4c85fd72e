"""An export read as a trace: every table's events handed to the builder batch by batch, with the metadata
(devices, sampled GPU metrics, notes); and the processes that ran GPU work."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..parse import Event
from ..source import TraceError
from .activities import copies_and_sets, device_properties, kernels, whole_graphs
from .export import ACTIVITY_TABLES, BATCH, DEVICE_TABLES, Correlations, Export
from .files import SQLITE_ERRORS, connect, database_file
from .metrics import gpu_metrics, metric_samples, metrics_window
from .nvtx import Operators, api_calls, ranges


def read_export(path: Path, on_batch: Callable[[List[Event], int], None],
                process: Optional[int] = None) -> Dict[str, Any]:
    """Hand the events of an Nsight Systems SQLite export to ``on_batch(events, rows)``, a batch (up to 65,536
    events) at a time, so that no more than one batch is held (``rows``: the rows of the tables read, for a
    progress bar); returns the metadata (``deviceProperties``, ``reader_notes``). ``process``: read only
    that pid's rows (its GPU work, API calls and NVTX ranges), as the trace of one rank.

    Raises :class:`TraceError` (one line) for a database that is not an Nsight Systems export, one without
    CUDA activity (of the process), or one SQLite cannot read."""
    with database_file(path) as db_path, contextlib.closing(connect(db_path)) as db:
        try:
            ex = Export(db)
            if "StringIds" not in ex.tables and not ex.tables.intersection(ACTIVITY_TABLES):
                raise TraceError("an SQLite database that is not an Nsight Systems export")
            if not ex.tables.intersection(ACTIVITY_TABLES):
                raise TraceError("an Nsight Systems export without CUDA activity (profile with `nsys profile "
                                 "--trace cuda`)")
            pids = ex.processes(ACTIVITY_TABLES + ("CUPTI_ACTIVITY_KIND_GRAPH_TRACE",))
            meta: Dict[str, Any] = {"deviceProperties": device_properties(ex), "reader_notes": []}
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
            window = metrics_window(ex)  # one pass over the activity tables for both readers
            meta["gpuMetrics"] = gpu_metrics(ex, window) if window is not None else {}
            meta["gpuMetricSamples"] = metric_samples(ex, window, meta["reader_notes"]) if window is not None else None
            corr = Correlations(pids if process is None else [process])
            ops = Operators()
            rows = sum(ex.count(t) for t in (*ACTIVITY_TABLES, "CUPTI_ACTIVITY_KIND_GRAPH_TRACE", "NVTX_EVENTS"))
            for source in (ranges(ex, ops), api_calls(ex, corr, ops), kernels(ex, corr, ops),
                           whole_graphs(ex, corr, ops), copies_and_sets(ex, corr, ops)):
                batch: List[Event] = []
                for event in source:
                    batch.append(event)
                    if len(batch) == BATCH:
                        on_batch(batch, rows)
                        batch = []
                if batch:
                    on_batch(batch, rows)
        except SQLITE_ERRORS as exc:
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
    with database_file(path) as db_path, contextlib.closing(connect(db_path)) as db:
        try:
            return Export(db).processes(DEVICE_TABLES)
        except SQLITE_ERRORS as exc:
            raise TraceError(f"SQLite cannot read it ({exc})") from None


def _pid_list(pids: Sequence[int], most: int = 8) -> str:
    return ", ".join(map(str, pids[:most])) + (", ..." if len(pids) > most else "")
