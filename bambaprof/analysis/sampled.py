"""Sampled GPU metrics per kernel: Nsight Systems' GPU-metric samples attributed to the kernel that ran alone
on the GPU while they were taken (times in us; values as sampled, in percent of their peak).

A sample describes the interval around its timestamp, from the previous sample to the next (whether its
value covers the interval before or after its timestamp is not recorded, so both are required): it is
attributed to a kernel only when that whole interval lies inside one activity that ran alone on the device
(no other kernel, copy or memset overlapping it). Short kernels get no samples; a kernel's figure is the mean
over its attributed samples, over all its instances. Only a trace with one device and one sampled GPU is
attributed (which sampled GPU is which device is otherwise not known).

Per kernel name: ``sampled_dram_pct`` (DRAM read + write throughput, percent of the DRAM peak),
``sampled_sm_active_pct`` (SMs with work), ``sampled_samples`` (samples attributed, the DRAM metric's).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .kernels import activity_names
from .trace import Trace

DRAM_READ, DRAM_WRITE, SM_ACTIVE = ("DRAM Read Bandwidth [Throughput %]", "DRAM Write Bandwidth [Throughput %]",
                                    "SMs Active [Throughput %]")


def _alone(trace: Trace) -> tuple:
    """Segments of the device's timeline where exactly one activity runs: (starts, ends, activity row), us."""
    gpu = trace.gpu
    n = len(gpu.ts)
    times = np.concatenate([gpu.ts, gpu.ts + gpu.dur])
    delta = np.concatenate([np.ones(n, np.int64), -np.ones(n, np.int64)])
    which = np.concatenate([np.arange(n, dtype=np.int64), -np.arange(n, dtype=np.int64)])
    order = np.lexsort((delta, times))  # at one instant, ends before starts
    times = times[order]
    running, rows = np.cumsum(delta[order]), np.cumsum(which[order])  # rows: the sum of the running activities
    single = (running[:-1] == 1) & (times[1:] > times[:-1])  # ...which, with one running, is that one's row
    return times[:-1][single], times[1:][single], rows[:-1][single]


def _attribute(trace: Trace, seg: tuple, t_us: np.ndarray, values: np.ndarray) -> Dict[str, list]:
    """Samples whose interval (previous to next sample) lies inside one segment, grouped by the kernel table's
    row name of its activity."""
    starts, ends, rows = seg
    if len(t_us) < 3 or not len(starts):
        return {}
    lo, hi = t_us[:-2], t_us[2:]
    j = np.searchsorted(starts, lo, side="right") - 1
    inside = (j >= 0) & (ends[np.maximum(j, 0)] >= hi)
    codes, names = activity_names(trace)
    out: Dict[str, list] = {}
    for row, v in zip(rows[j[inside]].tolist(), values[1:-1][inside].tolist()):
        out.setdefault(names[codes[row]], []).append(v)
    return out


def kernel_samples(trace: Trace) -> Dict[str, Dict[str, Optional[float]]]:
    """``{kernel name: {"sampled_dram_pct", "sampled_sm_active_pct", "sampled_samples"}}`` for the kernels that
    ran alone through at least one sample interval (see the module's description); empty when the trace has no
    samples, more than one device, or no such kernel."""
    samples = trace.meta.get("gpuMetricSamples")
    if not samples or len(trace.gpu) == 0 or len(set(trace.gpu.device.tolist())) != 1:
        return {}
    seg = _alone(trace)
    per = {m: _attribute(trace, seg, samples["t_ns"][m] / 1e3, samples["value"][m]) for m in samples["t_ns"]}
    out: Dict[str, Dict[str, Optional[float]]] = {}
    read, write, sm = per.get(DRAM_READ, {}), per.get(DRAM_WRITE, {}), per.get(SM_ACTIVE, {})
    for name in set(read) | set(write) | set(sm):
        dram = (float(np.mean(read[name])) + float(np.mean(write[name]))) if name in read and name in write else None
        out[name] = {"sampled_dram_pct": dram, "sampled_sm_active_pct": float(np.mean(sm[name])) if name in sm else None,
                     "sampled_samples": len(read.get(name, ())) or len(sm.get(name, ()))}
    return out
