"""Waiting for data: the ranges PyTorch's DataLoader records around each batch it hands out, and the GPU's idle
time inside them (times in us).

``torch.utils.data.DataLoader``'s iterators wrap each ``__next__`` in a profiler range named
``enumerate(DataLoader)#<iterator class>.__next__`` (``_SingleProcessDataLoaderIter`` when ``num_workers=0``: the
batch is loaded and collated on the training thread; ``_MultiProcessingDataLoaderIter`` with workers: the range
is the wait for the next ready batch); DataPipes' iterators do the same with ``enumerate(DataPipe)#...``. While the
host is inside one it launches nothing, so GPU idle time inside these ranges is time the GPU waited for data.

:func:`loader_summary` gives ``data_loader_fetches`` (the ranges), ``data_loader_us`` (the host's time in them,
overlapping ranges once), ``data_loader_gpu_idle_us`` (the time inside them that no GPU activity ran on any device;
None for a trace without GPU activity) and ``data_loader_iterators`` (the iterator classes, by time).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Dict

from .ops import op_intervals
from .timeline import gpu_busy, idle_inside, union_length
from .trace import Trace

#: The range a DataLoader's (or DataPipe's) iterator records around each ``__next__``; group 1 names the iterator.
LOADER_RANGE = re.compile(r"^enumerate\((?:DataLoader|DataPipe)\)#([^.]+)\.__next__$")
#: The summary's figures (:func:`loader_summary`), None where the trace holds no CPU ops.
SUMMARY_KEYS = ("data_loader_fetches", "data_loader_us", "data_loader_gpu_idle_us", "data_loader_iterators")


def loader_ranges(trace: Trace) -> Dict[str, Any]:
    """The DataLoader's fetch ranges: ``start``, ``end`` (us) and ``iterator`` (each one's iterator class); None for
    a trace without CPU ops (the ranges would not show)."""
    if not len(trace.ops):
        return {"start": None, "end": None, "iterator": None}
    rows, start, end = op_intervals(trace, LOADER_RANGE.match)
    names = (LOADER_RANGE.match(str(trace.ops.name[r])) for r in rows.tolist())
    return {"start": start, "end": end, "iterator": [m.group(1) if m else "" for m in names]}


def loader_summary(trace: Trace, ranges: Dict[str, Any]) -> Dict[str, Any]:
    """The DataLoader's fetch ``ranges`` (:func:`loader_ranges`) and the GPU's idle time inside them (see the
    module's description); every figure None for a trace without CPU ops, zero for one whose ops hold none."""
    start, end = ranges["start"], ranges["end"]
    if start is None:
        return dict.fromkeys(SUMMARY_KEYS)
    gpu_known = len(trace.gpu) > 0
    if not len(start):
        return {"data_loader_fetches": 0, "data_loader_us": 0.0, "data_loader_gpu_idle_us": 0.0 if gpu_known else None,
                "data_loader_iterators": None}
    host_us = union_length(start, end)[0]
    idle = idle_inside(*gpu_busy(trace), start, end) if gpu_known else None  # inside the GPU window only
    by_class: Counter = Counter()
    for name, s, e in zip(ranges["iterator"], start.tolist(), end.tolist()):
        by_class[name] += e - s
    return {"data_loader_fetches": int(len(start)), "data_loader_us": float(host_us), "data_loader_gpu_idle_us": idle,
            "data_loader_iterators": ", ".join(name for name, _ in by_class.most_common()) or None}
