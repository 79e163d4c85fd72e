"""The rules that turn an analysis into findings, and their thresholds (named constants, in the README).

A :class:`Finding` has a stable ``id``, a ``severity`` (``high``, ``medium``, ``low``), one plain sentence with
numbers, the ``evidence`` it rests on (kernels, phases, series: names and figures), a ``suggestion`` where
there is a next thing to try, and ``time_us``, the GPU time at stake (us; ``None`` for findings that are not
about time). Findings are ranked by time at stake, the others after them by severity. The severity of a
timed finding is its share of the GPU window: at least :data:`HIGH_SHARE_PCT` is high, at least
:data:`MEDIUM_SHARE_PCT` medium.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from ..analysis.comms import is_collective_kernel
from ..analysis.gemm_units import CUDA_CORES, float32_gemm_units
from ..analysis.modules import module_tail
from ..analysis.names import normalize_kernel_name
from ..analysis.ncu import STALL_REASONS
from ..analysis.nsys import BACKEND as NSYS_BACKEND
from ..analysis.phases import NOT_PHASES, UNATTRIBUTED
from ..analysis.rocpd import BACKEND as ROCPD_BACKEND
from ..analysis.rocprof import BACKENDS as ROCPROF_BACKENDS
from ..analysis.ssd_kernels import BAMBAPROF, MAMBA_SSM
from ..collect.nvml import CLOCK_HELD_DOWN_REASONS
from ..render.tables import format_cell, kernel_label
from . import measured

HIGH_SHARE_PCT = 25.0
MEDIUM_SHARE_PCT = 5.0
#: host-bound: the GPU waited on the host for at least this share of its window.
HOST_BOUND_PCT = 15.0
#: The range bambaprof's Triton kernels are launched under (``bambaprof::<kernel>``, :mod:`bambaprof.ssm.kernels.metadata`).
BAMBAPROF_LAUNCH_PREFIX = "bambaprof::"
#: far-from-roofline: judged kernel time at least this many times its floor, with at least this share of it excess.
FAR_FROM_ROOFLINE_X = 2.0
FAR_FROM_ROOFLINE_EXCESS_PCT = 10.0
#: far-from-roofline needs the floor of at least this share of kernel time (else unknown-bytes speaks).
FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT = 50.0
#: fusion-candidate: memory- or latency-bound elementwise/copy/reduction kernels shorter than this on average (us),
#: at least this many launches, together at least this share of kernel time.
FUSION_SHORT_US = 20.0
FUSION_MIN_LAUNCHES = 8
FUSION_MIN_SHARE_PCT = 10.0
#: ``elementwise-contraction``: contractions computed as a stored broadcast product and a reduction
#: (:mod:`bambaprof.analysis.contractions`) whose kernels take at least this share of kernel time (%).
CONTRACTION_MIN_SHARE_PCT = 5.0
#: ``float32-matmul``: float32 GEMM kernels whose names say they ran on the CUDA cores (FFMA, not the TF32 tensor
#: cores; :mod:`bambaprof.analysis.gemm_units`) take at least this share of kernel time (%).
FLOAT32_MATMUL_MIN_SHARE_PCT = 5.0
#: ``copy-overhead``: copies on the device (casts, layout copies, out-of-place ops' copies; ``--table copies``,
#: :mod:`bambaprof.analysis.copies`) take at least this share of kernel time (%).
COPY_MIN_SHARE_PCT = 10.0
#: What to try for each kind of copy.
COPY_ADVICE = {
    "cast": "keep one dtype between kernels: read the narrow tensor in the kernel that needs float32 and convert it in "
            "registers (a fused kernel; torch.compile fuses casts into their neighbours) rather than storing a "
            "converted copy with .float() or .to()",
    "layout": "give the reader the layout it needs from the op that produces it, or let it take strides: "
              ".contiguous() (and reshape or flatten of a transposed or sliced view) writes the whole tensor again, "
              "as a transpose before a conv1d or a matmul does",
    "copy": "avoid the copies out-of-place ops make before they work: broadcast rather than repeat (expand, or index "
            "the shared group inside the kernel, instead of repeat_interleave), in-place forms on temporaries "
            "(masked_fill_), and padding done once rather than at every call",
}
#: low-occupancy: a kernel of at least this share of kernel time, under this theoretical occupancy, limited by
#: registers or shared memory, not latency-bound, and at least FAR_FROM_ROOFLINE_X above its floor (a kernel
#: near its roofline, e.g. a cuBLAS GEMM with one large block per SM, is not held back by its occupancy).
LOW_OCCUPANCY_PCT = 25.0
LOW_OCCUPANCY_MIN_SHARE_PCT = 5.0
#: small-grid: a kernel whose blocks occupy under this fraction of the SMs, taking at least this share of kernel time.
SMALL_GRID_MAX_SM_FRACTION = 0.5
SMALL_GRID_MIN_SHARE_PCT = 5.0
#: unknown-bytes: at least this share of kernel time has no known bytes.
UNKNOWN_BYTES_PCT = 5.0
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
#: Platforms of a trace (``Trace.platform``) with torch.cuda's graphs and sync debug mode to point to (HIP's through
#: the same API); the others (``xpu``, out-of-tree backends) get advice without them.
CUDA_API_PLATFORMS = ("cuda", "rocm")
#: sync-stall: after host-device synchronisations the GPU sat empty for at least this share of its window.
SYNC_STALL_PCT = 5.0
#: What makes PyTorch synchronise under an operator, for the sync-stall message.
_SYNC_CAUSES = {"aten::_local_scalar_dense": ".item()", "aten::item": ".item()", "aten::copy_": "a copy to the host",
                "aten::_to_copy": "a copy to the host", "aten::nonzero": "a data-dependent shape",
                "aten::masked_select": "a data-dependent shape", "aten::_unique2": "a data-dependent shape",
                "aten::unique_consecutive": "a data-dependent shape", "aten::is_nonzero": "a tensor used as a bool"}
#: pageable-copies: copies between the GPU and pageable (unpinned) host memory take at least this share of
#: the GPU window.
PAGEABLE_COPY_PCT = 5.0
#: memory-pressure: peak reserved memory at least this share of the device's memory.
MEMORY_PRESSURE_PCT = 90.0
#: ssd-core: the SSD core's kernels (recognised by name) take at least this share of kernel time.
SSD_CORE_PCT = 10.0
#: exposed-communication: collective kernels ran with no compute kernel beside them for at least this share of the
#: GPU window.
EXPOSED_COMMUNICATION_PCT = 5.0
#: host-speed-changed: the host's probe loop (manifest ``host``) took this many times longer at one end of the
#: measured steps than at the other.
HOST_SPEED_CHANGE_X = 1.25

_FUSIBLE = re.compile(r"elementwise|copy|reduce|triton_poi|triton_red|triton_per|vectorized|fill|cat_|index",
                      re.IGNORECASE)
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
#: Findings raised once per kernel, whose first evidence row names it (``kernel``): one kernel's finding is not
#: another's when runs are compared.
PER_KERNEL_FINDINGS = frozenset({"low-occupancy", "small-grid", "dram-overfetch", "warp-stalls", "issue-bound",
                                 "cache-bound"})


def severity_rank(severity: str) -> int:
    """0 for ``high``, 1 for ``medium``, 2 for ``low`` (and 3 for anything else): lower is worse."""
    return _SEVERITY_ORDER.get(severity, 3)


@dataclass
class Finding:
    id: str
    severity: str
    message: str
    evidence: List[Dict[str, Any]] = field(default_factory=list)
    suggestion: Optional[str] = None
    time_us: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _window_us(a: Any) -> float:
    s = a.summary
    return (s.get("gpu_busy_us") or 0.0) + (s.get("gpu_idle_us") or 0.0)


def _severity(time_us: float, window_us: float) -> str:
    share = 100.0 * time_us / window_us if window_us > 0 else 0.0
    return "high" if share >= HIGH_SHARE_PCT else "medium" if share >= MEDIUM_SHARE_PCT else "low"


def _kernel_rows(a: Any) -> List[Dict[str, Any]]:
    return [k for k in a.kernels if k.get("kind") == "kernel"]


def _kernel_total(a: Any) -> float:
    return sum(k["total_us"] for k in _kernel_rows(a))


def _is_collective(k: Dict[str, Any]) -> bool:
    """Whether kernel row ``k`` is a collective (NCCL, RCCL, ...): it moves data between devices, so neither the
    DRAM roofline nor the SM occupancy judges it (exposed-communication does)."""
    return is_collective_kernel(str(k.get("name", "")))


def _far_from_floor(k: Dict[str, Any]) -> bool:
    """Whether kernel row ``k`` has a roofline floor and takes at least FAR_FROM_ROOFLINE_X times it."""
    return bool(k.get("floor_us")) and k["total_us"] >= FAR_FROM_ROOFLINE_X * k["floor_us"]


def _compile_mode(a: Any) -> Optional[str]:
    m = a.manifest
    return m.compile.mode if m is not None and m.compile is not None else None


def _graph_share(a: Any) -> float:
    """The share (0-1) of the trace's kernels launched from CUDA graphs."""
    kernels = a.summary.get("kernel_count") or 0
    return (a.launch.get("graph_kernels") or 0) / kernels if kernels else 0.0


