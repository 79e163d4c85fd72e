"""Every rule, in order, what each needs to judge a trace, and :func:`diagnose`, which ranks their findings.

The rules live by what they read: :mod:`.host` (the host's side), :mod:`.transfers` (copies between host and
device), :mod:`.kernels` (the kernel tables), :mod:`.nsight` (Nsight Compute's figures), :mod:`.manifest` (the run's
record); :mod:`.finding` holds the :class:`~.finding.Finding` and the severity scale. Their names are re-exported
here.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ..analysis.names import normalize_kernel_name
from .attention import repeated_kv, unfused_attention
from .autograd import grad_enabled_inference
from .checkpointing import checkpoint_headroom
from .compiled import cudagraph_recording, graph_breaks
from .convolutions import depthwise_conv
from .distributed import grad_sync_per_microbatch
from .finding import (
    _SEVERITY_ORDER,
    FAR_FROM_ROOFLINE_X,
    HIGH_SHARE_PCT,
    MEDIUM_SHARE_PCT,
    PER_KERNEL_FINDINGS,
    Finding,
    kernel_rows,
    memory_figures,
    severity_rank,
)
from .generation import all_position_logits, decode_floor, no_cache_generation
from .growing_cats import growing_cat
from .host import (
    UNEVEN_MIN_STEPS,
    allocation_stall,
    compilation_in_trace,
    data_loading,
    host_bound,
    idle_unexplained,
    sync_stall,
    uneven_steps,
)
from .kernels import (
    FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT,
    copy_overhead,
    elementwise_contraction,
    exposed_communication,
    far_from_roofline,
    float32_matmul,
    float64_kernels,
    fusion_candidate,
    low_occupancy,
    misaligned_gemm,
    partial_wave,
    small_grid,
    ssd_core,
    unknown_bytes,
)
from .manifest import host_speed_changed, memory_pressure, recompiles, throttled
from .nsight import cache_bound, dram_overfetch, warp_stalls
from .optimizer import unfused_optimizer
from .projections import split_projections
from .transfers import exposed_transfers, pageable_copies

__all__ = ["FAR_FROM_ROOFLINE_X", "HIGH_SHARE_PCT", "MEDIUM_SHARE_PCT", "PER_KERNEL_FINDINGS", "RULES",
           "all_position_logits", "allocation_stall", "cache_bound", "can_judge", "checkpoint_headroom", "compilation_in_trace",
           "copy_overhead", "cudagraph_recording", "data_loading", "decode_floor",
           "depthwise_conv", "diagnose", "dram_overfetch", "elementwise_contraction", "exposed_communication",
           "exposed_transfers", "far_from_roofline", "Finding", "float32_matmul", "float64_kernels",
           "fusion_candidate", "gpu_unrecorded", "grad_enabled_inference", "grad_sync_per_microbatch", "graph_breaks",
           "growing_cat", "host_bound",
           "host_speed_changed", "idle_unexplained", "low_occupancy", "memory_pressure", "misaligned_gemm",
           "no_cache_generation",
           "pageable_copies", "partial_wave", "recompiles", "repeated_kv", "severity_rank", "small_grid", "split_projections",
           "ssd_core", "sync_stall",
           "throttled",
           "uneven_steps", "unfused_attention", "unfused_optimizer", "unknown_bytes", "warp_stalls"]

RULES: List[Callable[[Any], Any]] = [
    host_bound, idle_unexplained, far_from_roofline, fusion_candidate, elementwise_contraction, unfused_attention,
    depthwise_conv, growing_cat, no_cache_generation, float32_matmul, float64_kernels, misaligned_gemm,
    copy_overhead, low_occupancy, small_grid, partial_wave, unknown_bytes, dram_overfetch, warp_stalls, cache_bound,
    recompiles,
    graph_breaks, throttled, host_speed_changed, memory_pressure, sync_stall, allocation_stall, data_loading,
    compilation_in_trace, uneven_steps, unfused_optimizer, grad_enabled_inference, pageable_copies, exposed_transfers,
    ssd_core, exposed_communication, checkpoint_headroom, cudagraph_recording, grad_sync_per_microbatch,
    decode_floor, split_projections, repeated_kv, all_position_logits,
]


def _manifest_part(a: Any, part: Callable[[Any], Any]) -> bool:
    """Whether the run's manifest holds ``part`` (None for a bare trace, or a run that did not record it)."""
    m = getattr(a, "manifest", None)
    return m is not None and part(m) is not None


