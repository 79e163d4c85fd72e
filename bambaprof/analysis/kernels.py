"""Per-kernel table: time statistics, launch configuration, occupancy, bytes and bandwidth.

One row per normalised kernel name (memcpy and memset rows too). Units: times
in us, bytes in bytes, bandwidth in GB/s (1e9 bytes/s), FLOP rate in TFLOP/s.

- ``share_pct``: the group's share of the summed duration of all GPU activities;
- ``achieved_gbps`` = known bytes / duration of the instances whose bytes are
  known (``bytes_known`` of ``count`` instances), ``pct_of_peak_bw`` against the
  device's peak (see :mod:`bambaprof.analysis.peaks`);
- ``est_occupancy_pct`` is Kineto's estimate (theoretical occupancy capped by the
  grid), reported as is; ``theoretical_occupancy_pct``, ``limiter``, ``waves_per_sm``,
  ``tail_efficiency`` and ``small_grid`` are computed by
  :mod:`bambaprof.analysis.occupancy` for the group's most common launch configuration;
- ``launched_by``: the CPU op (by ``External id``) that launched most instances; ``dtype`` the dtype class
  of its first floating-point input;
- ``floor_us``, ``bound``, ``excess_us``: the roofline (see :mod:`bambaprof.analysis.roofline`).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from .names import normalize_kernel_name
from .occupancy import Occupancy, theoretical_occupancy
from .peaks import PeakBandwidth, PeakCompute
from .roofline import op_dtype, roofline
from .trace import Trace
from .traffic import Traffic, foreach_copy_traffic, launch_args_traffic, metadata_traffic, op_traffic

if TYPE_CHECKING:
    from .launch_map import LaunchMap

#: cuBLAS's split-K reduction kernel (the second kernel of a split-K GEMM).
SPLIT_K_REDUCE = "splitKreduce"


def instance_traffic(trace: Trace, launch_map: Optional["LaunchMap"] = None) -> List[Optional[Traffic]]:
    """Bytes (and FLOPs) of each GPU activity row, or ``None`` when unknown.

    A kernel gets its launching op's traffic when the op launched it alone; cuBLAS's split-K GEMM (the GEMM
    and its reduction) gets the op's traffic on the GEMM. An op that launched several instances of *one*
    kernel (aten splits tensors of more than 2^31 elements into pieces that 32-bit indexing can address) shares
    its traffic among them in proportion to their durations: the op's total is exact, each piece gets the op's
    average bandwidth. Kernels replayed from a CUDA graph take their traffic from ``launch_map`` (see
    :mod:`bambaprof.analysis.launch_map`) where it knows them.
    """
    gpu, ops = trace.gpu, trace.ops
    op_of = trace.op_row_by_external_id
    kinds, exts, durs = gpu.kind.tolist(), gpu.external_id.tolist(), gpu.dur.tolist()
    launched: Dict[int, List[int]] = {}
    for i, (k, e) in enumerate(zip(kinds, exts)):
        if k == "kernel" and e >= 0:
            launched.setdefault(e, []).append(i)
    cache: Dict[int, Optional[Traffic]] = {}
    # the shape model depends only on the op's name and shapes, which rows of one shape share as objects (the
    # loader decodes each distinct shape once): one model call per (name, shape), not per op
    by_shape: Dict[tuple, Optional[Traffic]] = {}
    out: List[Optional[Traffic]] = []
    for i, (kind, ext) in enumerate(zip(kinds, exts)):
        if kind != "kernel":
            b = gpu.bytes[i]
            out.append(Traffic(float(b), None, "trace") if math.isfinite(b) and b > 0 else None)
            continue
        row = op_of.get(ext, -1) if ext >= 0 else -1
        if row < 0:
            out.append(None)
            continue
        siblings = launched[ext]
        if row not in cache:
            t = metadata_traffic(float(ops.kernel_num_gb[row]), float(ops.kernel_flop[row]), ops.kernel_backend[row])
            if t is None and ops.kernel_backend[row] == "triton" and len(siblings) == 1:
                t = launch_args_traffic(ops.input_dims[row], ops.input_types[row])
            if t is None and _one_kernel_or_pieces(gpu.name, siblings):
                dims, types, concrete = ops.input_dims[row], ops.input_types[row], ops.concrete_inputs[row]
                key = (ops.name[row], id(dims), id(types), id(concrete))
                if key not in by_shape:
                    by_shape[key] = op_traffic(ops.name[row], dims, types, concrete)
                t = by_shape[key]
            if t is None and ops.name[row] == "aten::_foreach_copy_" and len(siblings) == 1:
                t = foreach_copy_traffic(ops.input_dims[row], gpu.name[i])
            cache[row] = t
        t = cache[row]
        if t is None or len(siblings) == 1:
            out.append(t)
        elif any(SPLIT_K_REDUCE in gpu.name[j] for j in siblings):
            out.append(None if SPLIT_K_REDUCE in gpu.name[i] else t)
        else:  # pieces of one kernel
            total = sum(durs[j] for j in siblings)
            share = durs[i] / total if total > 0 else 1.0 / len(siblings)
            out.append(Traffic(t.bytes * share, t.flops * share if t.flops is not None else None, t.source))
    if launch_map is not None:
        launch_map.fill(trace, out)
    return out


def _one_kernel_or_pieces(names: List[str], rows: List[int]) -> bool:
    """Whether an op's kernels are one kernel, a split-K GEMM with its reduction, or pieces of one kernel."""
    if len(rows) == 1:
        return True
    split_k = [j for j in rows if SPLIT_K_REDUCE in names[j]]
    if split_k:
        return len(rows) == 2 and len(split_k) == 1
    return len({names[j] for j in rows}) == 1