#: A trace whose kernels come this much (share) from CUDA graphs is judged to run under graphs already.
GRAPHED_SHARE = 0.5


def _us(v: float) -> str:
    return f"{v / 1e3:,.2f} ms" if v >= 1e3 else f"{v:,.1f} us"


def host_bound(a: Any) -> Optional[Finding]:
    wait, window = a.summary.get("idle_host_wait_us") or 0.0, _window_us(a)
    if window <= 0 or 100.0 * wait / window < HOST_BOUND_PCT:
        return None
    where = [{"cpu_op": s.get("cpu_op"), "region": s.get("cpu_region"), "module": s.get("cpu_module"),
              "wait_us": s["dur_us"]} for s in a.stretches]
    named = [w["cpu_op"] for w in where if w["cpu_op"] and not NOT_PHASES.match(str(w["cpu_op"]))]
    launch = a.summary.get("launch_overhead_idle_gpu_median_us")
    ops = ", ".join(sorted(set(named))[:3])
    modules = ", ".join(sorted({t for t in map(module_tail, (w["module"] for w in where)) if t})[:3])
    msg = (f"The GPU waited on the host for {_us(wait)}, {100 * wait / window:.0f}% of its {_us(window)} window"
           + (f"; the longest waits were under {ops}" if ops else "")
           + (f" (in {modules})" if modules else "")
           + (f"; launching a kernel onto an idle GPU took {launch:.1f} us (median)" if launch is not None else "")
           + ".")
    mode = _compile_mode(a)
    graphed = "the host cannot keep up with this launch rate even under CUDA graphs"
    if a.summary.get("platform", "cuda") not in CUDA_API_PLATFORMS:  # Intel GPUs, other backends: no CUDA graphs
        backend = "XPU" if a.summary.get("platform") == "xpu" else "device's"
        suggestion = ("Fewer launches: let torch.compile fuse the small kernels, give each launch more work (a "
                      f"larger batch), or capture the steps in graphs where the {backend} backend offers them.")
    elif a.manifest is None:  # a trace from elsewhere: say what to do in torch, and judge graphs from the trace
        suggestion = (f"Fewer, larger kernels: {100 * _graph_share(a):.0f}% of the kernels already come from CUDA "
                      f"graphs, and {graphed}." if _graph_share(a) >= GRAPHED_SHARE else
                      "Capture the steps in CUDA graphs: torch.compile(mode=\"reduce-overhead\") or "
                      "torch.cuda.CUDAGraph (with bambaprof profile: --compile reduce-overhead).")
    elif mode in (None, "none", "default", "max-autotune-no-cudagraphs"):
        suggestion = "Capture the steps in CUDA graphs: profile with --compile reduce-overhead (or max-autotune)."
    else:
        suggestion = f"Fewer, larger kernels: {graphed}."
    drain = a.summary.get("sync_drain_us") or 0.0
    if "graphs" in suggestion and 100.0 * drain / window >= SYNC_STALL_PCT:  # graphs cannot hold synchronisations
        suggestion = ("First keep the step free of host-device synchronisations (see sync-stall): a step that "
                      "synchronises cannot be captured in a graph. " + suggestion)
    shortcut = _shortcut_held_back(a)
    if shortcut is not None:
        suggestion = (f"bambaprof's Triton kernels launched with the launch shortcut {shortcut} "
                      f"(BAMBAPROF_TRITON_FAST_LAUNCH): leave it unset, so that kept kernels are launched directly "
                      f"and repeated forwards launched whole (less host time a launch). " + suggestion)
    return Finding("host-bound", _severity(wait, window), msg, where, suggestion, wait)


def idle_unexplained(a: Any) -> Optional[Finding]:
    """The GPU sat idle for at least :data:`HOST_BOUND_PCT` of its window, and the trace cannot say whether the host
    held it back: no activity that ends an idle gap has its launch call in the trace (``idle_host_wait_us`` is
    unknown), so ``host-bound`` cannot judge it."""
    s = a.summary
    idle, window = s.get("gpu_idle_us") or 0.0, _window_us(a)
    if s.get("idle_host_wait_us") is not None or window <= 0 or 100.0 * idle / window < HOST_BOUND_PCT:
        return None
    backend = s.get("parser_backend")
    if backend in (*ROCPROF_BACKENDS, ROCPD_BACKEND):
        how = "profile with rocprofv3 --hip-trace beside --kernel-trace"
    elif backend == NSYS_BACKEND:
        how = "profile with nsys --trace=cuda (the CUDA API calls)"
    else:
        how = ("profile with the CPU activity beside the GPU's (torch.profiler's ProfilerActivity.CPU and CUDA, as "
               "bambaprof profile does), so that the launch calls are in the trace")
    msg = (f"The GPU sat idle for {_us(idle)}, {100 * idle / window:.0f}% of its {_us(window)} window, and the trace "
           "holds no launch call for the work that ended those gaps: whether the host held it back (host-bound) "
           "or it waited on something else is unknown.")
    return Finding("idle-unexplained", _severity(idle, window), msg, [{"idle_us": idle, "window_us": window}],
                   f"Record the host side to split the idle time: {how}.", idle)


def _shortcut_held_back(a: Any) -> Optional[str]:
    """The launch shortcut's recorded mode (``off``, ``kept`` or ``keyed``) when it was not fully on and the trace has
    launches of bambaprof's Triton kernels (launched under a ``bambaprof::`` range); else None."""
    versions = a.manifest.versions if a.manifest is not None else None
    setting = versions.launch_shortcut if versions is not None else None
    if setting not in ("off", "kept", "keyed"):
        return None
    ours = any(str(k.get("launched_by") or "").startswith(BAMBAPROF_LAUNCH_PREFIX) for k in _kernel_rows(a))
    return setting if ours else None


