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
  :mod:`bambaprof.analysis.occupancy` for the group's most common launch configuration, and with them what one
  more block an SM would take (``one_more_block_registers`` a thread, ``one_more_block_shared_memory_bytes`` a
  block, None where that resource allows it already; ``one_more_block_blocks`` and ``one_more_block_occupancy_pct``
  at those budgets; all None where the warp or block-slot limit stops it); ``partial_wave_us`` and
  ``partial_wave_min_us``, over every configuration, the most and the least time its grids' partial last waves may
  take (see :func:`_partial_wave_us`);
- ``launched_by``: the CPU op (by ``External id``) that launched most instances; ``dtype`` the dtype class
  of its first floating-point input;
- ``floor_us``, ``bound``, ``excess_us``: the roofline (see :mod:`bambaprof.analysis.roofline`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from itertools import count
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from .names import normalize_kernel_name
from .occupancy import Occupancy, OneMoreBlock, one_more_block, theoretical_occupancy
from .peaks import PeakBandwidth, PeakCompute
from .roofline import op_dtype, roofline
from .trace import Trace, value_codes
from .traffic import Traffic, TrafficColumns, foreach_copy_traffic, launch_args_traffic, metadata_traffic, op_traffic

if TYPE_CHECKING:
    from .launch_map import LaunchMap

#: cuBLAS's split-K reduction kernel (the second kernel of a split-K GEMM).
SPLIT_K_REDUCE = "splitKreduce"
#: What names a copy within one device (``Memcpy DtoD (Device -> Device)``): it reads its bytes from DRAM and
#: writes them back, so its DRAM traffic is twice its size (as the measured copy ceiling counts it). Checked on
#: the H200 against Nsight Systems' sampled DRAM throughput: 5 copies of 4 GiB in 10.06 ms, 2 x 21.5 GB / 10.06
#: ms = 4,270 GB/s = 88.7% of 4,814 GB/s, sampled read + write 88.5%.
DEVICE_TO_DEVICE = "DtoD"


def instance_traffic(trace: Trace, launch_map: Optional["LaunchMap"] = None) -> TrafficColumns:
    """Bytes (and FLOPs) of each GPU activity row, unknown where no model knows them.

    A kernel gets its launching op's traffic when the op launched it alone; cuBLAS's split-K GEMM (the GEMM
    and its reduction) gets the op's traffic on the GEMM. An op that launched several instances of *one*
    kernel (aten splits tensors of more than 2^31 elements into pieces that 32-bit indexing can address) shares
    its traffic among them in proportion to their durations: the op's total is exact, each piece gets the op's
    average bandwidth. Kernels replayed from a CUDA graph take their traffic from ``launch_map`` (see
    :mod:`bambaprof.analysis.launch_map`) where it knows them.
    """
    gpu = trace.gpu
    out = TrafficColumns(len(gpu))
    other = np.flatnonzero((gpu.kind != "kernel") & np.isfinite(gpu.bytes) & (gpu.bytes > 0))
    if len(other):  # memcpys and memsets: the bytes the trace gives, a copy within a device's DRAM twice
        within = np.fromiter((DEVICE_TO_DEVICE in gpu.name[i] for i in other.tolist()), bool, len(other))
        out.bytes[other] = gpu.bytes[other] * np.where(within, 2.0, 1.0)
        out.source[other] = out.source_code("trace")
    op_row = trace.gpu_op_row
    launched = np.flatnonzero((gpu.kind == "kernel") & (op_row >= 0))
    if len(launched):
        _, which, siblings = np.unique(gpu.external_id[launched], return_inverse=True, return_counts=True)
        alone = siblings[which.reshape(-1)] == 1
        _fill_alone(trace, out, launched[alone], op_row[launched[alone]])
        _fill_shared(trace, out, launched[~alone], op_row[launched[~alone]])
    if launch_map is not None:
        launch_map.fill(trace, out)
    return out


def _op_kernel_traffic(trace: Trace, row: int, kernel: int, siblings: List[int]) -> Optional[Traffic]:
    """The traffic of op ``row``'s kernels (``kernel`` one of them; ``siblings`` all GPU rows it launched)."""
    gpu, ops = trace.gpu, trace.ops
    t = metadata_traffic(float(ops.kernel_num_gb[row]), float(ops.kernel_flop[row]), ops.kernel_backend[row])
    if t is None and ops.kernel_backend[row] == "triton" and len(siblings) == 1:
        t = launch_args_traffic(ops.input_dims[row], ops.input_types[row])
    if t is None and _one_kernel_or_pieces(gpu.name, siblings):
        t = op_traffic(ops.name[row], ops.input_dims[row], ops.input_types[row], ops.concrete_inputs[row])
    if t is None and ops.name[row] == "aten::_foreach_copy_" and len(siblings) == 1:
        t = foreach_copy_traffic(ops.input_dims[row], gpu.name[kernel])
    return t


def _fill_alone(trace: Trace, out: TrafficColumns, kernels: np.ndarray, rows: np.ndarray) -> None:
    """Kernels that their op launched alone: the op's traffic. It depends only on the op's name, shapes
    (rows of one shape share its objects: the loader decodes each distinct shape once), metadata and the
    kernel's name, so it is computed once per distinct such signature."""
    gpu, ops = trace.gpu, trace.ops
    r = rows.tolist()
    signature = zip(map(ops.name.__getitem__, r), map(id, map(ops.input_dims.__getitem__, r)),
                    map(id, map(ops.input_types.__getitem__, r)), map(id, map(ops.concrete_inputs.__getitem__, r)),
                    ops.kernel_num_gb[rows].view(np.int64).tolist(),  # bit patterns: nan equals nan
                    ops.kernel_flop[rows].view(np.int64).tolist(),
                    map(ops.kernel_backend.__getitem__, r), map(id, map(gpu.name.__getitem__, kernels.tolist())))
    codes: Dict[tuple, int] = defaultdict(count().__next__)
    sig = np.fromiter(map(codes.__getitem__, signature), np.int64, len(r))
    _, first = np.unique(sig, return_index=True)
    per_code = [_op_kernel_traffic(trace, r[j], int(kernels[j]), [int(kernels[j])]) for j in first.tolist()]
    out.put(kernels, sig, per_code)


def _fill_shared(trace: Trace, out: TrafficColumns, kernels: np.ndarray, rows: np.ndarray) -> None:
    """Kernels that share their op with others: a split-K GEMM (the traffic on the GEMM) or pieces of one
    kernel (the op's traffic shared in proportion to duration); anything else is unknown. The op's traffic is
    computed once per distinct signature (as in :func:`_fill_alone`, with the names of all its kernels)."""
    if not len(kernels):
        return
    gpu, ops = trace.gpu, trace.ops
    order = np.lexsort((kernels, rows))
    kernels, rows = kernels[order], rows[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    bounds = np.r_[starts, len(rows)].tolist()
    gb, flop = ops.kernel_num_gb.view(np.int64), ops.kernel_flop.view(np.int64)  # bit patterns: nan equals nan
    per_signature: Dict[tuple, Optional[Traffic]] = {}
    share = np.full(len(kernels), np.nan)  # each kernel's share of its op's traffic
    traffic_of: List[Optional[Traffic]] = []
    durs = gpu.dur[kernels]
    split_k = np.fromiter((SPLIT_K_REDUCE in gpu.name[i] for i in kernels.tolist()), bool, len(kernels))
    for a, b in zip(bounds[:-1], bounds[1:]):
        row = int(rows[a])
        siblings = kernels[a:b].tolist()
        signature = (ops.name[row], id(ops.input_dims[row]), id(ops.input_types[row]),
                     id(ops.concrete_inputs[row]), int(gb[row]), int(flop[row]), ops.kernel_backend[row],
                     tuple(id(gpu.name[j]) for j in siblings))
        if signature not in per_signature:
            per_signature[signature] = _op_kernel_traffic(trace, row, siblings[0], siblings)
        traffic_of.append(per_signature[signature])
        if split_k[a:b].any():  # the GEMM carries the traffic, its reduction none
            share[a:b] = np.where(split_k[a:b], np.nan, 1.0)
        else:
            total = float(durs[a:b].sum())
            share[a:b] = durs[a:b] / total if total > 0 else 1.0 / (b - a)
    group = np.repeat(np.arange(len(traffic_of)), np.diff(bounds))
    known = np.array([t is not None for t in traffic_of], dtype=bool)[group] & ~np.isnan(share)
    k = kernels[known]
    out.put(k, group[known], traffic_of)  # the op's traffic, then each kernel's share of it
    out.bytes[k] *= share[known]
    out.flops[k] *= share[known]


def _one_kernel_or_pieces(names: List[str], rows: List[int]) -> bool:
    """Whether an op's kernels are one kernel, a split-K GEMM with its reduction, or pieces of one kernel."""
    if len(rows) == 1:
        return True
    split_k = [j for j in rows if SPLIT_K_REDUCE in names[j]]
    if split_k:
        return len(rows) == 2 and len(split_k) == 1
    return len({names[j] for j in rows}) == 1


def activity_names(trace: Trace) -> Tuple[np.ndarray, List[str]]:
    """The kernel table's row name of each GPU activity (a kernel's normalised name, else the activity's name)
    as codes into distinct names, numbered in order of first appearance: ``(codes, names)``."""
    cached = trace.memo.get("activity_names")
    if cached is not None:
        return cached
    codes, distinct = value_codes(trace, "gpu.name")
    m = len(distinct)
    # each (is a kernel, raw name) pair -> its row name; pairs that name the same row share a code
    row_name = [normalize_kernel_name(name) for name in distinct] + list(distinct)
    pair = np.where(trace.gpu.kind == "kernel", codes, codes + m) if len(codes) else np.zeros(0, dtype=np.int64)
    used, first = np.unique(pair, return_index=True)
    code_of: Dict[str, int] = {}
    pair_code = np.full(2 * m, -1, dtype=np.int64)
    for p in used[np.argsort(first, kind="stable")].tolist():  # in order of first appearance
        pair_code[p] = code_of.setdefault(row_name[p], len(code_of))
    out = (pair_code[pair], list(code_of))
    trace.memo["activity_names"] = out
    return out


def _config(config: list) -> Tuple[tuple, tuple, int, int, int]:
    """A launch configuration's row of the kernel table's launch columns as (grid, block, registers, shared memory,
    device)."""
    return tuple(config[0:3]), tuple(config[3:6]), config[6], config[7], config[8]


def _occupancy(trace: Trace, cache: Dict[tuple, Optional[Occupancy]], dev: int, grid: tuple, block: tuple, regs: int,
               smem: int) -> Optional[Occupancy]:
    """The theoretical occupancy of a launch configuration, once each (``cache``); None for a device the trace does
    not describe."""
    if dev not in trace.devices:
        return None
    key = (dev, grid, block, regs, smem)
    if key not in cache:
        cache[key] = theoretical_occupancy(trace.devices[dev], grid, block, regs, smem)
    return cache[key]


def _partial_wave_us(trace: Trace, config_time: List[Tuple[list, float]],
                     occ_cache: Dict[tuple, Optional[Occupancy]]) -> Tuple[float, float]:
    """How much of a kernel's time (us) its grids' partial last waves may take: ``(most, least)``, summed over its
    launch configurations of more than one wave (``waves_per_sm`` over 1; configurations whose occupancy is unknown
    add nothing). Both assume blocks of equal work, and bound the two ways an SM can run them:

    - ``most``, blocks whose speed does not depend on how many share the SM (latency-bound blocks): the launch takes
      ``ceil(waves)`` waves' time for ``waves`` waves' work, so ``1 - waves / ceil(waves)`` of it is the last wave's
      empty slots (1.25 waves: up to 37.5%);
    - ``least``, blocks that share their SM's throughput: an SM's time is its count of blocks, and the launch takes
      the busiest SM's, ``ceil(blocks / SMs)``, for ``blocks / SMs``.

    The second is never more than the first (the same quantisation, at a finer grain); they are equal at one block an
    SM."""
    most = least = 0.0
    for config, time_us in config_time:
        grid, block, regs, smem, dev = _config(config)
        occ = _occupancy(trace, occ_cache, dev, grid, block, regs, smem) if regs >= 0 else None
        if occ is None or not math.isfinite(occ.waves_per_sm) or occ.waves_per_sm <= 1.0:
            continue
        most += time_us * (1.0 - occ.tail_efficiency)
        per_sm = occ.waves_per_sm * occ.blocks_per_sm  # blocks / SMs
        least += time_us * (1.0 - per_sm / math.ceil(per_sm))
    return most, least


def _dim_text(d) -> str:
    return "x".join(str(int(v)) for v in d) if min(d) >= 0 else ""


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty array, without its overhead for one or two values (most names of a large
    trace launch once)."""
    if len(values) == 1:
        return float(values[0])
    if len(values) == 2:
        return float((values[0] + values[1]) / 2)
    return float(np.median(values))


def kernel_table(
    trace: Trace,
    peaks: Dict[int, Optional[PeakBandwidth]],
    launch_us: Optional[np.ndarray] = None,
    compute: Optional[Dict[int, Optional[PeakCompute]]] = None,
    traffic: Optional[TrafficColumns] = None,
    names: Optional[Tuple[np.ndarray, List[str]]] = None,
) -> List[dict]:
    """Rows of per-kernel statistics, sorted by total time (largest first)."""
    gpu = trace.gpu
    n = len(gpu)
    if n == 0:
        return []
    nvidia = trace.platform == "cuda"  # the occupancy model is NVIDIA's
    op_row = trace.gpu_op_row
    traffic = traffic if traffic is not None else instance_traffic(trace)
    total_time = float(gpu.dur.sum()) or math.nan
    group, group_of = names if names is not None else activity_names(trace)  # row names, first seen first
    by_group = np.argsort(group, kind="stable")  # each group's rows, in row order
    bounds = np.searchsorted(group[by_group], np.arange(len(group_of) + 1)).tolist()
    occ_cache: Dict[tuple, Optional[Occupancy]] = {}
    more_cache: Dict[tuple, Optional[OneMoreBlock]] = {}
    rows: List[dict] = []
    # every row's launch configuration (grid, block, registers, shared memory, device), and which rows' traffic
    # is known, built once: the loop below runs once per distinct name (tens of thousands in a large compiled model)
    launch_all = np.column_stack((gpu.grid, gpu.block, gpu.registers, gpu.shared_memory, gpu.device))
    known_all = traffic.known
    for g, key in enumerate(group_of):
        ix = by_group[bounds[g]:bounds[g + 1]]
        durs = gpu.dur[ix]
        first = int(ix[0])
        kind = str(gpu.kind[first])
        total = float(durs.sum())
        row: dict = {
            "name": key,
            "kind": kind,
            "count": len(ix),
            "total_us": total,
            "mean_us": total if len(ix) == 1 else float(durs.mean()),
            "median_us": _median(durs),
            "min_us": float(durs.min()),
            "max_us": float(durs.max()),
            "share_pct": 100.0 * total / total_time,
        }
        launch = launch_all[ix]
        row["devices"] = ",".join(str(d) for d in sorted(set(launch[:, 8].tolist())))
        # the most common launch configuration, the earliest seen among equals
        if len(ix) == 1 or (launch == launch[0]).all():
            common, row["configs"] = launch[0].tolist(), 1
            config_time = [(common, total)]
        else:
            configs, first_seen, which, seen = np.unique(launch, axis=0, return_index=True, return_inverse=True,
                                                         return_counts=True)
            common = configs[min(np.flatnonzero(seen == seen.max()), key=lambda c: first_seen[c])].tolist()
            row["configs"] = len(configs)
            config_time = list(zip(configs.tolist(), np.bincount(which.ravel(), weights=durs).tolist()))
        grid, block, regs, smem, dev = _config(common)
        row["grid"] = _dim_text(grid) if kind == "kernel" else None
        row["block"] = _dim_text(block) if kind == "kernel" else None
        row["registers"] = regs if regs >= 0 else None
        row["shared_memory_bytes"] = smem if smem >= 0 else None
        est = gpu.est_occupancy[ix]
        est = est[np.isfinite(est) & (est > 0)]  # Kineto writes 0 when its estimate failed: unknown
        row["est_occupancy_pct"] = (float(est[0]) if len(est) == 1 else float(est.mean())) if len(est) else None
        occ = more = None
        row["occupancy_unknown_because"] = None
        if kind == "kernel" and not nvidia:
            row["occupancy_unknown_because"] = "the occupancy model is NVIDIA's (warps of 32, SM sub-partitions)"
        elif kind == "kernel" and regs < 0:
            row["occupancy_unknown_because"] = "the trace records no register count for this kernel"
        elif kind == "kernel" and dev in trace.devices:
            occ = _occupancy(trace, occ_cache, dev, grid, block, regs, smem)
            ck = (dev, block, regs, smem)
            if ck not in more_cache:
                more_cache[ck] = one_more_block(trace.devices[dev], block, regs, smem)
            more = more_cache[ck]
        row["theoretical_occupancy_pct"] = 100.0 * occ.theoretical if occ else None
        row["limiter"] = occ.limiter if occ else None
        row["blocks_per_sm"] = occ.blocks_per_sm if occ else None
        row["waves_per_sm"] = occ.waves_per_sm if occ else None
        row["tail_efficiency"] = occ.tail_efficiency if occ else None
        row["small_grid"] = occ.small_grid if occ else None
        row["partial_wave_us"], row["partial_wave_min_us"] = _partial_wave_us(trace, config_time, occ_cache) \
            if kind == "kernel" and nvidia and occ else (None, None)
        # what one more block an SM would take: registers a thread and shared memory a block (None: no change)
        row["one_more_block_blocks"] = more.blocks_per_sm if more else None
        row["one_more_block_occupancy_pct"] = 100.0 * more.theoretical if more else None
        row["one_more_block_registers"] = more.max_registers if more else None
        row["one_more_block_shared_memory_bytes"] = more.max_shared_memory if more else None

        known = ix[known_all[ix]]
        row["bytes_known"] = len(known)
        if len(known):
            kb = float(traffic.bytes[known].sum())
            kd = float(gpu.dur[known].sum())
            row["bytes"] = kb
            row["bytes_source"] = ",".join(sorted({traffic.sources[c] for c in set(traffic.source[known].tolist())}))
            row["achieved_gbps"] = kb / (kd * 1e3) if kd > 0 else None
            flops = traffic.flops[known]
            row["flops"] = float(flops.sum()) if not np.isnan(flops).any() else None
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
        launchers = [r for r in op_row[ix].tolist() if r >= 0]
        ops = Counter(map(trace.ops.name.__getitem__, launchers))
        row["launched_by"] = ops.most_common(1)[0][0] if ops else None
        dtypes = Counter(d for d in (op_dtype(trace.ops.input_types[r]) for r in launchers[:64]) if d)
        row["dtype"] = dtypes.most_common(1)[0][0] if dtypes else None
        row.update(roofline(row, peak, (compute or {}).get(dev), row["dtype"]))
        if launch_us is not None:
            lu = launch_us[ix]
            lu = lu[np.isfinite(lu)]
            row["launch_median_us"] = _median(lu) if len(lu) else None
        rows.append(row)
    rows.sort(key=lambda r: r["total_us"], reverse=True)
    return rows
