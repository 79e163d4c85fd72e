"""Rule on ``torch.compile``d code broken into several graphs: the run's count of graph breaks and their reasons
(its manifest), and what the breaks cost in the trace (:mod:`bambaprof.analysis.compiled_calls`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..analysis.compiled_calls import ROW_KEYS
from .finding import Finding, gpu_window_us, severity_of, us_text

#: Ops that read a tensor's value on the host: a graph break Dynamo can keep in the graph when told to.
_SCALAR_READS = ("aten::item", "aten::_local_scalar_dense")


def graph_breaks(a: Any) -> Optional[Finding]:
    """Graph breaks: where the trace shows compiled calls of several graphs, their cost (the host's time outside the
    graphs against the span; on a GPU, its idle time meanwhile, at stake), with the run's recorded reasons where it
    has them; else the run's count of breaks (medium, no time claimed)."""
    m = getattr(a, "manifest", None)
    c = m.compile if m is not None else None
    reasons = [{"reason": r, "count": n} for r, n in c.graph_break_reasons.items()] if c is not None else []
    broken = [r for r in getattr(a, "compiled_calls", None) or () if r["breaks"] > 0]
    if broken:
        return _measured(a, broken, reasons)
    if c is None or not c.graph_breaks:
        return None
    first = f": {next(iter(c.graph_break_reasons))}" if c.graph_break_reasons else ""
    return Finding("graph-breaks", "medium", f"torch.compile broke the graph {c.graph_breaks} time(s){first}.",
                   reasons, "Each break runs eagerly between compiled pieces; remove its cause (see the reasons) or "
                   "wrap the code in a custom op.")


def _measured(a: Any, rows: List[Dict[str, Any]], reasons: List[Dict[str, Any]]) -> Finding:
    calls = sum(r["calls"] for r in rows)
    breaks = sum(r["breaks"] * r["calls"] for r in rows)
    outside = sum(r["outside_us"] for r in rows)
    top = max(rows, key=lambda r: r["outside_us"])
    names = ", ".join(r["eager_op_names"] for r in rows if r["eager_op_names"])
    span = a.summary.get("span_us") or 0.0
    idle_known = all(r["gap_gpu_idle_us"] is not None for r in rows) and a.summary.get("platform") != "cpu"
    idle = sum(r["gap_gpu_idle_us"] or 0.0 for r in rows) if idle_known else None
    window = gpu_window_us(a)
    msg = (f"torch.compile'd code ran as {top['graphs']} graphs a call (frames {top['frames']}: {top['breaks']} graph "
           f"break{'s' if top['breaks'] != 1 else ''}){'' if len(rows) == 1 else ' and others'}, {breaks} break"
           f"{'s' if breaks != 1 else ''} over {calls} call{'s' if calls != 1 else ''}: outside its graphs the host "
           f"spent {us_text(outside)}" + (f", {100 * outside / span:.0f}% of the trace's span" if span > 0 else "")
           + (f", running {names} eagerly and Python between them" if names else
              ", in Python and Dynamo's guards between them")
           + (f"; the GPU sat idle {us_text(idle)} meanwhile" if idle is not None else "") + "."
           + (f" The run recorded why: {reasons[0]['reason']}." if reasons else ""))
    tips = ["Find each break with TORCH_LOGS=graph_breaks (or torch._dynamo.explain(fn)(*args)), and compile with "
            "fullgraph=True to make one an error."]
    if any(op in names for op in _SCALAR_READS):
        tips.append(".item() breaks the graph: keep the value a tensor, or set "
                    "torch._dynamo.config.capture_scalar_outputs = True to trace it.")
    tips.append("A print or logging call breaks it too: move it out of the compiled function; data-dependent Python "
                "branches: torch.cond or a tensor expression.")
    evidence = [{k: r[k] for k in ROW_KEYS} for r in rows[:8]] + reasons
    if idle is not None and window > 0:
        return Finding("graph-breaks", severity_of(idle, window), msg, evidence, " ".join(tips), idle)
    return Finding("graph-breaks", severity_of(outside, span) if span > 0 else "medium", msg, evidence,
                   " ".join(tips), None)
