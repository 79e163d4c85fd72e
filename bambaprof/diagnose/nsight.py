"""Rules on Nsight Compute's figures beside the trace (``analyze --ncu``): DRAM bytes, warp states, the units'
speed of light.

Each rule returns one :class:`~.finding.Finding` per kernel it names; its thresholds are the named constants here
(in the README).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterator, List

from ..analysis.names import normalize_kernel_name
from ..analysis.ncu import STALL_REASONS
from ..render.tables import kernel_label
from .finding import (
    Finding,
    far_from_floor,
    gpu_window_us,
    kernel_rows,
    kernel_total,
    launches_text,
    severity_of,
    us_text,
)

#: dram-overfetch (needs Nsight Compute's DRAM bytes, ``analyze --ncu``): a kernel of at least this share of kernel
#: time, at least FAR_FROM_ROOFLINE_X above its floor, whose measured DRAM bytes (read + write) are at least this many
#: times the bytes its inputs and outputs hold, over at least this many derived bytes (its matched launches together).
DRAM_OVERFETCH_X = 1.5
DRAM_OVERFETCH_MIN_SHARE_PCT = 5.0
DRAM_OVERFETCH_MIN_BYTES = 64e6
#: warp-stalls (needs Nsight Compute's warp states, ``analyze --ncu`` of a run with WarpStateStats): a kernel of at
#: least this share of kernel time, not near its floor, whose schedulers issue in under this share of their cycles
#: (where ncu gives the issue rate), and one stall reason takes at least this share of a warp's cycles between issues.
WARP_STALL_MIN_SHARE_PCT = 5.0
WARP_STALL_MAX_ISSUE_RATE = 0.6
WARP_STALL_REASON_PCT = 25.0
#: What to try for a kernel whose warps wait mostly in each state.
WARP_STALL_ADVICE = {
    "long_scoreboard": "Load earlier and deeper: more pipeline stages or asynchronous copies (cp.async, TMA) issued "
                       "tiles ahead of their use, more warps an SM to hide the latency (fewer registers or less shared "
                       "memory a block), and no spilled registers (local memory is global memory).",
    "barrier": "Fewer block-wide barriers: producer/consumer mbarriers instead of a barrier per tile, even work "
               "among the warps of a block, and more blocks an SM so that one waiting block leaves others to run.",
    "short_scoreboard": "Fewer shared-memory round trips and special-function instructions: keep reused values in "
                        "registers, avoid bank conflicts (swizzled layouts), and take exponentials out of the inner loop "
                        "where a factor a row or column will do (exp(a - b) = exp(a) exp(-b) within range).",
    "wait": "More independent work between dependent instructions: unroll, interleave two tiles, or give the "
            "scheduler more warps.",
    "mio_throttle": "Wider shared-memory accesses (ldmatrix, 128-bit) and fewer special-function instructions: the "
                    "queue they share is full.",
    "lg_throttle": "Fewer, wider global memory instructions (vectorised 128-bit loads and stores, TMA): the queue "
                   "of local and global memory instructions is full.",
    "membar": "Fewer memory fences: hand data between blocks through fewer, larger releases.",
    "math_pipe_throttle": "The math pipe is the limit: fewer instructions for the same work (packed bf16x2, tensor "
                          "cores where a product hides in elementwise code).",
}
#: cache-bound (needs Nsight Compute's Speed Of Light section, ``analyze --ncu``): a kernel of at least this share of
#: kernel time, not near its floor, whose busiest unit is L2 or L1/TEX at least this busy (% of its peak) while DRAM
#: is under this share of its peak.
CACHE_BOUND_MIN_SHARE_PCT = 5.0
CACHE_BOUND_PCT = 80.0
CACHE_BOUND_MAX_DRAM_PCT = 60.0
#: What to try for a kernel held by each cache's bandwidth.
CACHE_BOUND_ADVICE = {
    "L2": "Read shared data from L2 once for several programs: more work a program (several heads, rows or tiles a "
          "block, so that one load of a shared tile serves them all), thread-block clusters with TMA multicast or "
          "distributed shared memory on Hopper, and a launch order that runs the programs sharing a tile together; "
          "fewer bytes an element for what is re-read (bf16 rather than fp32 intermediates).",
    "L1": "Fewer L1/shared-memory wavefronts for the same data: swizzled shared layouts without bank conflicts, "
          "coalesced 128-bit accesses, ldmatrix for tensor-core operands, and values reused by a thread kept in "
          "registers.",
}


def dram_overfetch(a: Any) -> List[Finding]:
    measured: Dict[str, List[float]] = {}  # kernel -> [derived bytes, ncu DRAM bytes, launches]
    for r in getattr(a, "ncu", None) or []:
        derived, dram = r.get("derived_bytes"), r.get("ncu_dram_bytes")
        # a launch of another grid or block did other work: its DRAM bytes are not this launch's
        if r.get("matched") and r.get("same_launch") is not False \
                and isinstance(derived, (int, float)) and isinstance(dram, (int, float)) \
                and math.isfinite(derived) and math.isfinite(dram) and derived > 0 and dram >= 0:
            m = measured.setdefault(normalize_kernel_name(str(r["name"])), [0.0, 0.0, 0])
            m[0] += derived
            m[1] += dram
            m[2] += 1
    total = kernel_total(a)
    out = []
    for k in kernel_rows(a):
        derived, dram, launches = measured.get(k["name"], (0.0, 0.0, 0))
        if derived < DRAM_OVERFETCH_MIN_BYTES or dram < DRAM_OVERFETCH_X * derived or total <= 0 \
                or 100.0 * k["total_us"] / total < DRAM_OVERFETCH_MIN_SHARE_PCT:
            continue
        if not far_from_floor(k):
            continue  # near its roofline (or no floor to say): the extra traffic does not hold it back
        msg = (f"{kernel_label(k['name'], 60)} moved {dram / 1e9:,.2f} GB of DRAM in the Nsight Compute run, "
               f"{dram / derived:.1f}x the {derived / 1e9:,.2f} GB its inputs and outputs hold ({launches} launches "
               f"matched); it takes {us_text(k['total_us'])}, {k['total_us'] / k['floor_us']:.1f}x its floor: data it "
               "reuses leaves L2 before the reuse.")
        out.append(Finding("dram-overfetch", severity_of(k["total_us"], gpu_window_us(a)), msg,
                           [{"kernel": k["name"], "ncu_dram_bytes": dram, "derived_bytes": derived,
                             "ratio": dram / derived, "launches": launches, "time_us": k["total_us"]}],
                           "Order its blocks so that the ones sharing data (tiles of one operand, the steps of one "
                           "chain) run close together in launch order (grouped or swizzled tiles), keep buffers that "
                           "blocks hand each other small, and mark data used once evict_first.", None))
    return out


def _issue_bound(a: Any, row: Dict[str, Any], rate: float, cycles: float, launches: int, total: float) -> Finding:
    msg = (f"{kernel_label(row['name'], 60)}: its schedulers issue an instruction in {100.0 * rate:.0f}% of their "
           f"cycles in the Nsight Compute run, yet it takes {us_text(row['total_us'])}, "
           f"{row['total_us'] / row['floor_us']:.1f}x its floor ({100.0 * row['total_us'] / total:.0f}% of kernel "
           f"time, {launches_text(launches)}): it is bound by the instructions it executes, not by waiting.")
    return Finding("issue-bound", severity_of(row["total_us"], gpu_window_us(a)), msg,
                   [{"kernel": row["name"], "issue_rate": rate, "cycles_per_issue": cycles, "launches": launches,
                     "time_us": row["total_us"], "floor_us": row["floor_us"]}],
                   "Fewer instructions for the same work: vectorised (128-bit) loads and stores, 32-bit index "
                   "arithmetic, more elements a thread so that address math is shared, tensor cores for products "
                   "hidden in elementwise code, and its neighbours fused into it so that their loads and stores go.",
                   None)


def _ncu_kernels(a: Any, per_kernel: Dict[str, Dict[str, Any]], min_share_pct: float) -> Iterator[tuple]:
    """``(row, figures, kernel time us)`` for each kernel row of ``a`` with Nsight Compute figures in ``per_kernel``
    (by normalised name) that holds at least ``min_share_pct`` of kernel time and is not near its floor (where its
    floor is known)."""
    total = kernel_total(a)
    if total <= 0:
        return
    for row in kernel_rows(a):
        k = per_kernel.get(row["name"])
        if k is None or 100.0 * row["total_us"] / total < min_share_pct:
            continue
        if row.get("floor_us") and not far_from_floor(row):
            continue
        yield row, k, total


def _ncu_weight(row: Dict[str, Any]) -> float:
    """How much one Nsight Compute launch counts in its kernel's averages: its ncu time (us), else 1."""
    us = row.get("ncu_us")
    return float(us) if isinstance(us, (int, float)) and math.isfinite(us) and us > 0 else 1.0