def far_from_roofline(a: Any) -> Optional[Finding]:
    s = a.summary
    floor, x = s.get("floor_us"), s.get("above_floor_x")
    if not floor or not x or x < FAR_FROM_ROOFLINE_X \
            or (s.get("floor_coverage_pct") or 0.0) < FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT:
        return None
    judged = [k for k in _kernel_rows(a) if k.get("excess_us") is not None]
    excess = sum(max(k["excess_us"], 0.0) for k in judged)
    total = sum(k["total_us"] for k in judged)
    if total <= 0 or 100.0 * excess / total < FAR_FROM_ROOFLINE_EXCESS_PCT:
        return None
    top = sorted(judged, key=lambda k: -k["excess_us"])[:5]
    phases = sorted((p for p in a.phase_kinds if p.get("excess_us")), key=lambda p: -p["excess_us"])[:3]
    evidence = [{"kernel": k["name"], "time_us": k["total_us"], "floor_us": k["floor_us"], "excess_us": k["excess_us"],
                 "bound": k["bound"]} for k in top]
    evidence += [{"phase": p["phase"], "time_us": p["gpu_us"], "floor_us": p["floor_us"], "excess_us": p["excess_us"]}
                 for p in phases]
    modules = sorted((m for m in a.module_kinds if m.get("excess_us")), key=lambda m: -m["excess_us"])[:3]
    evidence += [{"module": m["module"], "time_us": m["gpu_us"], "floor_us": m["floor_us"],
                  "excess_us": m["excess_us"]} for m in modules]
    where = "; ".join(f"{kernel_label(k['name'], 50)} {_us(k['excess_us'])} ({k['bound']}{_in_module(k)})"
                      for k in top[:3])
    msg = (f"{_us(total)} of kernel time against a roofline floor of {_us(floor)}: {x:.1f}x above it "
           f"({s.get('floor_coverage_pct') or 0:.0f}% of kernel time judged); most excess in {where}.")
    return Finding("far-from-roofline", _severity(excess, _window_us(a)), msg, evidence,
                   "Start with the kernels with the largest excess; a memory-bound one moves more bytes than it "
                   "must or too few at a time, a latency-bound one needs more parallel work.", excess)


def _in_module(kernel: Dict[str, Any]) -> str:
    """``, in Mamba2Mixer/Linear``: the module holding most of a kernel's time (its ``module_tail``), where
    the trace recorded module calls; else nothing."""
    tail = module_tail(kernel.get("module"))
    return f", in {tail}" if tail else ""


def fusion_candidate(a: Any) -> Optional[Finding]:
    rows = [k for k in _kernel_rows(a) if _FUSIBLE.search(k["name"]) and k["mean_us"] < FUSION_SHORT_US
            and k.get("bound") in ("memory", "latency", "unknown") and not _is_collective(k)]  # AllReduce: not fusible
    launches = sum(k["count"] for k in rows)
    time = sum(k["total_us"] for k in rows)
    total = _kernel_total(a)
    if launches < FUSION_MIN_LAUNCHES or total <= 0 or 100.0 * time / total < FUSION_MIN_SHARE_PCT:
        return None
    fp32 = [k for k in rows if k.get("dtype") == "fp32"]
    rows.sort(key=lambda k: -k["total_us"])
    msg = (f"{launches} launches of {len(rows)} short elementwise/copy/reduction kernels (mean under "
           f"{FUSION_SHORT_US:.0f} us) take {_us(time)}, {100 * time / total:.0f}% of kernel time"
           + (f"; {len(fp32)} of them work in float32 (dtype round trips)" if fp32 else "") + ".")
    mode = _compile_mode(a)
    suggestion = ("Let inductor fuse them: torch.compile the code that launches them (with bambaprof profile: "
                  "--compile default or max-autotune)." if a.manifest is None else
                  "Let inductor fuse them: profile with --compile default (or max-autotune)."
                  if mode in (None, "none") else
                  "Fuse them into the neighbouring kernels by hand (a fused Triton kernel), and keep the data in "
                  "its input dtype between them.")
    evidence = [{"kernel": k["name"], "count": k["count"], "time_us": k["total_us"], "mean_us": k["mean_us"],
                 "dtype": k.get("dtype")} for k in rows[:8]]
    return Finding("fusion-candidate", _severity(time, _window_us(a)), msg, evidence, suggestion, time)


def elementwise_contraction(a: Any) -> Optional[Finding]:
    """Contractions computed as a broadcast product that is stored and then reduced (``(a * b).sum(-1)``), whose
    kernels take at least :data:`CONTRACTION_MIN_SHARE_PCT` of kernel time: the largest, what all of them take and
    their floor as contractions; suggests the einsum that computes the largest without its product. In a CPU-only
    profile the ops' host time against the trace's span is judged instead (no floor: the CPU's peaks are not
    known), and no GPU time is claimed to be at stake."""
    on_host = a.summary.get("platform") == "cpu"
    key = "cpu_us" if on_host else "gpu_us"
    rows = [r for r in getattr(a, "contractions", None) or () if r.get(key)]
    total = (a.summary.get("span_us") or 0.0) if on_host else _kernel_total(a)
    time = sum(r[key] for r in rows)
    if not rows or not total or total <= 0 or 100.0 * time / total < CONTRACTION_MIN_SHARE_PCT:
        return None
    top = rows[0]  # the table comes most time first
    dims = {"all": "whole", "unknown": "over dims the trace does not record"}.get(
        top["reduced_dims"], f"over dims {top['reduced_dims']}")
    floors = [r["floor_us"] for r in rows if r["floor_us"] is not None]
    floor = sum(floors) if len(floors) == len(rows) and not on_host else None
    calls = sum(r["count"] for r in rows)
    share = 100 * time / total
    many = calls != 1
    msg = (f"{calls} contraction{'s' if many else ''} ({len(rows)} shape{'s' if len(rows) != 1 else ''}) "
           f"{'are' if many else 'is'} computed as a broadcast product that is stored and then reduced: "
           f"{'they take' if many else 'it takes'} {_us(time)}, "
           + (f"{share:.0f}% of the trace's span on the host (a CPU-only profile)" if on_host else
              f"{share:.0f}% of kernel time")
           + (f", {time / floor:,.0f}x their floor as contractions ({_us(floor)}: operands and results moved once)"
              if floor else "")
           + f". The largest: {top['multiply']} of {top['operands']} ({top['dtype']}) stores "
           f"{top['product']} ({format_cell(top['product_bytes'], 'bytes')}) and {top['reduce']} sums it {dims} "
           f"({top['count']} call{'s' if top['count'] != 1 else ''}, {_us(top[key])}).")
    how = (f"torch.einsum('{top['einsum']}', ...) over its operands with their size-1 dimensions squeezed"
           + (" (divided by the count, for a mean)" if top["reduce"] == "aten::mean" else "")
           if top["einsum"] else "one torch.einsum or matmul")
    m = getattr(a, "manifest", None)
    variant = m.config.variant if m is not None and m.config is not None else None
    fused = ("the triton variant computes this SSD core in fused kernels: profile it beside this one (bambaprof "
             "profile --variant " + f"{variant} --variant triton)" if variant and variant != "triton" else
             "a chunked SSD (Mamba2) scan written this way is what fused cores replace (bambaprof's triton variant, "
             "mamba_ssm's kernels)")
    suggestion = (f"Compute each as one contraction that never stores the product: for the largest, {how}, which "
                  + ("runs as a batched matmul." if on_host else f"runs as a batched matmul on tensor cores; {fused}."))
    evidence = [{k: r[k] for k in ("multiply", "operands", "dtype", "product", "product_bytes", "reduce",
                                   "reduced_dims", "count", "cpu_us", "gpu_us", "floor_us", "einsum")} for r in rows[:8]]
    if on_host:  # its share of the span, on the GPU findings' scale; no GPU time at stake
        return Finding("elementwise-contraction", _severity(time, total), msg, evidence, suggestion, None)
    at_stake = time - floor if floor is not None else time
    return Finding("elementwise-contraction", _severity(at_stake, _window_us(a)), msg, evidence, suggestion,
                   at_stake)