def _kernel_judged(a: Any, kernel: Optional[str], holds: Callable[[Dict[str, Any]], bool]) -> bool:
    """For a finding about ``kernel``: whether its row ``holds`` what the rule reads, or the kernel did not run (so
    the finding is gone for good); for one about no kernel, whether any row holds it."""
    rows = kernel_rows(a)
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
    "allocation-stall": lambda a, k: a.summary.get("allocation_calls") is not None,
    "data-loading": lambda a, k: a.summary.get("data_loader_fetches") is not None,
    "compilation-in-trace": lambda a, k: a.summary.get("compile_frames") is not None,
    "cudagraph-recording": lambda a, k: a.summary.get("cudagraph_records") is not None,
    # a cached generate run's manifest, with a peak bandwidth
    "decode-floor": lambda a, k: a.summary.get("decode_floor_x") is not None,
    # the wrapper's forwards, the reductions and an optimizer step: CPU ops
    "grad-sync-per-microbatch": lambda a, k: a.summary.get("wrapped_forwards") is not None,
    "exposed-transfers": lambda a, k: a.summary.get("transfer_count") is not None,
    "uneven-steps": lambda a, k: len(getattr(a, "steps", None) or []) >= UNEVEN_MIN_STEPS,
    "far-from-roofline": lambda a, k: (a.summary.get("floor_coverage_pct") or 0.0) >= FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT,
    "low-occupancy": lambda a, k: _kernel_judged(a, k, lambda r: r.get("theoretical_occupancy_pct") is not None
                                                 and r.get("floor_us") is not None),
    "small-grid": lambda a, k: _kernel_judged(a, k, lambda r: r.get("waves_per_sm") is not None),
    "partial-wave": lambda a, k: _kernel_judged(a, k, lambda r: r.get("partial_wave_us") is not None),
    "recompiles": lambda a, k: _manifest_part(a, lambda m: m.compile),
    # the run's count of breaks, or the trace's calls of compiled code (none where it holds no CPU ops)
    "graph-breaks": lambda a, k: _manifest_part(a, lambda m: m.compile) or getattr(a, "compiled_calls", None) is not None,
    "throttled": lambda a, k: _manifest_part(a, lambda m: m.telemetry.summary.nvml if m.telemetry else None),
    "host-speed-changed": lambda a, k: _manifest_part(a, lambda m: m.host.probe_change if m.host else None),
    "memory-pressure": lambda a, k: all(memory_figures(a)),
    "elementwise-contraction": lambda a, k: getattr(a, "contractions", None) is not None,
    # copies made by ops, and none hidden in graph replays (whose kernels carry no op)
    "copy-overhead": lambda a, k: a.summary.get("copy_cast_us") is not None,
    # the dtype comes from the launching op's recorded input types: none without shapes
    "float64-kernels": lambda a, k: any(r.get("dtype") for r in kernel_rows(a)),
    "misaligned-gemm": lambda a, k: a.summary.get("misaligned_gemm_count") is not None,
    # calls are ops: none without the host's side (hand-written attention needs shapes too)
    "unfused-attention": lambda a, k: a.summary.get("attention_calls") is not None,
    "unfused-optimizer": lambda a, k: a.summary.get("optimizer_steps") is not None,
    "depthwise-conv": lambda a, k: getattr(a, "depthwise_convs", None) is not None,
    "growing-cat": lambda a, k: getattr(a, "growing_cats", None) is not None,
    # products are ops with shapes: none without them
    "split-projections": lambda a, k: getattr(a, "projections", None) is not None,
    "repeated-kv": lambda a, k: getattr(a, "kv_repeats", None) is not None,
    "all-position-logits": lambda a, k: getattr(a, "prefill_logits", None) is not None,
    "no-cache-generation": lambda a, k: getattr(a, "generation", None) is not None,
    "grad-enabled-inference": lambda a, k: a.summary.get("autograd_forward_ops") is not None,
    # the recomputed work and the memory both: memory events (profile_memory=True) and the device's size
    "checkpoint-headroom": lambda a, k: a.summary.get("recompute_gpu_us") is not None
    and a.summary.get("peak_reserved_bytes") is not None and a.summary.get("device_memory_bytes") is not None,
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