def warp_stalls(a: Any) -> List[Finding]:
    """A kernel whose warps wait mostly for one thing, by Nsight Compute's warp states (``analyze --ncu``): the
    reason, its cycles per issued instruction and share, and what to try for it; or (``issue-bound``) one far above
    its floor whose schedulers issue most cycles, so that its instructions, not waits, are what it is short of. No
    time at stake is claimed (what removing a wait would save depends on what waits behind it)."""
    per_kernel: Dict[str, Dict[str, Any]] = {}  # kernel -> summed ncu time (us) and time-weighted states
    for r in getattr(a, "ncu", None) or []:
        stalls, cycles = r.get("ncu_stalls"), r.get("ncu_cycles_per_issue")
        if not r.get("matched") or not isinstance(stalls, dict) or not isinstance(cycles, (int, float)) \
                or not math.isfinite(cycles) or cycles <= 0:
            continue
        weight = _ncu_weight(r)
        k = per_kernel.setdefault(normalize_kernel_name(str(r["name"])),
                                  {"weight": 0.0, "cycles": 0.0, "rate": 0.0, "rated": 0.0, "reasons": {}, "n": 0})
        k["weight"] += weight
        k["cycles"] += weight * cycles
        k["n"] += 1
        rate = r.get("ncu_issue_rate")
        if isinstance(rate, (int, float)) and math.isfinite(rate):
            k["rate"] += weight * rate
            k["rated"] += weight
        for reason, v in stalls.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                k["reasons"][reason] = k["reasons"].get(reason, 0.0) + weight * v
    out = []
    # near its roofline a kernel's warps wait on a pipe or on memory that is busy, as they should
    for row, k, total in _ncu_kernels(a, per_kernel, WARP_STALL_MIN_SHARE_PCT):
        rate = k["rate"] / k["rated"] if k["rated"] else None
        cycles = k["cycles"] / k["weight"]
        if rate is not None and rate >= WARP_STALL_MAX_ISSUE_RATE:
            # the schedulers issue most cycles, so waits are hidden; far above its floor, it issues too much
            if far_from_floor(row):
                out.append(_issue_bound(a, row, rate, cycles, k["n"], total))
            continue
        reasons = sorted(((v / k["weight"], name) for name, v in k["reasons"].items()
                          if name not in ("selected", "not_selected")), reverse=True)
        if not reasons or 100.0 * reasons[0][0] / cycles < WARP_STALL_REASON_PCT:
            continue
        named = [f"{STALL_REASONS[name]} ({name}: {v:.2f} cycles an issue, {100.0 * v / cycles:.0f}%)"
                 for v, name in reasons[:2] if name in STALL_REASONS]
        msg = (f"{kernel_label(row['name'], 60)}: a warp issues an instruction every {cycles:.1f} cycles in the "
               f"Nsight Compute run" + (f" and its schedulers issue in {100.0 * rate:.0f}% of their cycles"
                                        if rate is not None else "")
               + f"; its warps wait mostly for {' and for '.join(named)} ({launches_text(k['n'])}; the kernel takes "
               f"{us_text(row['total_us'])}, {100.0 * row['total_us'] / total:.0f}% of kernel time).")
        top = reasons[0][1]
        out.append(Finding("warp-stalls", severity_of(row["total_us"], gpu_window_us(a)), msg,
                           [{"kernel": row["name"], "cycles_per_issue": cycles, "issue_rate": rate,
                             "stalls": {name: v for v, name in reasons}, "launches": k["n"],
                             "time_us": row["total_us"]}],
                           WARP_STALL_ADVICE.get(top, "Read the kernel's source counters (ncu --section "
                                                      "SourceCounters) for the instructions that wait."), None))
    return out


