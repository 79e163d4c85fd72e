"""Gradient synchronisation per optimizer step under gradient accumulation (times in us).

DistributedDataParallel (and FSDP) reduce every parameter's gradient across ranks at the end of each backward
pass. With gradient accumulation (several micro-batches, one optimizer step), only the reduction before the step
is needed: the ones of the earlier micro-batches move the same bytes for nothing, unless they run inside
``model.no_sync()``.

The trace shows it: each micro-batch's forward is a ``DistributedDataParallel.forward`` (or
``FullyShardedDataParallel.forward``) range (:data:`WRAPPER_FORWARDS`); each gradient reduction a collective call
(:data:`GRADIENT_COLLECTIVES`: the ``c10d::allreduce_``/``reduce_scatter`` ops, else a backend's own range,
``nccl:all_reduce``, ``gloo:all_reduce``) run inside the backward pass, under one of autograd's
``autograd::engine::evaluate_function:`` ranges (DDP's hooks fire as each gradient is accumulated: a reduction in
the forward, as SyncBatchNorm's, is not a gradient's); each step an ``Optimizer.step#<class>.step`` range. The forwards cut the
trace into micro-batches (one forward to the next, the last to the trace's end); a micro-batch holding a reduction
and no optimizer step reduced gradients the step after it reduces again.

:func:`grad_sync_summary` gives ``wrapped_forwards`` (the forward ranges), ``grad_sync_steps`` (optimizer steps),
``grad_sync_microbatches`` (micro-batches with a reduction), ``grad_sync_unneeded`` (of those, the ones with no
optimizer step) and ``grad_sync_unneeded_us``: the time of their reductions: on a GPU the collective kernels they
launched (by the micro-batch their call started in; where no kernel carries its call, by their own start; no
collective kernel: None, as for one rank, whose NCCL launches none), on the host the backend's own ranges that did
the work (``gloo:all_reduce``: it lasts until every rank has joined), else the collective calls' own time;
``grad_sync_wrapper`` names the wrapper. Every
figure None without CPU ops (the ranges could not show), and the counts 0 where no wrapped forward ran.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

import numpy as np

from .autograd import EVALUATE_FUNCTION
from .comms import collective_rows
from .ops import nearest_marked, op_intervals, op_parents
from .trace import Trace, value_codes

#: The forward ranges of the data-parallel wrappers whose backward reduces gradients.
WRAPPER_FORWARDS = {"DistributedDataParallel.forward": "DistributedDataParallel",
                    "FullyShardedDataParallel.forward": "FullyShardedDataParallel"}
#: The calls that reduce gradients: c10d's ops (PyTorch 2.0 and later), and the backends' own ranges.
C10D_REDUCTIONS = re.compile(r"^c10d::(allreduce|allreduce_coalesced|reduce_scatter\w*|_reduce_scatter_base)_?$")
BACKEND_REDUCTIONS = re.compile(r"^(nccl|gloo|mpi|ucc|xccl):(all_reduce|reduce_scatter\w*|_reduce_scatter_base)"
                                r"(_coalesced)?$")
#: The optimizer's step ranges.
OPTIMIZER_STEP = re.compile(r"^Optimizer\.step#\w+\.step$")
#: The summary's figures (:func:`grad_sync_summary`).
SUMMARY_KEYS = ("wrapped_forwards", "grad_sync_steps", "grad_sync_microbatches", "grad_sync_unneeded",
                "grad_sync_unneeded_us", "grad_sync_wrapper")


def grad_sync_summary(trace: Trace) -> Dict[str, Any]:
    """Gradient reductions by micro-batch (see the module's description)."""
    if not len(trace.ops):
        return dict.fromkeys(SUMMARY_KEYS)
    wrapped, forwards, _ = op_intervals(trace, WRAPPER_FORWARDS.__contains__)
    out: Dict[str, Any] = {"wrapped_forwards": int(len(forwards)), "grad_sync_steps": 0, "grad_sync_microbatches": 0,
                           "grad_sync_unneeded": 0, "grad_sync_unneeded_us": 0.0, "grad_sync_wrapper": None}
    if not len(forwards):
        return out
    names = {trace.ops.name[r] for r in wrapped.tolist()}
    out["grad_sync_wrapper"] = ", ".join(sorted(WRAPPER_FORWARDS[n] for n in names))
    forwards = np.sort(forwards)
    _, steps, _ = op_intervals(trace, OPTIMIZER_STEP.match)
    in_backward = _in_backward(trace)
    calls, c_start, c_end = _kept(in_backward, *op_intervals(trace, C10D_REDUCTIONS.match))
    backend, b_start, b_end = op_intervals(trace, BACKEND_REDUCTIONS.match)
    if not len(calls):  # no c10d ops (older PyTorch): the backends' ranges mark the calls
        calls, c_start, c_end = _kept(in_backward, backend, b_start, b_end)
    out["grad_sync_steps"] = int(len(steps))
    if not len(calls):
        return out

    def batch_of(t: np.ndarray) -> np.ndarray:  # the micro-batch holding each time: -1 before the first forward
        return np.searchsorted(forwards, t, side="right") - 1

    reducing = np.unique(batch_of(c_start))
    reducing = reducing[reducing >= 0]
    stepping = set(batch_of(steps).tolist())
    unneeded = np.array([b for b in reducing.tolist() if b not in stepping], dtype=np.int64)
    out["grad_sync_microbatches"] = int(len(reducing))
    out["grad_sync_unneeded"] = int(len(unneeded))
    out["grad_sync_unneeded_us"] = _time(trace, unneeded, batch_of, (calls, c_start, c_end), (b_start, b_end))
    return out


def _in_backward(trace: Trace) -> np.ndarray:
    """Whether each op runs under one of autograd's ``evaluate_function`` ranges (itself included)."""
    codes, names = value_codes(trace, "ops.name")
    marked = np.array([str(n).startswith(EVALUATE_FUNCTION) for n in names], dtype=bool)
    return nearest_marked(op_parents(trace), marked[codes]) >= 0 if marked.any() else np.zeros(len(codes), bool)


def _kept(in_backward: np.ndarray, rows: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple:
    keep = in_backward[rows]
    return rows[keep], start[keep], end[keep]


def _time(trace: Trace, unneeded: np.ndarray, batch_of: Any, calls: tuple, backend: tuple) -> Optional[float]:
    """The reductions' time in the ``unneeded`` micro-batches (see the module's description)."""
    if not len(unneeded):
        return 0.0
    rows, c_start, c_end = calls
    wasted = np.isin(batch_of(c_start), unneeded)
    if len(trace.gpu):  # the collective kernels launched under those calls
        gpu = trace.gpu
        kernels = np.flatnonzero(collective_rows(trace)[0])
        if not len(kernels):
            return None
        call_of = np.full(len(trace.ops), -1, dtype=np.int64)  # each call's index among the calls
        call_of[rows] = np.arange(len(rows))
        is_call = call_of >= 0
        owner_row = nearest_marked(op_parents(trace), is_call)[np.maximum(trace.gpu_op_row[kernels], 0)]
        owned = (trace.gpu_op_row[kernels] >= 0) & (owner_row >= 0)
        if owned.any():
            owner = call_of[owner_row[owned]]
            return float(gpu.dur[kernels[owned]][wasted[owner]].sum())
        # no kernel carries its call (a trace without the launches' correlation): each by its own start
        return float(gpu.dur[kernels][np.isin(batch_of(gpu.ts[kernels]), unneeded)].sum())
    b_start, b_end = backend
    if len(b_start):  # the backend's own ranges, as long as the collective took
        return float((b_end - b_start)[np.isin(batch_of(b_start), unneeded)].sum())
    return float((c_end - c_start)[wasted].sum())
