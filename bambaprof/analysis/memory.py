"""Peak allocator memory from the ``[memory]`` events (``profile_memory=True``)."""

from __future__ import annotations

from typing import List

import numpy as np

from .trace import Trace

#: c10 DeviceType codes Kineto writes in ``Device Type``.
DEVICE_TYPES = {0: "cpu", 1: "cuda", 8: "hip", 13: "xpu"}


def memory_peaks(trace: Trace) -> List[dict]:
    """Per device: peak ``Total Allocated`` and ``Total Reserved`` (bytes) and sample count."""
    mem = trace.memory
    rows = []
    for dtype, did in sorted(set(zip(mem.device_type.tolist(), mem.device_id.tolist()))):
        sel = (mem.device_type == dtype) & (mem.device_id == did)
        alloc, res = mem.allocated[sel], mem.reserved[sel]
        alloc, res = alloc[np.isfinite(alloc)], res[np.isfinite(res)]
        rows.append({
            "device": f"{DEVICE_TYPES.get(dtype, f'type{dtype}')}:{did}",
            "peak_allocated_bytes": float(alloc.max()) if len(alloc) else None,
            "peak_reserved_bytes": float(res.max()) if len(res) else None,
            "samples": int(sel.sum()),
        })
    return rows
