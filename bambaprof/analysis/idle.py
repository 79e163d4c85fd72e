"""Where the GPU's idle time went: the time no GPU activity ran on any device, inside the GPU window, split by the
host-side cause it falls in, each instant counted once (times in us).

Causes, in this order (an idle instant inside several goes to the first): ``compilation`` (inside torch.compile's
compile ranges, :mod:`.compilation`), ``CUDA graph recording`` (inside a CUDA graph's recording, :mod:`.cuda_graphs`),
``data loader`` (inside the DataLoader's fetch ranges, :mod:`.data_loading`),
``allocation calls`` (inside a memory allocation call, or the drain after a free begun while GPU work ran,
:mod:`.allocations`), ``synchronisations`` (inside a synchronising call, or the drain after one begun while GPU
work ran: one made with the GPU already idle emptied nothing; :mod:`.syncs`), and ``the rest``: launch
gaps, host work between launches, waits the trace does not explain. A cause the trace cannot show (no CPU ops for
the compile and DataLoader ranges, no runtime calls for allocations and synchronisations) is None, and its time
stays in ``the rest`` (recordings show through CPU ops or runtime calls).

For a trace of one device this idle time is the summary's ``gpu_idle_us``; with several devices it is the time
none of them ran anything (``gpu_idle_us`` sums each device's own idle time).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .timeline import idle_inside

#: The causes in the order their intervals claim idle time.
CAUSES = ("compilation", "CUDA graph recording", "data loader", "allocation calls", "synchronisations")


def idle_by_cause(ms: np.ndarray, me: np.ndarray,
                  causes: Sequence[Tuple[str, Optional[np.ndarray], Optional[np.ndarray]]]) -> Optional[Dict[str, Any]]:
    """The GPU window's idle time (the busy intervals ``ms``/``me``: merged, sorted, as
    :func:`~.timeline.gpu_busy` gives them) split over ``causes`` ((name, interval starts, interval ends), in
    priority order; None intervals: the cause cannot be known), plus ``the rest`` and ``idle`` (the total); None
    without GPU activity."""
    if not len(ms):
        return None
    total = (float(me[-1]) - float(ms[0])) - float((me - ms).sum())
    out: Dict[str, Any] = {}
    claimed_s: List[np.ndarray] = []
    claimed_e: List[np.ndarray] = []
    before = 0.0
    for name, starts, ends in causes:
        if starts is None or ends is None:
            out[name] = None
            continue
        claimed_s.append(starts)
        claimed_e.append(ends)
        covered = idle_inside(ms, me, np.concatenate(claimed_s), np.concatenate(claimed_e))
        out[name] = max(covered - before, 0.0)
        before = max(covered, before)
    out["the rest"] = max(total - before, 0.0)
    out["idle"] = total
    return out


def idle_rows(by_cause: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """:func:`idle_by_cause`'s split as table rows: ``cause``, ``gpu_idle_us`` (None: unknown) and ``share_pct`` (of
    the idle time); none without GPU activity."""
    if not by_cause:
        return []
    total = by_cause["idle"]
    return [{"cause": cause, "gpu_idle_us": us,
             "share_pct": 100.0 * us / total if us is not None and total > 0 else None}
            for cause, us in by_cause.items() if cause != "idle"]
