"""Rule on forward passes run with gradients enabled that no backward pass followed
(:mod:`bambaprof.analysis.autograd`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from .finding import Finding, host_wait_pct

#: grad-enabled-inference: the forward created at least this many autograd nodes ...
GRAD_ENABLED_MIN_NODES = 16
#: ... at least this many per 100 of the trace's ops, with no backward op in the trace.
GRAD_ENABLED_MIN_SHARE_PCT = 5.0
#: The host's share of the GPU's idle time (%) from which the host's overhead is what sets the pace: medium.
HOST_PACED_PCT = 15.0


def grad_enabled_inference(a: Any) -> Optional[Finding]:
    """The forward created autograd nodes (at least :data:`GRAD_ENABLED_MIN_NODES`, and
    :data:`GRAD_ENABLED_MIN_SHARE_PCT` per 100 ops) and no backward pass ran in the trace. Medium where the host sets
    the pace (a CPU-only profile, or a GPU that waited on the host for :data:`HOST_PACED_PCT` of its window), else
    low; no time at stake (what the bookkeeping cost is not in the trace)."""
    s = a.summary
    forward, nodes, backward, total = (s.get(k) for k in ("autograd_forward_ops", "autograd_forward_nodes",
                                                          "autograd_backward_ops", "autograd_cpu_ops"))
    if nodes is None or backward or not total or nodes < GRAD_ENABLED_MIN_NODES \
            or 100.0 * nodes / total < GRAD_ENABLED_MIN_SHARE_PCT:
        return None
    host_paced = s.get("platform") == "cpu" or host_wait_pct(a) >= HOST_PACED_PCT
    msg = (f"The forward created about {nodes:,} autograd nodes ({forward:,} of the trace's {total:,} ops ran with "
           f"gradients enabled: {s.get('autograd_forward_op_names')}), and no backward pass ran: gradients were on for "
           "nothing, keeping the activations the nodes save alive and paying autograd's bookkeeping on the host for "
           "each op"
           + (" (the host sets this trace's pace)" if host_paced else "") + ".")
    suggestion = ("Run inference under torch.inference_mode() (or torch.no_grad()); model.eval() alone does not turn "
                  "gradients off. On this project's 2-core CPU a 48-op forward took 1.3x as long with gradients as under "
                  "inference_mode (benchmarks/grad_mode_traces.py).")
    evidence = [{"forward_nodes": nodes, "forward_ops": forward, "cpu_ops": total,
                 "top": s.get("autograd_forward_op_names")}]
    severity = "medium" if host_paced else "low"
    return Finding("grad-enabled-inference", severity, msg, evidence, suggestion, None)