def activity_names(trace: Trace) -> List[str]:
    """The kernel table's row name of each GPU activity: a kernel's normalised name, else the activity's name."""
    return [normalize_kernel_name(name) if kind == "kernel" else name
            for name, kind in zip(trace.gpu.name, trace.gpu.kind.tolist())]


def _dim_text(d) -> str:
    return "x".join(str(int(v)) for v in d) if min(d) >= 0 else ""


def kernel_table(
    trace: Trace,
    peaks: Dict[int, Optional[PeakBandwidth]],
    launch_us: Optional[np.ndarray] = None,
    compute: Optional[Dict[int, Optional[PeakCompute]]] = None,
    traffic: Optional[List[Optional[Traffic]]] = None,
    names: Optional[List[str]] = None,
) -> List[dict]:
    """Rows of per-kernel statistics, sorted by total time (largest first)."""
    gpu = trace.gpu
    n = len(gpu)
    if n == 0:
        return []
    rocm = trace.platform == "rocm"
    op_of = trace.op_row_by_external_id
    traffic = traffic if traffic is not None else instance_traffic(trace)
    total_time = float(gpu.dur.sum()) or math.nan
    groups: Dict[str, List[int]] = {}
    for i, key in enumerate(names if names is not None else activity_names(trace)):
        groups.setdefault(key, []).append(i)
    occ_cache: Dict[tuple, Optional[Occupancy]] = {}
    rows: List[dict] = []
    for key, idx in groups.items():
        ix = np.asarray(idx)
        durs = gpu.dur[ix]
        first = idx[0]
        kind = str(gpu.kind[first])
        row: dict = {
            "name": key,
            "kind": kind,
            "count": len(idx),
            "total_us": float(durs.sum()),
            "mean_us": float(durs.mean()),
            "median_us": float(np.median(durs)),
            "min_us": float(durs.min()),
            "max_us": float(durs.max()),
            "share_pct": 100.0 * float(durs.sum()) / total_time,
        }
        devices = sorted(set(gpu.device[ix].tolist()))
        row["devices"] = ",".join(str(d) for d in devices)
        configs = Counter(
            (tuple(gpu.grid[i].tolist()), tuple(gpu.block[i].tolist()), int(gpu.registers[i]),
             int(gpu.shared_memory[i]), int(gpu.device[i]))
            for i in idx
        )
        (grid, block, regs, smem, dev), _ = configs.most_common(1)[0]
        row["configs"] = len(configs)
        row["grid"] = _dim_text(grid) if kind == "kernel" else None
        row["block"] = _dim_text(block) if kind == "kernel" else None
        row["registers"] = regs if regs >= 0 else None
        row["shared_memory_bytes"] = smem if smem >= 0 else None
        est = gpu.est_occupancy[ix]
        est = est[np.isfinite(est) & (est > 0)]  # Kineto writes 0 when its estimate failed: unknown
        row["est_occupancy_pct"] = float(est.mean()) if len(est) else None
        occ = None
        row["occupancy_unknown_because"] = None
        if kind == "kernel" and rocm:
            row["occupancy_unknown_because"] = "the occupancy model is NVIDIA's (warps of 32, SM sub-partitions)"
        elif kind == "kernel" and regs < 0:
            row["occupancy_unknown_because"] = "the trace records no register count for this kernel"
        elif kind == "kernel" and dev in trace.devices:
            ck = (dev, grid, block, regs, smem)
            if ck not in occ_cache:
                occ_cache[ck] = theoretical_occupancy(trace.devices[dev], grid, block, regs, smem)
            occ = occ_cache[ck]
        row["theoretical_occupancy_pct"] = 100.0 * occ.theoretical if occ else None
        row["limiter"] = occ.limiter if occ else None
        row["blocks_per_sm"] = occ.blocks_per_sm if occ else None
        row["waves_per_sm"] = occ.waves_per_sm if occ else None
        row["tail_efficiency"] = occ.tail_efficiency if occ else None
        row["small_grid"] = occ.small_grid if occ else None

        known = [i for i in idx if traffic[i] is not None]
        row["bytes_known"] = len(known)
        if known:
            kb = sum(traffic[i].bytes for i in known)
            kd = float(gpu.dur[np.asarray(known)].sum())
            row["bytes"] = kb
            row["bytes_source"] = ",".join(sorted({traffic[i].source for i in known}))
            row["achieved_gbps"] = kb / (kd * 1e3) if kd > 0 else None
            flops = [traffic[i].flops for i in known if traffic[i].flops is not None]
            row["flops"] = float(sum(flops)) if len(flops) == len(known) else None
            row["achieved_tflops"] = row["flops"] / (kd * 1e6) if row["flops"] and kd > 0 else None
            row["intensity_flop_per_byte"] = row["flops"] / kb if row["flops"] and kb > 0 else None
        else:
            row.update(bytes=None, bytes_source=None, achieved_gbps=None, flops=None, achieved_tflops=None,
                       intensity_flop_per_byte=None)
        peak = peaks.get(dev)
        row["peak_gbps"] = peak.gbps if peak else None
        row["peak_source"] = peak.source if peak else None
        row["pct_of_peak_bw"] = (
            100.0 * row["achieved_gbps"] / peak.gbps if peak and row["achieved_gbps"] is not None else None
        )
        launchers = [op_of[e] for e in gpu.external_id[ix].tolist() if e in op_of]
        ops = Counter(trace.ops.name[r] for r in launchers)
        row["launched_by"] = ops.most_common(1)[0][0] if ops else None
        dtypes = Counter(d for d in (op_dtype(trace.ops.input_types[r]) for r in launchers[:64]) if d)
        row["dtype"] = dtypes.most_common(1)[0][0] if dtypes else None
        row.update(roofline(row, peak, (compute or {}).get(dev), row["dtype"]))
        if launch_us is not None:
            lu = launch_us[ix]
            lu = lu[np.isfinite(lu)]
            row["launch_median_us"] = float(np.median(lu)) if len(lu) else None
        rows.append(row)
    rows.sort(key=lambda r: r["total_us"], reverse=True)
    return rows