def cache_bound(a: Any) -> List[Finding]:
    """A kernel held by a cache's bandwidth, by Nsight Compute's Speed Of Light section (``analyze --ncu``): its
    busiest unit is L2 (or L1/TEX) at :data:`CACHE_BOUND_PCT` of its peak or more, DRAM under
    :data:`CACHE_BOUND_MAX_DRAM_PCT`, and it is not near its floor, so that the DRAM roofline's bytes understate
    what it moves: its programs read the same data from the cache again. Each unit's figure is weighted by the
    ncu time of the kernel's matched launches. No time at stake is claimed."""
    per_kernel: Dict[str, Dict[str, float]] = {}
    units = ("ncu_sm_pct", "ncu_l1_pct", "ncu_l2_pct", "ncu_dram_pct_of_peak")
    for r in getattr(a, "ncu", None) or []:
        values = [float(v) for v in (r.get(u) for u in units) if isinstance(v, (int, float)) and math.isfinite(v)]
        if not r.get("matched") or len(values) < len(units):
            continue
        weight = _ncu_weight(r)
        k = per_kernel.setdefault(normalize_kernel_name(str(r["name"])), {"weight": 0.0, "n": 0.0,
                                                                          **{u: 0.0 for u in units}})
        k["weight"] += weight
        k["n"] += 1
        for u, v in zip(units, values):
            k[u] += weight * v
    out = []
    # near its floor a kernel's busy cache is what its work needs
    for row, k, total in _ncu_kernels(a, per_kernel, CACHE_BOUND_MIN_SHARE_PCT):
        sm, l1, l2, dram = (k[u] / k["weight"] for u in units)
        unit, busy = max((("L2", l2), ("L1", l1)), key=lambda t: t[1])
        if busy < CACHE_BOUND_PCT or busy < max(sm, dram) or dram >= CACHE_BOUND_MAX_DRAM_PCT:
            continue
        launches = int(k["n"])
        floor = f", {row['total_us'] / row['floor_us']:.1f}x its floor" if row.get("floor_us") else ""
        msg = (f"{kernel_label(row['name'], 60)}: its {'L2 cache' if unit == 'L2' else 'L1/TEX cache'} is "
               f"{busy:.0f}% busy in the Nsight Compute run while DRAM is {dram:.0f}% and the SMs {sm:.0f}%: it is "
               f"held by the bandwidth between the SMs and {'L2' if unit == 'L2' else 'their L1'}, data read again "
               f"from the cache rather than from DRAM ({launches_text(launches)}; the kernel takes "
               f"{us_text(row['total_us'])}{floor}, {100.0 * row['total_us'] / total:.0f}% of kernel time).")
        out.append(Finding("cache-bound", severity_of(row["total_us"], gpu_window_us(a)), msg,
                           [{"kernel": row["name"], "unit": unit, "busy_pct": busy, "sm_pct": sm, "l1_pct": l1,
                             "l2_pct": l2, "dram_pct": dram, "launches": launches, "time_us": row["total_us"]}],
                           CACHE_BOUND_ADVICE[unit], None))
    return out
