"""Forward work recomputed in the backward pass: activation checkpointing's cost (times in us).

``torch.utils.checkpoint`` frees a block's activations after its forward and runs the block's forward again when
the backward pass needs them. The profiler shows that second forward inside a backward node (an op with a ``Fwd
thread id`` above 0, ``autograd::engine::evaluate_function: <Node>``): ops that carry a ``Sequence number`` of
their own and no ``Fwd thread id``, because they run with gradients enabled to build the block's graph again
(the backward's own gradient ops run with gradients off and carry none), and repeat a forward call: the same op on
the same shapes ran before, outside the backward pass (a backward with ``create_graph=True``, whose gradient ops
carry numbers too, is told apart by their shapes; views, which do no work, are left out). Reentrant and
non-reentrant checkpointing both show this way.

Per recomputed op (the outermost of nested ones), by name: calls, host time and the GPU time of the kernels it
launched (and of the ops it called); beside them the backward pass's own totals (every op under a node).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from .ops import autograd_nodes, op_gpu_time, op_parents
from .trace import Trace

#: Ops that make views or copies of metadata only: no work to recompute (a create_graph backward runs them too).
VIEW_OPS = frozenset(f"aten::{n}" for n in ("t", "expand", "view", "reshape", "_reshape_alias", "transpose", "permute",
                                            "as_strided", "unsqueeze", "squeeze", "slice", "select", "detach",
                                            "alias", "unbind", "split", "chunk", "narrow", "_unsafe_view",
                                            "expand_as", "view_as", "flatten", "unflatten", "numpy_T", "contiguous"))
#: A row's keys, in the order tables show them.
ROW_KEYS = ("op", "calls", "cpu_us", "gpu_us")
#: The summary's figures (see :func:`checkpoint_summary`).
SUMMARY_KEYS = ("recompute_calls", "recompute_cpu_us", "recompute_gpu_us", "backward_cpu_us", "backward_gpu_us")


def recompute_rows(trace: Trace) -> Optional[np.ndarray]:
    """The op rows recomputed in the backward pass (outermost of nested ones); None where the trace holds no CPU ops
    or no autograd fields."""
    ops = trace.ops
    nodes = autograd_nodes(trace) if len(ops) else None
    if nodes is None:
        return None
    node, node_of = nodes
    if not node.any():
        return np.zeros(0, dtype=np.int64)
    seq, fwd = ops.sequence_number, ops.fwd_thread_id
    parent = op_parents(trace)
    inside = node_of >= 0
    forward = inside & ~node & (seq >= 0) & (fwd <= 0)
    rows = np.flatnonzero(forward)
    outer = ~forward[np.maximum(parent[rows], 0)] | (parent[rows] < 0)
    rows = rows[outer]
    if not len(rows):
        return rows
    # a recompute repeats a forward call: the same op on the same shapes ran outside the backward pass (a backward
    # run with create_graph=True builds its gradients' graph with ops of its own shapes, and is none)
    before = {(ops.name[r], repr(ops.input_dims[r])) for r in np.flatnonzero(~inside & (fwd <= 0)).tolist()}
    return np.array([r for r in rows.tolist() if ops.name[r] not in VIEW_OPS
                     and (ops.name[r], repr(ops.input_dims[r])) in before], dtype=np.int64)


def checkpoint_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The recomputed ops by name (see the module's docstring), most GPU time (then host time) first: ``op``,
    ``calls``, ``cpu_us``, ``gpu_us`` (None without GPU activity); None where the trace cannot show them."""
    rows = recompute_rows(trace)
    if rows is None:
        return None
    if not len(rows):
        return []
    ops = trace.ops
    on_gpu = len(trace.gpu) > 0
    gpu = op_gpu_time(trace) if on_gpu else None
    groups: Dict[str, Dict[str, Any]] = {}
    for r in rows.tolist():
        g = groups.setdefault(ops.name[r], {"op": ops.name[r], "calls": 0, "cpu_us": 0.0,
                                            "gpu_us": 0.0 if on_gpu else None})
        g["calls"] += 1
        g["cpu_us"] += float(ops.dur[r])
        if gpu is not None:
            g["gpu_us"] += float(gpu[r])
    return sorted(groups.values(), key=lambda g: ((g["gpu_us"] or 0.0), g["cpu_us"]), reverse=True)


def checkpoint_summary(trace: Trace, table: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """``recompute_calls``, ``recompute_cpu_us`` and ``recompute_gpu_us`` (over :func:`checkpoint_table`'s rows), and
    the backward pass's ``backward_cpu_us`` (its outermost nodes' host time) and ``backward_gpu_us`` (the GPU time of
    everything under its nodes); the GPU figures None without GPU activity, all None where the trace cannot show a
    backward pass."""
    if table is None:
        return dict.fromkeys(SUMMARY_KEYS)
    ops = trace.ops
    nodes = autograd_nodes(trace)
    node = nodes[0] if nodes is not None else np.zeros(len(ops), dtype=bool)
    parent = op_parents(trace)
    on_gpu = len(trace.gpu) > 0
    backward_cpu = backward_gpu = 0.0
    if node.any():
        top = node & ((parent < 0) | ~node[np.maximum(parent, 0)])
        backward_cpu = float(ops.dur[top].sum())
        if on_gpu:
            backward_gpu = float(op_gpu_time(trace)[top].sum())
    return {"recompute_calls": sum(r["calls"] for r in table),
            "recompute_cpu_us": float(sum(r["cpu_us"] for r in table)),
            "recompute_gpu_us": float(sum(r["gpu_us"] or 0.0 for r in table)) if on_gpu else None,
            "backward_cpu_us": backward_cpu, "backward_gpu_us": backward_gpu if on_gpu else None}
