"""The host side: CUDA API calls, NVTX ranges, and the PyTorch operators ``emit_nvtx`` writes as ranges (each
CUDA call linked to the innermost operator open on its thread)."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..parse import EMPTY_ARGS, Args, Event
from .export import Correlations, Export, thread_of, times

#: NVTX range event types (``ENUM_NSYS_EVENT_TYPE``): push/pop ranges (which nest on their thread) and
#: start/end ranges.
NVTX_PUSH_POP = 59


NVTX_RANGE_TYPES = (NVTX_PUSH_POP, 60)


#: ``eventClass`` of the runtime table (``ENUM_NSYS_EVENT_CLASS``) that marks driver API calls.
DRIVER_CLASS = 1


_VERSION_SUFFIX = re.compile(r"_v\d+$")


class Operators:
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
_EMIT_NVTX_SUFFIX = re.compile(r", (?:(?:stashed )?seq|op_id) ?= ?-?\d+|, sizes ?= ?\[|, input_op_ids ?= ?\[")


#: A sequence number of the autograd graph (``aten::mm, seq = 12``): the range is an operator. A backward
#: Function's range carries the sequence number its forward op had (PyTorch's documentation calls it
#: ``stashed seq``; torch 2.11 writes ``AddmmBackward0, seq = 72, op_id = 86``).
_SEQUENCE = re.compile(r", (stashed )?seq ?= ?(\d+)")
#: A backward Function's name (``MmBackward0``, ``torch::autograd::AccumulateGrad`` is not one).
_BACKWARD_NAME = re.compile(r"Backward\d*$")


#: An operator's qualified name (``aten::mm``, ``c10d::allreduce_``, ``mylib::op.overload``), or the autograd
#: engine's wrapper of a backward Function (``autograd::engine::evaluate_function: AddmmBackward0``), an
#: operator in Kineto's traces too.
_OP_NAME = re.compile(r"[A-Za-z_]\w*::[A-Za-z_][\w.]*$|autograd::engine::evaluate_function: ")


def nvtx_range_name(text: str) -> Tuple[str, bool]:
    """``(name, is_operator)`` of an NVTX range's text: emit_nvtx's suffixes dropped from the name; an
    operator when the name is qualified (``aten::mm``) or the range carries an autograd sequence number."""
    cut = _EMIT_NVTX_SUFFIX.search(text)
    name = text[:cut.start()] if cut else text
    return name, bool(_OP_NAME.match(name) or _SEQUENCE.search(text))


def nvtx_autograd(text: str) -> Tuple[Optional[int], bool]:
    """``(sequence number, is_backward)`` of an emit_nvtx range: the autograd sequence number it carries
    (``None`` without one), and whether it is a backward Function's (``stashed seq``, or a name ending in
    ``Backward<n>``), whose number is its forward op's."""
    m = _SEQUENCE.search(text)
    if m is None:
        return None, False
    cut = _EMIT_NVTX_SUFFIX.search(text)
    name = text[:cut.start()] if cut else text
    seq = int(m.group(2))
    return (seq if seq < 2**63 else None), bool(m.group(1)) or bool(_BACKWARD_NAME.search(name))


def api_calls(ex: Export, corr: Correlations, ops: Operators) -> Iterator[Event]:
    order = "[globalTid], [start]" if ops.ranges else ""  # a thread's calls in time order, to find their operators
    for r in ex.rows("CUPTI_ACTIVITY_KIND_RUNTIME", ("start", "end", "eventClass", "globalTid", "correlationId",
                                                      "nameId"), order=order):
        ts, dur = times(r["start"], r["end"])
        pid, tid = thread_of(r["globalTid"])
        name = _VERSION_SUFFIX.sub("", ex.string(r["nameId"]) or "")
        correlation = corr(r["correlationId"], r["globalTid"])
        op = ops.launcher(r["globalTid"], r["start"]) if ops.ranges else None
        if op is not None and correlation is not None:
            ops.launched[correlation] = op
        yield Event(ph="X", cat="cuda_driver" if r["eventClass"] == DRIVER_CLASS else "cuda_runtime", name=name,
                    pid=pid, tid=tid, ts=ts, dur=dur, args=Args(correlation=correlation, external_id=op))


def ranges(ex: Export, ops: Operators) -> Iterator[Event]:
    for r in ex.rows("NVTX_EVENTS", ("start", "end", "eventType", "text", "textId", "globalTid")):
        if r["eventType"] not in NVTX_RANGE_TYPES or r["end"] is None:
            continue
        ts, dur = times(r["start"], r["end"])
        pid, tid = thread_of(r["globalTid"])
        text = r["text"] if isinstance(r["text"], str) else ex.string(r["textId"]) or ""
        name, is_op = nvtx_range_name(text)
        if is_op and r["eventType"] == NVTX_PUSH_POP:
            op = ops.add(r["globalTid"], r["start"], r["end"])
            seq, backward = nvtx_autograd(text)
            yield Event(ph="X", cat="cpu_op", name=name, pid=pid, tid=tid, ts=ts, dur=dur,
                        args=Args(external_id=op, sequence_number=seq,
                                  fwd_thread_id=None if seq is None else 1 if backward else 0))
        else:
            yield Event(ph="X", cat="user_annotation", name=name, pid=pid, tid=tid, ts=ts, dur=dur, args=EMPTY_ARGS)
