"""Rule on data-parallel training that reduces gradients in every micro-batch of an accumulated step
(:mod:`bambaprof.analysis.grad_sync`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
threshold is the named constant here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from .finding import Finding, gpu_window_us, severity_of, us_text

#: grad-sync-per-microbatch: the reductions of micro-batches no optimizer step followed take at least this share of
#: the GPU window (of the trace's span on the host, in a CPU-only profile).
GRAD_SYNC_PCT = 5.0


def grad_sync_per_microbatch(a: Any) -> Optional[Finding]:
    """Gradient accumulation without ``no_sync``: micro-batches that reduced their gradients across ranks with no
    optimizer step after them (the step's own micro-batch reduces them again), at least :data:`GRAD_SYNC_PCT` of
    the GPU window in collective time (a CPU-only profile: the collectives' host time against the span, no time at
    stake). Not judged without an optimizer step in the trace (a step outside ``torch.optim`` records no range)."""
    s = a.summary
    unneeded, steps = s.get("grad_sync_unneeded") or 0, s.get("grad_sync_steps") or 0
    time = s.get("grad_sync_unneeded_us")
    on_host = s.get("platform") == "cpu"
    total = (s.get("span_us") or 0.0) if on_host else gpu_window_us(a)
    if not unneeded or not steps or time is None or total <= 0 or 100.0 * time / total < GRAD_SYNC_PCT:
        return None
    wrapper, batches = s.get("grad_sync_wrapper") or "the data-parallel wrapper", s.get("grad_sync_microbatches")
    forwards = s.get("wrapped_forwards") or 0
    msg = (f"{wrapper} reduced gradients across ranks in {batches} micro-batches for {steps} optimizer "
           f"step{'s' if steps != 1 else ''} ({forwards / steps:.1f} forwards a step): {unneeded} of those reductions "
           f"came in micro-batches no step followed, and the step's own micro-batch reduced the accumulated "
           f"gradients again. They took {us_text(time)}, {100 * time / total:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)" if on_host else "the GPU window") + ".")
    fsdp = "FullyShardedDataParallel" in wrapper
    suggestion = ("Accumulate without reducing: wrap the forward and backward of every micro-batch but a step's last "
                  "in the context manager model.no_sync()"
                  + (" (FSDP: it keeps unsharded gradients until the step, more memory; FSDP2: "
                     "model.set_requires_gradient_sync(False) instead)" if fsdp else "")
                  + ", so that gradients cross the network once a step; Hugging Face Accelerate does it in "
                  "accelerator.accumulate(model), as the Trainer and Lightning do.")
    evidence = [{k: s.get(k) for k in ("wrapped_forwards", "grad_sync_steps", "grad_sync_microbatches",
                                       "grad_sync_unneeded", "grad_sync_unneeded_us", "grad_sync_wrapper")}]
    return Finding("grad-sync-per-microbatch", severity_of(time, total), msg, evidence, suggestion,
                   None if on_host else time)
