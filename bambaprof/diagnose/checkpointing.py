"""Rule on activation checkpointing that recomputes much while memory sits unused
(:mod:`bambaprof.analysis.checkpointing`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from ..render.tables import format_cell
from .finding import Finding, gpu_window_us, kernel_total, severity_of, us_text

#: checkpoint-headroom: the recomputed forward work takes at least this share of kernel time ...
RECOMPUTE_PCT = 10.0
#: ... while the allocator's peak reserved memory stays under this share of the device's memory.
HEADROOM_PCT = 50.0


def checkpoint_headroom(a: Any) -> Optional[Finding]:
    """Forward work recomputed in the backward pass (activation checkpointing) takes at least :data:`RECOMPUTE_PCT`
    of kernel time while the peak reserved memory stays under :data:`HEADROOM_PCT` of the device's memory (both
    known: the trace recorded memory, ``profile_memory=True``, and the device's size). Time at stake: the recomputed
    GPU time, what checkpointing fewer blocks can save as far as memory allows."""
    s = a.summary
    recompute, reserved, device = s.get("recompute_gpu_us"), s.get("peak_reserved_bytes"), s.get("device_memory_bytes")
    total = kernel_total(a)
    if not recompute or not reserved or not device or total <= 0 or 100.0 * recompute / total < RECOMPUTE_PCT \
            or 100.0 * reserved / device >= HEADROOM_PCT:
        return None
    rows = getattr(a, "checkpointing", None) or []
    ops = ", ".join(f"{r['op']} x{r['calls']}" for r in rows[:4])
    backward = s.get("backward_gpu_us")
    msg = (f"Activation checkpointing recomputed {s.get('recompute_calls')} forward ops in the backward pass ({ops}): "
           f"{us_text(recompute)} of GPU time, {100 * recompute / total:.0f}% of kernel time"
           + (f" and {100 * recompute / backward:.0f}% of the backward pass's" if backward else "")
           + f", while the allocator reserved at most {format_cell(reserved, 'bytes')} of the device's "
           f"{format_cell(device, 'bytes')} ({100 * reserved / device:.0f}%).")
    suggestion = ("Checkpoint fewer blocks (every other one, or only the largest activations: selective activation "
                  "checkpointing), or under torch.compile let the partitioner choose with "
                  "torch._functorch.config.activation_memory_budget; keep the peak under the device's memory with "
                  "headroom for fragmentation.")
    return Finding("checkpoint-headroom", severity_of(recompute, gpu_window_us(a)), msg, [dict(r) for r in rows[:8]],
                   suggestion, recompute)
