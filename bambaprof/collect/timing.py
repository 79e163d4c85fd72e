"""Timing of measured iterations: CUDA events on a GPU, the wall clock on the CPU.

:class:`Stopwatch` marks points in time; on CUDA each mark is an event recorded
on the current stream and the elapsed times are read after one synchronisation
at the end, so timing never stalls the GPU between marks. Times in ms.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import List, Optional, Sequence

import torch

from ..run import Spread


class Stopwatch:
    """Records marks; :meth:`intervals_ms` gives the time between consecutive marks (ms)."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self._marks: List[object] = []

    def mark(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self._marks.append(ev)
        else:
            self._marks.append(time.perf_counter())

    def intervals_ms(self) -> List[float]:
        if len(self._marks) < 2:
            return []
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) for a, b in zip(self._marks, self._marks[1:])]  # type: ignore[union-attr]
        return [(b - a) * 1e3 for a, b in zip(self._marks, self._marks[1:])]  # type: ignore[operator]

    def reset(self) -> None:
        self._marks = []


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile ``q`` in [0, 100]; ``None`` for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> Spread:
    """median, mean, min, max, p10, p90 and standard deviation of ``values`` (same unit); all unknown
    for no values."""
    if not values:
        return Spread()
    return Spread(median=statistics.median(values), mean=statistics.fmean(values), min=min(values),
                  max=max(values), p10=percentile(values, 10), p90=percentile(values, 90),
                  stdev=statistics.stdev(values) if len(values) > 1 else 0.0, n=len(values))
