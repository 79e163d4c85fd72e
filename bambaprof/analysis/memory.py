"""Peak allocator memory from the ``[memory]`` events (``profile_memory=True``), and where each peak was reached.

A ``[memory]`` event is written by the thread that (de)allocated, right after, with the allocator's totals. The
event of a device's highest ``Total Allocated`` is its peak: the innermost CPU operator open on that thread at
that time allocated the last bytes of the peak (``peak_op``), inside the profiler range path (``peak_phase``)
and nn.Module call path (``peak_module``, ``with_stack`` traces) open there; ``peak_at_us`` is its time from
the trace's start. Each is ``None`` where the trace does not say.
"""

from __future__ import annotations

from typing import List

import numpy as np

from .modules import NO_MODULE, module_ranges
from .phases import UNATTRIBUTED, annotation_ranges, innermost_op_at, paths_at
from .trace import Trace

#: c10 DeviceType codes Kineto writes in ``Device Type``.
DEVICE_TYPES = {0: "cpu", 1: "cuda", 8: "hip", 13: "xpu"}


def memory_peaks(trace: Trace) -> List[dict]:
    """Per device: peak ``Total Allocated`` and ``Total Reserved`` (bytes), sample count, and where the
    allocated peak was reached (see the module docstring)."""
    mem = trace.memory
    rows = []
    peaks: List[int] = []  # the sample of each row's allocated peak, -1 when none
    for dtype, did in sorted(set(zip(mem.device_type.tolist(), mem.device_id.tolist()))):
        sel = (mem.device_type == dtype) & (mem.device_id == did)
        alloc, res = mem.allocated[sel], mem.reserved[sel]
        finite = np.isfinite(alloc)
        rows.append({
            "device": f"{DEVICE_TYPES.get(dtype, f'type{dtype}')}:{did}",
            "peak_allocated_bytes": float(alloc[finite].max()) if finite.any() else None,
            "peak_reserved_bytes": float(res[np.isfinite(res)].max()) if np.isfinite(res).any() else None,
            "samples": int(sel.sum()),
        })
        members = np.flatnonzero(sel)
        peaks.append(int(members[np.flatnonzero(finite)[np.argmax(alloc[finite])]]) if finite.any() else -1)
    located = [(mem.tid[i], float(mem.ts[i])) for i in peaks if i >= 0 and np.isfinite(mem.ts[i])]
    if located:
        op = innermost_op_at(trace, located)
        phase = paths_at(annotation_ranges(trace), located, UNATTRIBUTED)
        module = paths_at(module_ranges(trace), located, NO_MODULE) if len(trace.modules) else [None] * len(located)
    start = trace.span_us[0]
    k = 0
    for row, i in zip(rows, peaks):
        row.update(peak_at_us=None, peak_op=None, peak_phase=None, peak_module=None)
        if i < 0 or not np.isfinite(mem.ts[i]):
            continue
        row.update(peak_at_us=float(mem.ts[i]) - start if np.isfinite(start) else None, peak_op=op[k],
                   peak_phase=phase[k], peak_module=module[k])
        k += 1
    return rows
