"""How fast the host runs Python at a moment: a fixed pure-Python loop, timed.

Host-bound work (eager decoding, small shapes: the GPU waits for the next launch) takes as long as the
host needs to issue it, and a shared or virtual machine's CPU changes speed on its own, unseen by the
guest: on a lent H200 microVM the same build's eager decode token went from 1.6 to 2.8 ms while this loop
went from 1.7 to 3.3 ms, with no migration, garbage collection, run-queue wait or reported steal time
(``benchmarks/decode_host_jitter.py``, ``benchmarks/results/h200-decode-host-jitter.json``).

``profile`` and :func:`bambaprof.record` time the loop just before and just after the measured steps
(the manifest's ``host``), so that ``compare`` can say when two runs' hosts ran at different speeds and
``diagnose`` when the host changed speed during one run.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Dict, Optional

from ..run import HostInfo

#: Steps of the probe's loop, and how many times it runs (the median is kept).
PROBE_STEPS = 20_000
PROBE_REPEATS = 5


def probe_us(repeats: int = PROBE_REPEATS) -> float:
    """The median time (us) of ``repeats`` runs of a fixed loop of :data:`PROBE_STEPS` dict and integer
    steps, the kind of work a forward's host side does (about 1.6 to 2 ms a run on a 2026 server core)."""
    times = []
    for _ in range(max(repeats, 1)):
        t = time.perf_counter_ns()
        table: Dict[int, int] = {}
        for i in range(PROBE_STEPS):
            table[i & 255] = table.get(i & 255, 0) + i
        times.append((time.perf_counter_ns() - t) / 1e3)
    return statistics.median(times)


def cpu_model() -> Optional[str]:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``), or None."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def host_info(before_us: Optional[float], after_us: Optional[float]) -> HostInfo:
    """The manifest's ``host``: the CPU, its logical CPUs and the probe's times around the measured steps."""
    return HostInfo(cpu_model=cpu_model(), logical_cpus=os.cpu_count(), probe_before_us=before_us,
                    probe_after_us=after_us)