def _major(a: Any) -> Optional[int]:
    """The major compute capability of the trace's devices (``9`` for ``"9.0"``), or None where unknown."""
    head = str(a.summary.get("compute_capability") or "").split(".")[0]
    return int(head) if head.isdigit() else None


def float32_matmul(a: Any) -> Optional[Finding]:
    """Float32 GEMM kernels that ran on the CUDA cores (FFMA; cuBLAS's and CUTLASS's names say so, see
    :mod:`bambaprof.analysis.gemm_units`) and take at least :data:`FLOAT32_MATMUL_MIN_SHARE_PCT` of kernel time, on a
    device with tensor cores (compute capability 7.0 or later, or unknown). Time at stake: each kernel's time above
    its floor at the device's TF32 rate (its bytes at the peak bandwidth, or its FLOPs at the datasheet's TF32 peak,
    the longer), over the kernels whose FLOPs and bytes are known; None where none is (TF32 needs compute capability
    8.0: on a 7.x device the advice is float16, and nothing is claimed)."""
    rows = [k for k in _kernel_rows(a)
            if k.get("dtype") in ("fp32", None) and float32_gemm_units(str(k["name"])) == CUDA_CORES]
    total, time = _kernel_total(a), sum(k["total_us"] for k in rows)
    major = _major(a)
    if not rows or total <= 0 or 100.0 * time / total < FLOAT32_MATMUL_MIN_SHARE_PCT \
            or (major is not None and major < 7):  # before Volta: no tensor cores to move to
        return None
    rates = a.summary.get("datasheet_tflops") or {}
    tf32 = rates.get("tf32") if major is None or major >= 8 else None
    rows.sort(key=lambda k: -k["total_us"])
    flops = [k for k in rows if k.get("flops")]
    achieved = sum(k["flops"] for k in flops) / (sum(k["total_us"] for k in flops) * 1e6) if flops else None
    stakes = [max(0.0, k["total_us"] - max(k["floor_bytes_us"], k["flops"] / (tf32 * 1e6))) for k in flops
              if tf32 and k.get("floor_bytes_us") is not None]
    launches = sum(int(k["count"]) for k in rows)
    fp32 = rates.get("fp32")
    one = len(rows) == 1
    msg = (f"{len(rows)} float32 matrix-product kernel{'' if one else 's'} ran on the CUDA cores (full float32 FFMA, "
           f"as {'its name says' if one else 'their names say'}: {kernel_label(rows[0]['name'], 60)}), not on the "
           "tensor cores: "
           f"{_launches(launches)}, {_us(time)}, {100 * time / total:.0f}% of kernel time"
           + (f", at {achieved:,.1f} TFLOP/s" + (f" against a float32 peak of {fp32:,.1f}" if fp32 else "")
              if achieved else "")
           + (f"; the TF32 tensor cores' peak is {tf32:,.1f} TFLOP/s" + (f" ({tf32 / fp32:.1f}x)" if fp32 else "")
              if tf32 else "") + ".")
    m = getattr(a, "manifest", None)
    allowed = m.versions.matmul_tf32 if m is not None and m.versions is not None else None
    if major == 7:
        suggestion = ("This device has no TF32 (compute capability 7.x): compute the products in float16 on its "
                      "tensor cores, torch.autocast('cuda', dtype=torch.float16).")
    elif allowed == "on":
        suggestion = ("TF32 was allowed in this run (matmul tf32 on), yet cuBLAS chose these kernels: it keeps "
                      "float32 products whose dims are not multiples of 4 elements (16 bytes), or are very small, on "
                      "the CUDA cores. Pad those dims, or compute in bfloat16.")
    else:
        suggestion = ("Let cuBLAS use the TF32 tensor cores: torch.set_float32_matmul_precision('high') before the "
                      "model runs (inputs rounded to a 10-bit mantissa, sums kept in float32: check the accuracy you "
                      "need), or compute in bfloat16 (torch.autocast('cuda', dtype=torch.bfloat16), or a bfloat16 "
                      "model)."
                      + (" With bambaprof profile: the same command after TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1, or "
                         "--dtype bfloat16." if m is not None and m.config is not None else ""))
    evidence = [{"kernel": k["name"], "units": CUDA_CORES, "dtype": k.get("dtype"), "launches": int(k["count"]),
                 "time_us": k["total_us"], "achieved_tflops": k.get("achieved_tflops"),
                 "launched_by": k.get("launched_by")} for k in rows[:8]]
    at_stake = sum(stakes) if stakes else None
    return Finding("float32-matmul", _severity(at_stake if at_stake is not None else time, _window_us(a)), msg,
                   evidence, suggestion, at_stake)


def copy_overhead(a: Any) -> Optional[Finding]:
    """Copies on the device (:mod:`bambaprof.analysis.copies`) that take at least :data:`COPY_MIN_SHARE_PCT` of
    kernel time: their time by kind, the largest group and the callers of the rest; advice for the kinds that take
    the most. Time at stake: their GPU time (a copy fused into its reader or not made costs nothing)."""
    rows = [r for r in getattr(a, "copies", None) or () if r.get("gpu_us")]
    total, time = _kernel_total(a), sum(r["gpu_us"] for r in rows)
    if not rows or total <= 0 or 100.0 * time / total < COPY_MIN_SHARE_PCT:
        return None
    kinds: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        kinds.setdefault(r["kind"], []).append(r)
    order = sorted(kinds, key=lambda k: -sum(r["gpu_us"] for r in kinds[k]))
    parts = []
    for kind in order:
        group = kinds[kind]
        callers = sorted({r["caller"] for r in group}, key=lambda c: -sum(r["gpu_us"] for r in group if r["caller"] == c))
        n = sum(r["count"] for r in group)
        parts.append(f"{kind} {_us(sum(r['gpu_us'] for r in group))} ({n} cop{'ies' if n != 1 else 'y'}, under "
                     f"{', '.join(callers[:3])})")
    top = rows[0]  # the table comes most GPU time first
    rate = f", {format_cell(top['gbps'], 'num')} GB/s" if top.get("gbps") else ""
    verb = {"cast": "cast", "layout": "made contiguous"}.get(top["kind"], "copied")
    times = f"{top['count']} time{'s' if top['count'] != 1 else ''}"
    where = (f" inside {top['inside']}" if top.get("inside") else "") + \
        (f" in {top['range']}" if top.get("range") not in (None, UNATTRIBUTED) else "")
    msg = (f"Copies on the device take {_us(time)}, {100 * time / total:.0f}% of kernel time: {'; '.join(parts)}. "
           f"The largest: {top['shape']} ({top['dtypes']}) {verb} under {top['caller']}{where}, {times} "
           f"({_us(top['gpu_us'])}{rate}).")
    advice = [COPY_ADVICE[k] for k in order[:2]]
    suggestion = (advice[0][0].upper() + advice[0][1:] + (f"; and {advice[1]}" if len(advice) > 1 else "") + ".")
    if "cast" in order[:2] and _compile_mode(a) == "none":
        suggestion += " With bambaprof profile: --compile default lets inductor fuse the casts."
    evidence = [{k: r.get(k) for k in ("kind", "dtypes", "shape", "caller", "inside", "range", "count", "gpu_us", "bytes",
                                       "gbps")}
                for r in rows[:8]]
    return Finding("copy-overhead", _severity(time, _window_us(a)), msg, evidence, suggestion, time)


