"""Rules on compiled code: ``torch.compile``d code broken into several graphs (the run's count of graph breaks and
their reasons in its manifest, and what the breaks cost in the trace: :mod:`bambaprof.analysis.compiled_calls`), and
CUDA graphs recorded inside the profiled window (:mod:`bambaprof.analysis.cuda_graphs`).

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; the
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..analysis.compiled_calls import ROW_KEYS
from .finding import Finding, gpu_window_us, severity_of, us_text

#: cudagraph-recording: CUDA graph recordings take at least this share of the GPU window in idle time (of the span in
#: host time, where the GPU's idle time is not known).
CUDAGRAPH_RECORDING_PCT = 5.0
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


def cudagraph_recording(a: Any) -> Optional[Finding]:
    """CUDA graphs recorded inside the trace (:mod:`bambaprof.analysis.cuda_graphs`) whose GPU idle time is at least
    :data:`CUDAGRAPH_RECORDING_PCT` of the GPU window (without GPU activity: their host time against the span).
    Advice by when: recordings after the first profiled step are re-recording in the steady state (a new input
    shape, or a static input at a new address, for CUDA graph trees; a capture repeated by hand); those of the first
    step alone, a warm-up the profiler recorded. Time at stake: the GPU's idle time inside them."""
    s = a.summary
    records = s.get("cudagraph_records") or 0
    host, idle = s.get("cudagraph_record_us") or 0.0, s.get("cudagraph_record_gpu_idle_us")
    span, window = s.get("span_us") or 0.0, gpu_window_us(a)
    on_gpu = idle is not None and window > 0
    share = 100.0 * (idle / window if on_gpu else host / span if span > 0 else 0.0)
    if not records or share < CUDAGRAPH_RECORDING_PCT:
        return None
    later, held, steps = s.get("cudagraph_records_after_first_step"), s.get("cudagraph_record_steps"), \
        s.get("profiled_steps")
    kinds, replays = s.get("cudagraph_record_kinds") or "", s.get("cudagraph_replays")
    trees = "cudagraph trees" in kinds
    where = f" in {held} of {steps} profiled steps" if steps and held is not None else ""
    msg = (f"CUDA graphs were recorded {records} time{'s' if records != 1 else ''} inside the trace{where} ("
           + ("torch.compile's CUDA graph trees" if trees else "stream captures")
           + (" and stream captures" if trees and "capture" in kinds.split(", ") else "")
           + f"): {us_text(host)} of host time"
           + (f", the GPU idle {us_text(idle)} meanwhile, {share:.0f}% of its window" if on_gpu else
              f", {share:.0f}% of the trace's span")
           + (f"; graphs were replayed {replays} time{'s' if replays != 1 else ''}" if replays else "") + ".")
    rerecording = bool(later) or not steps
    if rerecording and trees:
        suggestion = ("CUDA graph trees record a graph for every new input shape, and again when a static input moves "
                      "to a new address: keep the shapes to a few sizes (pad batches and lengths to buckets; a "
                      "static KV cache, Hugging Face's cache_implementation=\"static\"), warm every size up before "
                      "measuring, or let dynamic shapes run without graphs "
                      "(torch._inductor.config.triton.cudagraph_skip_dynamic_graphs = True). "
                      "TORCH_LOGS=cudagraphs,cudagraph_static_inputs says why each graph was recorded.")
    elif rerecording:
        suggestion = ("Capture once and replay: keep the captured graph and its static input and output tensors "
                      "across steps (copy new inputs into them), one graph per shape you serve, captured at start-up.")
    else:
        suggestion = ("Every recording fell in the first profiled step, a warm-up the profiler recorded: run the "
                      "compiled code on every shape before profiling (torch.profiler.schedule(wait=1, warmup=1, "
                      "active=3)), so that steps replay graphs.")
    if later and held is not None and steps:
        msg += f" {later} of them began after the first step: the steady state records graphs again."
    at_stake = idle if on_gpu and idle else None
    evidence = [{k: s.get(k) for k in ("cudagraph_records", "cudagraph_record_us", "cudagraph_record_gpu_idle_us",
                                       "cudagraph_record_steps", "cudagraph_records_after_first_step",
                                       "cudagraph_replays", "cudagraph_record_kinds")}]
    return Finding("cudagraph-recording", severity_of(idle if on_gpu else host, window if on_gpu else span), msg,
                   evidence, suggestion, at_stake)
