"""Rule on optimizer steps that did not run a fused implementation (:mod:`bambaprof.analysis.optimizer`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..analysis.optimizer import FUSED_CLASSES
from .finding import Finding, gpu_window_us, severity_of, us_text

#: unfused-optimizer: the GPU sat idle inside the GPU windows of for-loop or foreach optimizer steps for at least this
#: share of its window (it waited for their launches).
UNFUSED_OPTIMIZER_PCT = 5.0
#: unfused-optimizer, for steps that launched no GPU work (a CPU-only profile, or parameters on the CPU): their host
#: time is at least this share of the trace's span.
UNFUSED_OPTIMIZER_HOST_PCT = 10.0
_UNFUSED = ("for-loop", "foreach")


def unfused_optimizer(a: Any) -> Optional[Finding]:
    """Optimizer steps of the for-loop or foreach implementation that cost the run: on the GPU, the idle time inside
    their kernels' windows (at least :data:`UNFUSED_OPTIMIZER_PCT` of the GPU window; that idle time at stake); steps
    that launched nothing, their host time (at least :data:`UNFUSED_OPTIMIZER_HOST_PCT` of the span; no GPU time at
    stake). The advice: ``fused=True`` where ``torch.optim`` has it for the class, else ``foreach=True`` and a
    compiled step."""
    rows = [r for r in getattr(a, "optimizer", None) or () if r["implementation"] in _UNFUSED]
    on_gpu = [r for r in rows if r.get("launches_per_step")]
    on_host = [r for r in rows if not r.get("launches_per_step")]
    window = gpu_window_us(a)
    idle = sum(r["gpu_idle_us"] or 0.0 for r in on_gpu)
    if on_gpu and window > 0 and 100.0 * idle / window >= UNFUSED_OPTIMIZER_PCT:
        top = max(on_gpu, key=lambda r: r["gpu_idle_us"] or 0.0)
        gpu_time = sum(r["gpu_us"] or 0.0 for r in on_gpu)
        span = sum(r["gpu_window_us"] or 0.0 for r in on_gpu)
        msg = (f"{_steps(on_gpu)}: the GPU sat idle {us_text(idle)} inside their kernels' windows ({us_text(span)}, "
               f"{us_text(gpu_time)} of it running their {top['launches_per_step']:,.0f} launches a step), "
               f"{100 * idle / window:.0f}% of its {us_text(window)} window, waiting for the host to launch them.")
        return Finding("unfused-optimizer", severity_of(idle, window), msg, _evidence(on_gpu),
                       _advice(on_gpu, gpu=True), idle)
    span = a.summary.get("span_us") or 0.0
    host = sum(r["host_us"] for r in on_host)
    if on_host and span > 0 and 100.0 * host / span >= UNFUSED_OPTIMIZER_HOST_PCT:
        msg = (f"{_steps(on_host)}: {us_text(host)} on the host, {100 * host / span:.0f}% of the trace's span "
               f"({max(r['ops_per_step'] for r in on_host):,.0f} ops a step).")
        return Finding("unfused-optimizer", severity_of(host, span), msg, _evidence(on_host),
                       _advice(on_host, gpu=False), None)
    return None


def _steps(rows: List[Dict[str, Any]]) -> str:
    """The steps in words: ``3 AdamW steps ran the for-loop implementation``."""
    parts = [f"{r['steps']} {r['optimizer']} step{'s' if r['steps'] != 1 else ''} ran the {r['implementation']} "
             "implementation" for r in rows]
    return "; ".join(parts)


def _evidence(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: r[k] for k in ("optimizer", "implementation", "steps", "host_mean_us", "ops_per_step",
                               "launches_per_step", "gpu_us", "gpu_window_us", "gpu_idle_us")} for r in rows]


def _advice(rows: List[Dict[str, Any]], gpu: bool) -> str:
    """Per optimizer class: fused where torch.optim has it, else foreach; then a compiled step."""
    fused = sorted({r["optimizer"] for r in rows if r["optimizer"] in FUSED_CLASSES})
    other = sorted({r["optimizer"] for r in rows if r["optimizer"] not in FUSED_CLASSES})
    out = []
    if fused:
        out.append(f"Construct {', '.join(fused)} with fused=True: one op (a kernel or a few) updates every parameter "
                   "of a group, reading each parameter, gradient and state once" + (" (on the CPU too)" if not gpu
                                                                                      else "") + ".")
    if other:
        out.append(f"{', '.join(other)} {'has' if len(other) == 1 else 'have'} no fused implementation in torch.optim: "
                   "pass foreach=True, or compile the step (call opt.step() inside a function under torch.compile: "
                   "its updates fuse into a few Triton kernels).")
    if gpu and any(r["implementation"] == "for-loop" for r in rows):
        out.append("PyTorch picks foreach when every parameter is on CUDA: a for-loop step means foreach=False or "
                   "differentiable=True was passed, or a parameter lives on another device.")
    return " ".join(out)
