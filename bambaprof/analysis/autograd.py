"""Autograd in a trace: the forward ops that created autograd nodes, and the backward pass's.

With gradients enabled, the profiler gives each op the thread's autograd ``Sequence number``: the number the next
autograd node will take. Ops whose inputs require no gradient create no node, and share one number; each node
created moves it on, so the distinct numbers the forward ops carry count the nodes the forward created (within one
or two). Under ``torch.no_grad()`` or ``torch.inference_mode()`` ops carry none. The backward pass runs the nodes:
ops with a ``Fwd thread id`` above 0, under ``autograd::engine::evaluate_function: <Node>`` ranges. A trace whose
forward created many nodes that no backward pass ran computed with gradients enabled for nothing: the forward kept
every activation its nodes save alive, and each op paid autograd's bookkeeping on the host.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict

import numpy as np

from .ops import cpu_op_mask
from .trace import Trace, value_codes

#: The summary's figures (see :func:`autograd_summary`).
SUMMARY_KEYS = ("autograd_forward_ops", "autograd_forward_nodes", "autograd_backward_ops", "autograd_cpu_ops",
                "autograd_forward_op_names")
#: The ranges of the backward pass's nodes.
EVALUATE_FUNCTION = "autograd::engine::evaluate_function"


def autograd_summary(trace: Trace) -> Dict[str, Any]:
    """``autograd_forward_ops`` (ops outside the backward pass carrying a ``Sequence number``: run with gradients
    enabled), ``autograd_forward_nodes`` (the distinct numbers they carry, per thread: the nodes they created),
    ``autograd_backward_ops`` (ops with a ``Fwd thread id`` above 0, and the ``evaluate_function`` ranges),
    ``autograd_cpu_ops`` (all ``cpu_op`` events) and ``autograd_forward_op_names`` (the most frequent forward ops
    carrying a number, with counts); all None where the trace holds no CPU ops."""
    ops = trace.ops
    if not len(ops) or len(ops.sequence_number) != len(ops):
        return dict.fromkeys(SUMMARY_KEYS)
    seq, fwd = ops.sequence_number, ops.fwd_thread_id
    codes, names = value_codes(trace, "ops.name")
    thread, _ = value_codes(trace, "ops.thread")
    evaluate = [c for c, n in enumerate(names) if str(n).startswith(EVALUATE_FUNCTION)]
    backward = (fwd > 0) | (np.isin(codes, evaluate) if evaluate else np.zeros(len(ops), dtype=bool))
    forward = (seq >= 0) & ~backward
    nodes = len(set(zip(thread[forward].tolist(), seq[forward].tolist())))
    cpu = cpu_op_mask(trace)
    top = Counter(names[c] for c in codes[forward].tolist()).most_common(4)
    return {"autograd_forward_ops": int(forward.sum()), "autograd_forward_nodes": nodes,
            "autograd_backward_ops": int(backward.sum()), "autograd_cpu_ops": int(cpu.sum()),
            "autograd_forward_op_names": ", ".join(f"{n} x{k}" for n, k in top) or None}