def _one_more_block(k: Dict[str, Any]) -> str:
    """`` At most R registers a thread and S B of shared memory a block would fit N blocks an SM instead of M (X%
    theoretical occupancy).`` for a kernel row that knows it, else ``""``."""
    regs, smem = k.get("one_more_block_registers"), k.get("one_more_block_shared_memory_bytes")
    pct, now, then = k.get("one_more_block_occupancy_pct"), k.get("blocks_per_sm"), k.get("one_more_block_blocks")
    budgets = ([f"{regs} registers a thread"] if regs is not None else []) + \
        ([f"{smem:,} B of shared memory a block"] if smem is not None else [])
    if not budgets or pct is None or now is None or then is None:
        return ""
    return (f" At most {' and '.join(budgets)} would fit {then} blocks an SM instead of {now} ({pct:.1f}% "
            "theoretical occupancy).")


def low_occupancy(a: Any) -> List[Finding]:
    total = _kernel_total(a)
    out = []
    for k in _kernel_rows(a):
        occ, limiter = k.get("theoretical_occupancy_pct"), k.get("limiter") or ""
        if _is_collective(k) or occ is None or total <= 0 or occ >= LOW_OCCUPANCY_PCT or k.get("bound") == "latency":
            continue
        if 100.0 * k["total_us"] / total < LOW_OCCUPANCY_MIN_SHARE_PCT or not re.search("register|shared", limiter):
            continue
        if not _far_from_floor(k):
            continue  # near its roofline, or no floor to say that occupancy holds it back
        at_stake = max(k["excess_us"], 0.0) if k.get("excess_us") is not None else k["total_us"]
        msg = (f"{kernel_label(k['name'], 60)} runs at {occ:.1f}% theoretical occupancy, limited by {limiter} "
               f"({k.get('registers')} registers/thread, {k.get('shared_memory_bytes') or 0:,} B shared memory, "
               f"block {k.get('block')}), for {_us(k['total_us'])}.{_one_more_block(k)}")
        fixes = (["fewer registers per thread (Triton: fewer num_warps per tile, a smaller tile or maxnreg; CUDA: "
                  "__launch_bounds__/maxrregcount)"] if "register" in limiter else []) + \
            (["less shared memory a block (smaller tiles, fewer pipeline stages, one ring of buffers that the "
              "phases share)"] if "shared" in limiter else [])
        fix = " and ".join(fixes)
        out.append(Finding("low-occupancy", _severity(at_stake, _window_us(a)), msg,
                           [{"kernel": k["name"], "occupancy_pct": occ, "limiter": limiter, "time_us": k["total_us"]}],
                           f"Try {fix}, if the kernel does not hide latency with instruction-level parallelism.",
                           at_stake))
    return out


def small_grid(a: Any) -> List[Finding]:
    total = _kernel_total(a)
    out = []
    for k in _kernel_rows(a):
        if _is_collective(k):  # a collective's grid is its channels, sized for the links, not for the SMs
            continue
        if not k.get("small_grid") or total <= 0 or 100.0 * k["total_us"] / total < SMALL_GRID_MIN_SHARE_PCT:
            continue
        waves = k.get("waves_per_sm") or 0.0
        sm_fraction = waves * (k.get("blocks_per_sm") or 1)  # blocks / SMs
        if sm_fraction >= SMALL_GRID_MAX_SM_FRACTION:
            continue
        msg = (f"{kernel_label(k['name'], 60)} launches a grid of {k.get('grid')} blocks, fewer than the GPU has "
               f"SMs (blocks on {100 * sm_fraction:.0f}% of them), for {_us(k['total_us'])}: the rest of the GPU idles "
               "while it runs.")
        out.append(Finding("small-grid", _severity(k["total_us"], _window_us(a)), msg,
                           [{"kernel": k["name"], "grid": k.get("grid"), "waves_per_sm": waves, "time_us": k["total_us"]}],
                           "Give it more parallel work: a larger batch, split the reduction (split-K) or the "
                           "sequence, or smaller blocks.", k["total_us"]))
    return out


def unknown_bytes(a: Any) -> Optional[Finding]:
    rows = _kernel_rows(a)
    total = _kernel_total(a)
    unknown = [k for k in rows if k.get("bytes_known", 0) < k["count"] and not _is_collective(k)]  # links, not DRAM
    time = sum(k["total_us"] * (1 - k.get("bytes_known", 0) / k["count"]) for k in unknown)
    if total <= 0 or 100.0 * time / total < UNKNOWN_BYTES_PCT:
        return None
    unknown.sort(key=lambda k: -k["total_us"])
    msg = (f"{100 * time / total:.0f}% of kernel time ({_us(time)}) has unknown bytes, so the roofline cannot "
           f"judge it: {', '.join(kernel_label(k['name'], 40) for k in unknown[:3])}.")
    if (a.summary or {}).get("parser_backend") == NSYS_BACKEND:  # no operators or shapes to model bytes from
        what = ("The export's operators (emit_nvtx) come with sizes but not dtypes" if any(
            o.get("kind") == "cpu_op" for o in a.ops or ()) else "Nsight Systems records no operators or shapes")
        advice = (f"{what}: pass --ncu with Nsight Compute's CSV of the same workload for "
                  "measured bytes, or profile it with the PyTorch profiler and record_shapes (bambaprof profile "
                  "does).")
    elif (a.summary or {}).get("parser_backend") in (*ROCPROF_BACKENDS, ROCPD_BACKEND):
        advice = ("rocprofv3 records no operators or shapes: profile the same workload with the PyTorch profiler "
                  "and record_shapes (bambaprof profile does) for modelled bytes.")
    else:
        advice = ("Profile with record_shapes (bambaprof profile does) so aten ops get a shape model; compiled "
                  "kernels carry their bytes with TORCHINDUCTOR_BENCHMARK_KERNEL=1.")
    return Finding("unknown-bytes", "low" if 100 * time / total < HIGH_SHARE_PCT else "medium", msg,
                   [{"kernel": k["name"], "time_us": k["total_us"], "launched_by": k.get("launched_by")}
                    for k in unknown[:8]], advice, None)


def recompiles(a: Any) -> Optional[Finding]:
    m = a.manifest
    c = m.compile if m is not None else None
    measured, profiled = (c.recompiles_during_measurement, c.recompiles_during_profile) if c is not None else (0, 0)
    if not measured and not profiled:
        return None
    where = [f"{n} time(s) inside the {what}" for n, what in ((measured, "measured iterations"),
                                                              (profiled, "profiled steps")) if n]
    return Finding("recompiles", "high", f"torch.compile recompiled {' and '.join(where)}: their timings and "
                   "trace include compilation.", [{"recompiles_measured": measured, "recompiles_profiled": profiled}],
                   "Compile for varying shapes with --dynamic, or keep shapes fixed; code that reads a global "
                   "flag (the profiler's) while compiled recompiles when it changes.")


