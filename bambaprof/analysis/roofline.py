"""The roofline floor of each kernel, what bounds it, and how far above it the kernel runs.

For a kernel (all instances of one normalised name) whose bytes are known for every instance:

- ``floor_us`` = max(bytes / peak bandwidth, FLOPs / peak FLOP/s of its dtype): no implementation of the same
  work runs faster on this device (bytes are the compulsory traffic, so an L2-resident kernel can beat its
  floor: its ``excess_us`` is then negative; bytes from ``launch args`` are an upper bound, so a floor built
  on them may sit above the true one, and its excess is then a lower bound);
- ``bound``: ``latency`` when the kernel cannot fill the GPU (fewer blocks than SMs, or instances shorter
  than :data:`LATENCY_US` on average), else ``compute`` when the FLOP term is the larger, else ``memory``;
  ``unknown`` when bytes or the device's peaks are not known;
- ``excess_us`` = time - floor: the time at stake.

Peaks come from :mod:`bambaprof.analysis.peaks`; a kernel's dtype is that of its launching op's first
floating-point input (unknown: the highest 16-bit rate, so the floor stays a lower bound).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .peaks import PeakBandwidth, PeakCompute

#: Instances shorter than this on average (us) are launch/latency-bound: neither ceiling is reachable.
LATENCY_US = 5.0

_DTYPES = {"c10::BFloat16": "bf16", "bfloat16": "bf16", "c10::Half": "fp16", "half": "fp16", "float": "fp32",
           "double": "fp64", "c10::Float8_e4m3fn": "fp8", "c10::Float8_e5m2": "fp8"}


def op_dtype(types: Any) -> Optional[str]:
    """The dtype class (``bf16``, ``fp16``, ``fp32``, ``fp64``, ``fp8``) of an op's first floating-point input."""
    if not isinstance(types, list):
        return None
    return next((_DTYPES[t] for t in types if isinstance(t, str) and t in _DTYPES), None)


def floor_time_us(bytes_: float, flops: Optional[float], gbps: float, tflops: Optional[float]) -> float:
    """The roofline floor (us) of work moving ``bytes_`` and computing ``flops``: bytes at ``gbps`` (GB/s) or
    FLOPs at ``tflops`` (TFLOP/s), the longer; the FLOP term is left out where either is unknown."""
    return floor_from_terms(bytes_ / (gbps * 1e3), flops, tflops)


def floor_from_terms(bytes_us: float, flops: Optional[float], tflops: Optional[float]) -> float:
    """The roofline floor (us) from its bytes term already in time (``bytes_us``: bytes at the peak bandwidth) and
    ``flops`` at ``tflops`` (TFLOP/s), the longer; the FLOP term is left out where either is unknown. A kernel row
    keeps the first as ``floor_bytes_us``, so a floor at another FLOP rate (float32-matmul's TF32) needs no
    bandwidth."""
    t_flops = flops / (tflops * 1e6) if flops and tflops else 0.0
    return max(bytes_us, t_flops)


def roofline(row: Dict[str, Any], bandwidth: Optional[PeakBandwidth], compute: Optional[PeakCompute],
             dtype: Optional[str]) -> Dict[str, Any]:
    """``floor_us``, its two terms, ``bound`` and ``excess_us`` of one kernel row (see the module docstring)."""
    out: Dict[str, Any] = {"floor_us": None, "floor_bytes_us": None, "floor_flops_us": None, "bound": "unknown",
                           "excess_us": None, "peak_tflops": None}
    if row.get("kind") != "kernel" or bandwidth is None or row.get("bytes") is None \
            or row.get("bytes_known") != row.get("count"):
        return out
    t_bytes = row["bytes"] / (bandwidth.gbps * 1e3)
    tflops = compute.for_dtype(dtype) if compute is not None else None
    t_flops = row["flops"] / (tflops * 1e6) if row.get("flops") and tflops else None
    floor = max(t_bytes, t_flops or 0.0)
    small = bool(row.get("small_grid")) or row["mean_us"] < LATENCY_US
    bound = "latency" if small else ("compute" if t_flops is not None and t_flops > t_bytes else "memory")
    out.update(floor_us=floor, floor_bytes_us=t_bytes, floor_flops_us=t_flops, bound=bound,
               excess_us=row["total_us"] - floor, peak_tflops=tflops)
    return out


def run_floor(kernels: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Over a run's kernels: the summed floor (us), the kernel time it judges (us) and its share of all kernel
    time (%), and how many times above the floor that time is."""
    rows = [k for k in kernels if k.get("kind") == "kernel"]
    total = sum(k["total_us"] for k in rows)
    judged = [k for k in rows if k.get("floor_us") is not None]
    floor = sum(k["floor_us"] for k in judged)
    judged_us = sum(k["total_us"] for k in judged)
    return {"floor_us": floor if judged else None, "floor_judged_us": judged_us,
            "floor_coverage_pct": 100.0 * judged_us / total if total > 0 else None,
            "above_floor_x": judged_us / floor if floor > 0 else None}