def graph_breaks(a: Any) -> Optional[Finding]:
    m = a.manifest
    c = m.compile if m is not None else None
    if c is None or not c.graph_breaks:
        return None
    reasons = [{"reason": r, "count": n} for r, n in c.graph_break_reasons.items()]
    first = f": {next(iter(c.graph_break_reasons))}" if c.graph_break_reasons else ""
    return Finding("graph-breaks", "medium", f"torch.compile broke the graph {c.graph_breaks} time(s){first}.",
                   reasons, "Each break runs eagerly between compiled pieces; remove its cause (see the reasons) or "
                   "wrap the code in a custom op.")


def throttled(a: Any) -> Optional[Finding]:
    m = a.manifest
    nvml = m.telemetry.summary.nvml if m is not None else None
    seen = nvml.clock_event_reasons_seen if nvml is not None else []
    names = sorted({name for mask in seen for bit, name in CLOCK_HELD_DOWN_REASONS.items() if mask & bit})
    if not names:
        return None
    clock, power = nvml.sm_clock_mhz, nvml.power_w
    measured = "".join(f"; {label} {s.mean:,.0f} {unit} on average (max {s.max:,.0f})"
                       for label, unit, s in (("SM clock", "MHz", clock), ("power", "W", power))
                       if s is not None and s.samples and s.mean is not None and s.max is not None)
    if names == [CLOCK_HELD_DOWN_REASONS[0x4]]:  # the board's power limit alone: the sustained speed, not a fault
        suggestion = ("The workload draws the board's power limit, so its compute-bound kernels run at a lower clock: "
                      "this is the device's sustained speed for it, not a fault. Compare runs at similar clocks (the "
                      "profile summary's SM MHz; compare warns). Under the cap, doing less work per token helps more "
                      "than keeping the GPU busier.")
    else:
        suggestion = "Check cooling and the power limit (nvidia-smi -q -d PERFORMANCE); compare runs at equal clocks."
    return Finding("throttled", "high", f"NVML reported the clocks held down during the measured window: "
                   f"{', '.join(names)}{measured}; the timings are slower than the device's rated clocks.",
                   [{"clock_event_reasons": seen,
                     "sm_clock_mhz_mean": m.sm_clock_mhz,
                     "power_w_mean": power.mean if power is not None and power.samples else None}],
                   suggestion)


def host_speed_changed(a: Any) -> Optional[Finding]:
    """The host ran Python at another speed after the measured steps than before (a shared or virtual
    machine's CPU changes speed unseen by the guest); host-bound timings then move with it."""
    m = a.manifest
    host = m.host if m is not None else None
    change = host.probe_change if host is not None else None
    if change is None or max(change, 1 / change) < HOST_SPEED_CHANGE_X:
        return None
    before, after = host.probe_before_us / 1e3, host.probe_after_us / 1e3
    waited = (a.summary.get("idle_host_wait_us") or 0.0) > 0
    return Finding("host-speed-changed", "medium",
                   f"The host's speed changed during the measurement: a fixed Python loop took {before:.2f} ms "
                   f"before the measured steps and {after:.2f} ms after ({change:.2f}x)"
                   + ("; the GPU waited on the host in this run, so its timings move with the host" if waited else "")
                   + ".", [{"probe_before_us": host.probe_before_us, "probe_after_us": host.probe_after_us}],
                   "Re-run, and compare host-bound runs only side by side on one machine (the host's speed is "
                   "outside the program).")


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
    total = _kernel_total(a)
    out = []
    for k in _kernel_rows(a):
        derived, dram, launches = measured.get(k["name"], (0.0, 0.0, 0))
        if derived < DRAM_OVERFETCH_MIN_BYTES or dram < DRAM_OVERFETCH_X * derived or total <= 0 \
                or 100.0 * k["total_us"] / total < DRAM_OVERFETCH_MIN_SHARE_PCT:
            continue
        if not _far_from_floor(k):
            continue  # near its roofline (or no floor to say): the extra traffic does not hold it back
        msg = (f"{kernel_label(k['name'], 60)} moved {dram / 1e9:,.2f} GB of DRAM in the Nsight Compute run, "
               f"{dram / derived:.1f}x the {derived / 1e9:,.2f} GB its inputs and outputs hold ({launches} launches "
               f"matched); it takes {_us(k['total_us'])}, {k['total_us'] / k['floor_us']:.1f}x its floor: data it "
               "reuses leaves L2 before the reuse.")
        out.append(Finding("dram-overfetch", _severity(k["total_us"], _window_us(a)), msg,
                           [{"kernel": k["name"], "ncu_dram_bytes": dram, "derived_bytes": derived,
                             "ratio": dram / derived, "launches": launches, "time_us": k["total_us"]}],
                           "Order its blocks so that the ones sharing data (tiles of one operand, the steps of one "
                           "chain) run close together in launch order (grouped or swizzled tiles), keep buffers that "
                           "blocks hand each other small, and mark data used once evict_first.", None))
    return out


def sync_stall(a: Any) -> Optional[Finding]:
    drain, window = a.summary.get("sync_drain_us") or 0.0, _window_us(a)
    rows = getattr(a, "syncs", None) or []
    if window <= 0 or not rows or 100.0 * drain / window < SYNC_STALL_PCT:
        return None
    count, steps = a.summary.get("sync_count") or 0, a.summary.get("profiled_steps")
    per_step = f", {count / steps:.1f} a step" if steps else ""
    where = "; ".join(
        f"{r['call']} under {r['op'] or 'no operator'}"
        + (f" ({_SYNC_CAUSES[r['op']]})" if r["op"] in _SYNC_CAUSES else "")
        + f": {r['count']}x, {_us(r['drain_us'])}" for r in rows[:3])
    msg = (f"The host synchronised with the GPU {count} times{per_step}, and after {sum(r['drains'] for r in rows)} "
           f"of them the GPU sat empty until the next launch: {_us(drain)}, {100 * drain / window:.0f}% of its "
           f"{_us(window)} window ({where}).")
    debug = "" if a.summary.get("platform", "cuda") not in CUDA_API_PLATFORMS else \
        "; torch.cuda.set_sync_debug_mode('warn') names each one"
    suggestion = ("Keep values on the GPU inside the step: no .item(), .cpu(), .tolist() or printed tensors, no "
                  "data-dependent shapes (nonzero, boolean masks); copy results out with non_blocking=True into "
                  f"pinned memory and read them after the step{debug}. A step that synchronises cannot be captured "
                  "in a graph.")
    return Finding("sync-stall", _severity(drain, window), msg, rows[:10], suggestion, drain)


def pageable_copies(a: Any) -> Optional[Finding]:
    rows = [k for k in a.kernels if k.get("kind") == "memcpy" and "Pageable" in str(k.get("name"))]
    time, window = sum(k["total_us"] for k in rows), _window_us(a)
    if window <= 0 or not rows or 100.0 * time / window < PAGEABLE_COPY_PCT:
        return None
    count = sum(k["count"] for k in rows)
    moved = sum(k["bytes"] or 0.0 for k in rows)
    rate = f" at {moved / time / 1e3:,.1f} GB/s" if moved and time > 0 else ""
    kinds = ", ".join(f"{k['name']} ({k['count']}x, {_us(k['total_us'])})" for k in rows[:3])
    msg = (f"{count} copies between the GPU and pageable host memory take {_us(time)}, {100 * time / window:.0f}% "
           f"of its {_us(window)} window{rate}: {kinds}. The driver stages them through a pinned buffer, and the "
           "host waits for each.")
    suggestion = ("Copy through pinned memory: DataLoader(pin_memory=True) or tensor.pin_memory() on the host side, "
                  "then .to(device, non_blocking=True); for results, copy into a pinned buffer with "
                  "non_blocking=True and synchronise once, after the step.")
    return Finding("pageable-copies", _severity(time, window), msg,
                   [{"name": k["name"], "count": k["count"], "time_us": k["total_us"], "bytes": k["bytes"]}
                    for k in rows], suggestion, time)


def exposed_communication(a: Any) -> Optional[Finding]:
    s = a.summary
    exposed, total, window = s.get("collective_exposed_us"), s.get("collective_us"), _window_us(a)
    rows = getattr(a, "collectives", None) or []
    if not exposed or not total or window <= 0 or not rows or 100.0 * exposed / window < EXPOSED_COMMUNICATION_PCT:
        return None
    kinds = "; ".join(f"{r['kind']} {r['count']}x, {_us(r['exposed_us'])} of {_us(r['total_us'])} exposed"
                      + (f", {r['busbw_gbps']:,.0f} GB/s bus bandwidth" if r.get("busbw_gbps") else "")
                      for r in rows[:3])
    msg = (f"Collectives ran for {_us(total)} on the GPU and {_us(exposed)} of it ({100 * exposed / total:.0f}%) "
           f"with no compute kernel beside them: {100 * exposed / window:.0f}% of the {_us(window)} window was "
           f"communication alone ({kinds}). A collective's time includes waiting inside it for slower ranks.")
    suggestion = ("Overlap communication with compute: DDP starts each bucket's all-reduce as its gradients are "
                  "ready (a smaller bucket_cap_mb starts the first sooner); FSDP prefetches the next all-gather "
                  "(forward_prefetch, backward_prefetch=BACKWARD_PRE); keep collectives async (async_op=True) on "
                  "their own stream until the result is needed. If other ranks arrive late, the wait is theirs: "
                  "analyze the job's folder of traces to see the slowest rank.")
    return Finding("exposed-communication", _severity(exposed, window), msg,
                   [{"kind": r["kind"], "count": r["count"], "time_us": r["total_us"], "exposed_us": r["exposed_us"],
                     "busbw_gbps": r.get("busbw_gbps"), "kernels": r["kernels"]} for r in rows], suggestion, exposed)


def _memory_figures(a: Any) -> tuple:
    """(peak reserved bytes, the device's memory in bytes) from the run's manifest, else the trace; each None or 0
    where unknown."""
    m = a.manifest
    s = a.summary
    reserved = (m.memory.peak_reserved_bytes if m is not None else None) or s.get("peak_reserved_bytes")
    total = (m.device.total_memory_bytes if m is not None and m.device is not None else None) \
        or s.get("device_memory_bytes")
    return reserved, total


def memory_pressure(a: Any) -> Optional[Finding]:
    s = a.summary
    reserved, total = _memory_figures(a)
    if not reserved or not total:
        return None
    pct = 100.0 * reserved / total
    if pct < MEMORY_PRESSURE_PCT:
        return None
    op, phase, module = s.get("peak_allocated_op"), s.get("peak_allocated_phase"), s.get("peak_allocated_module")
    inside = [x for x in (phase, module) if x and not x.startswith("(")]
    where = (f" The allocated peak was reached under {op or 'no operator'}" + (f" in {' / '.join(inside)}"
             if inside else "") + ": what it allocates, and what is still alive then, is the place to cut."
             if op or inside else "")
    evidence = {"peak_reserved_bytes": reserved, "device_memory_bytes": total, "peak_allocated_op": op,
                "peak_allocated_phase": phase, "peak_allocated_module": module}
    return Finding("memory-pressure", "high", f"Peak reserved memory was {reserved / 1e9:.1f} GB, {pct:.0f}% of the "
                   f"device's {total / 1e9:.1f} GB: a larger shape will run out of memory.{where}", [evidence],
                   "Use a variant that does not materialise large intermediates (e.g. triton), or a smaller batch.")


def _triton_scan_on_hopper(a: Any, rows: List[Dict[str, Any]]) -> bool:
    """Whether bambaprof's core ran its Triton chunk scan (``_chunk_scan``, not the Gluon ``_chunk_scan_sm90*``) on
    devices of compute capability 9 (Hopper), where the Gluon scan serves bf16 inputs."""
    capability = str(a.summary.get("compute_capability") or "")
    scans = {name.strip() for r in rows if r["step"] == "chunk scan" for name in str(r["kernels"]).split(",")}
    return capability.startswith("9.") and scans == {"_chunk_scan"}


def ssd_core(a: Any) -> Optional[Finding]:
    s = a.summary
    rows = [r for r in getattr(a, "ssd", None) or () if r["core"]]
    pct, total = s.get("ssd_core_pct"), s.get("ssd_core_us")
    if not rows or pct is None or not total or pct < SSD_CORE_PCT:
        return None
    rows = sorted(rows, key=lambda r: -r["gpu_us"])
    implementation = s.get("ssd_implementation") or rows[0]["implementation"]
    launches = sum(r["launches"] for r in rows)
    steps = "; ".join(f"{r['step']} {_us(r['gpu_us'])} ({100 * r['gpu_us'] / total:.0f}%)" for r in rows[:5])
    judged = [r for r in rows if r["floor_us"] is not None]
    floor = sum(r["floor_us"] for r in judged)
    excess = sum(r["excess_us"] for r in judged) if judged and len(judged) == len(rows) else None
    above = (f", {sum(r['gpu_us'] for r in judged) / floor:.1f}x its roofline floor" if judged and floor > 0
             and len(judged) == len(rows) else "")
    core_floor, core_x = s.get("ssd_core_floor_us"), s.get("ssd_core_above_floor_x")
    if excess is None and core_floor and core_x:  # the kernels carry no bytes: the floor of the op's shapes
        forward = core_x * core_floor
        above = (f", {core_x:.1f}x the roofline floor of its calls' shapes ({_us(core_floor)}: every input read "
                 "and every output written once, and the chunked scan's minimum FLOPs)")
        excess = forward - core_floor
    msg = (f"The SSD core ({implementation}: {launches} launches of {len(rows)} steps) takes {_us(total)}, "
           f"{pct:.0f}% of kernel time{above}: {steps}.")
    if implementation == MAMBA_SSM:
        record = measured.TRITON_CORE_VS_MAMBA_SSM
        suggestion = ("mamba_ssm's core runs its steps as five kernels that pass chunk states through global "
                      f"memory; a fused core needs fewer launches and less traffic: bambaprof's triton core took "
                      f"{record.quoted} of mamba_ssm's kernel time at Bamba-9B shapes on an {record.card} "
                      "(measure it on yours with bambaprof bench ssd --mamba-ssm SRC).")
    elif implementation == BAMBAPROF and _triton_scan_on_hopper(a, rows):
        record = measured.GLUON_SCAN_VS_TRITON_SCAN
        suggestion = ("The chunk scan here is the Triton kernel (_chunk_scan) on a Hopper GPU, where bambaprof also "
                      "has a Gluon scan for bf16 (TMA and wgmma; the core with it took "
                      f"{record.quoted} of its kernel time with _chunk_scan at Bamba-9B shapes on an {record.card}): "
                      "the default runs it inside CUDA graphs (--compile reduce-overhead), eagerly at every size with "
                      "the whole launch shortcut (repeated forwards launched whole), and without it eagerly from 1,024 "
                      "scan programs (batch x chunks x heads x head-dim blocks), below which an eager forward is bound "
                      "by its host and the Gluon launch's host time would lengthen it; BAMBAPROF_SSD_SCAN=gluon_ordered "
                      "runs it at every size. Measure both with bambaprof bench ssd.")
    else:
        suggestion = ("Compare the core's time with its FLOP floor and with mamba_ssm's at your shapes: bambaprof "
                      "bench ssd (--mamba-ssm SRC).")
    evidence = [{k: r[k] for k in ("implementation", "step", "launches", "gpu_us", "floor_us", "excess_us")}
                for r in rows]
    severity = "high" if pct >= HIGH_SHARE_PCT else "medium"
    return Finding("ssd-core", severity, msg, evidence, suggestion, max(excess, 0.0) if excess is not None else None)




def _launches(n: int) -> str:
    return f"{n} launch" if n == 1 else f"{n} launches"


def _issue_bound(a: Any, row: Dict[str, Any], rate: float, cycles: float, launches: int, total: float) -> Finding:
    msg = (f"{kernel_label(row['name'], 60)}: its schedulers issue an instruction in {100.0 * rate:.0f}% of their "
           f"cycles in the Nsight Compute run, yet it takes {_us(row['total_us'])}, "
           f"{row['total_us'] / row['floor_us']:.1f}x its floor ({100.0 * row['total_us'] / total:.0f}% of kernel "
           f"time, {_launches(launches)}): it is bound by the instructions it executes, not by waiting.")
    return Finding("issue-bound", _severity(row["total_us"], _window_us(a)), msg,
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
    total = _kernel_total(a)
    if total <= 0:
        return
    for row in _kernel_rows(a):
        k = per_kernel.get(row["name"])
        if k is None or 100.0 * row["total_us"] / total < min_share_pct:
            continue
        if row.get("floor_us") and not _far_from_floor(row):
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
            if _far_from_floor(row):
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
               + f"; its warps wait mostly for {' and for '.join(named)} ({_launches(k['n'])}; the kernel takes "
               f"{_us(row['total_us'])}, {100.0 * row['total_us'] / total:.0f}% of kernel time).")
        top = reasons[0][1]
        out.append(Finding("warp-stalls", _severity(row["total_us"], _window_us(a)), msg,
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
               f"from the cache rather than from DRAM ({_launches(launches)}; the kernel takes "
               f"{_us(row['total_us'])}{floor}, {100.0 * row['total_us'] / total:.0f}% of kernel time).")
        out.append(Finding("cache-bound", _severity(row["total_us"], _window_us(a)), msg,
                           [{"kernel": row["name"], "unit": unit, "busy_pct": busy, "sm_pct": sm, "l1_pct": l1,
                             "l2_pct": l2, "dram_pct": dram, "launches": launches, "time_us": row["total_us"]}],
                           CACHE_BOUND_ADVICE[unit], None))
    return out


RULES: List[Callable[[Any], Any]] = [host_bound, idle_unexplained, far_from_roofline, fusion_candidate,
                                     elementwise_contraction, float32_matmul, copy_overhead, low_occupancy,
                                     small_grid,
                                     unknown_bytes, dram_overfetch, warp_stalls, cache_bound, recompiles, graph_breaks,
                                     throttled, host_speed_changed, memory_pressure, sync_stall, pageable_copies,
                                     ssd_core, exposed_communication]


def _manifest_part(a: Any, part: Callable[[Any], Any]) -> bool:
    """Whether the run's manifest holds ``part`` (None for a bare trace, or a run that did not record it)."""
    m = getattr(a, "manifest", None)
    return m is not None and part(m) is not None


def _kernel_judged(a: Any, kernel: Optional[str], holds: Callable[[Dict[str, Any]], bool]) -> bool:
    """For a finding about ``kernel``: whether its row ``holds`` what the rule reads, or the kernel did not run (so
    the finding is gone for good); for one about no kernel, whether any row holds it."""
    rows = _kernel_rows(a)
    if kernel is None:
        return any(holds(k) for k in rows)
    row = next((k for k in rows if k["name"] == kernel), None)
    return row is None or holds(row)


def _has_ncu(a: Any, kernel: Optional[str]) -> bool:
    """Whether Nsight Compute's figures were read beside the trace (``analyze --ncu``), for ``kernel`` where it
    ran."""
    matched = {normalize_kernel_name(str(r["name"])) for r in getattr(a, "ncu", None) or () if r.get("matched")}
    return bool(matched) and _kernel_judged(a, kernel, lambda k: k["name"] in matched)


#: For each finding whose rule reads what a trace or run may not hold, whether an analysis holds it (``kernel``: the
#: kernel a per-kernel finding is about, else None). Findings not named here read only what every trace has.
_JUDGED: Dict[str, Callable[[Any, Optional[str]], bool]] = {
    "host-bound": lambda a, k: a.summary.get("idle_host_wait_us") is not None,
    "sync-stall": lambda a, k: a.summary.get("sync_count") is not None,
    "far-from-roofline": lambda a, k: (a.summary.get("floor_coverage_pct") or 0.0) >= FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT,
    "low-occupancy": lambda a, k: _kernel_judged(a, k, lambda r: r.get("theoretical_occupancy_pct") is not None
                                                 and r.get("floor_us") is not None),
    "small-grid": lambda a, k: _kernel_judged(a, k, lambda r: r.get("waves_per_sm") is not None),
    "recompiles": lambda a, k: _manifest_part(a, lambda m: m.compile),
    "graph-breaks": lambda a, k: _manifest_part(a, lambda m: m.compile),
    "throttled": lambda a, k: _manifest_part(a, lambda m: m.telemetry.summary.nvml if m.telemetry else None),
    "host-speed-changed": lambda a, k: _manifest_part(a, lambda m: m.host.probe_change if m.host else None),
    "memory-pressure": lambda a, k: all(_memory_figures(a)),
    "elementwise-contraction": lambda a, k: getattr(a, "contractions", None) is not None,
    "copy-overhead": lambda a, k: getattr(a, "copies", None) is not None,
    "dram-overfetch": _has_ncu, "warp-stalls": _has_ncu, "issue-bound": _has_ncu, "cache-bound": _has_ncu,
}


def can_judge(a: Any, finding: str, kernel: Optional[str] = None) -> bool:
    """Whether the analysis ``a`` holds what the rule raising ``finding`` reads (about ``kernel``, for a per-kernel
    finding), so that its absence means the rule did not fire rather than that it could not: a trace without the
    host's calls cannot be host-bound, one without ``--ncu`` cannot show warp stalls. ``compare`` calls a finding
    that one side lacks and cannot judge neither new nor resolved."""
    if finding not in _WITHOUT_GPU and gpu_unrecorded(a):
        return False
    judged = _JUDGED.get(finding)
    return judged is None or judged(a, kernel)


#: Findings whose rules read no GPU activity (the run's manifest, its memory and host figures).
_WITHOUT_GPU = frozenset({"recompiles", "graph-breaks", "throttled", "host-speed-changed", "memory-pressure"})


def gpu_unrecorded(a: Any) -> bool:
    """Whether the analysis is of GPU work whose GPU side the trace does not hold (launch calls without GPU activity,
    or every activity left out): its GPU figures are unknown (``kernel_us`` None), unlike a CPU-only trace's."""
    return a.summary.get("platform") != "cpu" and a.summary.get("kernel_us") is None


def diagnose(a: Any) -> List[Finding]:
    """Every rule's findings for the analysis ``a``, most time at stake first."""
    found: List[Finding] = []
    for rule in RULES:
        result = rule(a)
        if isinstance(result, Finding):
            found.append(result)
        elif result:
            found.extend(result)
    found.sort(key=lambda f: (f.time_us is None, -(f.time_us or 0.0), _SEVERITY_ORDER[f.severity]))
    return found
