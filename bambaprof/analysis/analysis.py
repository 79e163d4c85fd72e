"""One call from a trace (or run directory) to every table: :func:`analyze`.

The result, :class:`Analysis`, holds a summary (dict), the per-kernel and
per-op tables (lists of dicts), launch statistics, CPU-bound stretches,
memory peaks, per-device timelines, the run's telemetry summary and notes
about what could not be known. Units: us, bytes, GB/s, percent.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from ..errors import BambaprofError
from ..run import Manifest, read_manifest, read_telemetry
from ..run.directory import member, read_side_file
from .allocations import SUMMARY_KEYS as ALLOCATION_FIGURES
from .allocations import allocation_calls, allocation_summary, allocation_table
from .attention import SUMMARY_KEYS as ATTENTION_FIGURES
from .attention import attention_summary, attention_table
from .autograd import autograd_summary
from .checkpointing import checkpoint_summary, checkpoint_table
from .comms import collective_summary, collective_table
from .compilation import compile_ranges, compile_summary
from .compiled_calls import compiled_call_summary, compiled_call_table
from .contractions import contraction_table
from .convolutions import depthwise_conv_table
from .copies import copy_summary, copy_table
from .cuda_graphs import cuda_graph_recordings, cuda_graph_summary
from .data_loading import loader_ranges, loader_summary
from .decode_floor import decode_floor_summary
from .generation import generation_table
from .grad_sync import grad_sync_summary
from .growing_cats import growing_cat_table
from .idle import CAUSES as IDLE_CAUSES
from .idle import idle_by_cause
from .kernels import activity_names, instance_traffic, kernel_table
from .kv_repeats import kv_repeat_summary, kv_repeat_table
from .launch_map import LaunchMap
from .memory import memory_peaks
from .misaligned_gemms import misaligned_gemm_table, misaligned_summary
from .modules import NO_MODULE, module_ranges, module_tables
from .nsys import BACKEND as NSYS_BACKEND
from .ops import op_table
from .optimizer import SUMMARY_KEYS as OPTIMIZER_FIGURES
from .optimizer import optimizer_summary, optimizer_table
from .peaks import PeakBandwidth, PeakCompute, choose_peak, compute_peaks, datasheet, usable_gbps
from .phases import coverage_pct, paths_at, phase_tables
from .prefill_logits import prefill_logits_summary, prefill_logits_table
from .projections import projection_summary, projection_table
from .rocpd import BACKEND as ROCPD_BACKEND
from .rocprof import BACKENDS as ROCPROF_BACKENDS
from .roofline import run_floor
from .sampled import kernel_samples
from .source import TraceError, TraceSource, resolve
from .ssd_kernels import core_calls, core_floor, ssd_summary, ssd_table
from .steps import add_step_causes, median_step_us, step_table
from .syncs import sync_calls, sync_summary, sync_table, syncs_known
from .telemetry import summarize_telemetry
from .timeline import analyze_timeline, gpu_busy, gpu_work_calls, launch_rows
from .trace import GPU_SKIP_KINDS, Trace, load_trace
from .transfers import SUMMARY_KEYS as TRANSFER_FIGURES
from .transfers import transfer_rows, transfer_summary, transfer_table

KERNEL_SORT_KEYS = ("total_us", "count", "mean_us", "median_us", "max_us", "share_pct", "achieved_gbps",
                    "pct_of_peak_bw", "theoretical_occupancy_pct", "est_occupancy_pct", "waves_per_sm", "name")
OP_SORT_KEYS = ("cpu_total_us", "cpu_self_us", "gpu_total_us", "gpu_self_us", "count", "kernels", "name")


#: Timestamps whose float64 spacing exceeds this (us) get a note: Kineto's, about 1.7e15 us since the epoch,
#: resolve to 0.25 us.
COARSE_TIME_US = 1.0


@dataclass
class Analysis:
    """Everything ``bambaprof analyze`` reports about one trace."""

    summary: Dict[str, Any]
    kernels: List[Dict[str, Any]]
    ops: List[Dict[str, Any]]
    launch: Dict[str, Any]
    stretches: List[Dict[str, Any]]
    memory: List[Dict[str, Any]]
    devices: List[Dict[str, Any]]
    telemetry: Optional[Dict[str, Any]]
    notes: List[str] = field(default_factory=list)
    ncu: Optional[List[Dict[str, Any]]] = None  # Nsight Compute comparison, when asked for
    phases: List[Dict[str, Any]] = field(default_factory=list)  # GPU time per annotated range (path)
    phase_kinds: List[Dict[str, Any]] = field(default_factory=list)  # the same, layers folded together
    modules: List[Dict[str, Any]] = field(default_factory=list)  # GPU time per nn.Module call path (with_stack)
    module_kinds: List[Dict[str, Any]] = field(default_factory=list)  # the same, instance numbers folded
    findings: List[Dict[str, Any]] = field(default_factory=list)  # diagnosis, most time at stake first
    syncs: List[Dict[str, Any]] = field(default_factory=list)  # host-device synchronisations by call and op
    #: device and pinned-host memory allocation calls inside the GPU window, by call and op
    allocations: List[Dict[str, Any]] = field(default_factory=list)
    ssd: List[Dict[str, Any]] = field(default_factory=list)  # SSD kernels by implementation and step (names)
    collectives: List[Dict[str, Any]] = field(default_factory=list)  # NCCL/RCCL kernels by kind, exposed time
    steps: List[Dict[str, Any]] = field(default_factory=list)  # the profiled steps (ProfilerStep#n) and durations
    #: contractions computed as a broadcast product and a reduction (aten::mul then aten::sum), by shapes; None
    #: where the trace cannot tell (no CPU ops or no shapes recorded)
    contractions: Optional[List[Dict[str, Any]]] = None
    #: attention calls by backend (flash, efficient, cudnn, math, hand-written), shapes and arguments, with their
    #: GPU time forward and backward and their floor; then attention kernels found by name (see :mod:`.attention`)
    attention: List[Dict[str, Any]] = field(default_factory=list)
    #: optimizer steps by class and implementation (fused, foreach, for-loop), with their host time and the GPU's
    #: idle time inside their kernels' windows (see :mod:`.optimizer`); None where the trace holds no CPU ops
    optimizer: Optional[List[Dict[str, Any]]] = None
    #: calls of torch.compile'd code by their frames and graphs, with the host's time outside the graphs (graph
    #: breaks) and what ran eagerly there (see :mod:`.compiled_calls`); None where the trace holds no CPU ops
    compiled_calls: Optional[List[Dict[str, Any]]] = None
    #: depthwise convolutions on ATen's generic kernels (a Mamba mixer's causal conv1d among them) with their floor
    #: (see :mod:`.convolutions`); None where the trace holds no CPU ops or no GPU activity
    depthwise_convs: Optional[List[Dict[str, Any]]] = None
    #: tensors grown by torch.cat call after call (a KV cache concatenated every token; see :mod:`.growing_cats`);
    #: None where the trace holds no CPU ops with shapes
    growing_cats: Optional[List[Dict[str, Any]]] = None
    #: matrix products of one activation shape run one after another (projections whose weights could be stacked:
    #: q, k, v; gate, up; see :mod:`.projections`); None without CPU ops or shapes
    projections: Optional[List[Dict[str, Any]]] = None
    #: keys and values copied to the query's heads before attention calls (grouped-query attention by
    #: ``repeat_interleave`` or ``repeat_kv``; see :mod:`.kv_repeats`); None without CPU ops or shapes
    kv_repeats: Optional[List[Dict[str, Any]]] = None
    #: generation's prefills that computed logits at every prompt position (see :mod:`.prefill_logits`); None
    #: without CPU ops or shapes
    prefill_logits: Optional[List[Dict[str, Any]]] = None
    #: weight products whose token counts grow forward after forward: generation recomputing its prefix every token
    #: (see :mod:`.generation`); None where the trace holds no CPU ops with shapes
    generation: Optional[List[Dict[str, Any]]] = None
    #: forward ops recomputed in the backward pass (activation checkpointing) by name (see :mod:`.checkpointing`);
    #: None where the trace holds no CPU ops
    checkpointing: Optional[List[Dict[str, Any]]] = None
    #: copies on the device by kind (cast, layout, copy), dtypes, shape and calling op; None where the trace holds
    #: no CPU ops
    copies: Optional[List[Dict[str, Any]]] = None
    #: copies between host and device memory by direction, host memory, stream and op, with the time no kernel ran
    #: beside them (see :mod:`.transfers`)
    transfers: List[Dict[str, Any]] = field(default_factory=list)
    #: launches of cuBLAS's under-aligned tensor-op GEMM kernels by kernel, op, shapes and dtype (see
    #: :mod:`.misaligned_gemms`)
    misaligned_gemms: List[Dict[str, Any]] = field(default_factory=list)
    manifest: Optional[Manifest] = None  # the run directory's manifest (not part of to_dict)

    def to_dict(self) -> Dict[str, Any]:
        """Every table as plain JSON-ready values (the manifest left out: it is the run's own file)."""
        manifest, self.manifest = self.manifest, None
        try:
            return asdict(self)
        finally:
            self.manifest = manifest


def _run_peak(manifest: Optional[Manifest]) -> Optional[PeakBandwidth]:
    """The peak bandwidth the run knows: its measured copy bandwidth, else NVML's bus x clock, else ``None``."""
    dev = manifest.device if manifest is not None else None
    if dev is not None and dev.ceilings is not None and usable_gbps(dev.ceilings.copy_gbps):
        return PeakBandwidth(dev.ceilings.copy_gbps, "measured")
    if dev is not None and usable_gbps(dev.peak_bandwidth_gbps):
        return PeakBandwidth(float(dev.peak_bandwidth_gbps), dev.peak_bandwidth_source or "measured")
    return None


def _trace_peak(trace: Trace, device: int) -> Optional[PeakBandwidth]:
    """The device's DRAM bandwidth as the trace's tool recorded it (Nsight Systems' ``memoryBandwidth``), or
    ``None`` (Kineto records none)."""
    props = trace.devices.get(device)
    gbps = props.peak_bandwidth_gbps if props is not None else None
    return PeakBandwidth(gbps, "Nsight Systems") if usable_gbps(gbps) else None


def _run_compute(manifest: Optional[Manifest]) -> Optional[PeakCompute]:
    """The matmul rates the run measured (``device.ceilings``), or ``None``."""
    c = manifest.device.ceilings if manifest is not None and manifest.device is not None else None
    if c is None or not c.bf16_tflops:
        return None
    rates = {"bf16": c.bf16_tflops, **({"fp32": c.fp32_tflops} if c.fp32_tflops else {})}
    return PeakCompute(rates, f"measured {c.measured or ''}: {c.method or 'matmul'}".strip())


def _launch_map(run_dir: Optional[Path], manifest: Optional[Manifest], notes: List[str]) -> Optional[LaunchMap]:
    """The run's launch map (runs that replay CUDA graphs), or ``None``; a map that cannot be read is a note,
    and the replayed kernels' bytes stay unknown."""
    if run_dir is None or manifest is None:
        return None
    launch_map = None
    name = manifest.files.launch_map
    path = member(run_dir, name) if name else None
    if name and path is None:
        notes.append(f"launch map not used: {name!r} is not a file name in the run directory")
    elif path is not None:
        try:
            launch_map = LaunchMap.from_trace(load_trace(TraceSource(path, run_dir)))
        except TraceError as exc:
            notes.append(f"launch map not used ({exc}): bytes of kernels replayed from CUDA graphs are unknown")
    counts_name = manifest.files.inductor_kernels
    counts_path = member(run_dir, counts_name) if counts_name else None
    if counts_path is not None and counts_path.is_file():
        try:
            counts = json.loads(read_side_file(counts_path))
        except (BambaprofError, ValueError, RecursionError) as exc:
            notes.append(f"inductor's kernel counts not used ({str(exc).splitlines()[0][:200]})")
        else:
            launch_map = (launch_map or LaunchMap()).with_inductor_counts(counts)
    return launch_map


def _idle_split(timeline: Any) -> Dict[str, Optional[float]]:
    """The GPU's idle time (us) split into host wait and other over the devices where the trace can split it
    (:mod:`.timeline`); both ``None`` where it can split no device's."""
    known = [d for d in timeline.devices if d.split_known]
    if timeline.devices and not known:
        return {"idle_host_wait_us": None, "idle_other_us": None}
    return {"idle_host_wait_us": sum(d.host_wait_us for d in known),
            "idle_other_us": sum(d.other_idle_us for d in known)}


#: The summary's figures of the GPU's side: unknown (None) for a trace whose GPU work ran but was not recorded.
GPU_FIGURES = ("gpu_busy_us", "gpu_window_us", "gpu_busy_pct", "gpu_idle_us", "idle_host_wait_us", "idle_other_us",
               "kernel_count", "kernel_us", "memcpy_count", "memcpy_us", "memset_count", "memset_us", "streams",
               "cpu_bound_stretches", "cpu_bound_us", "sync_count", "sync_host_blocked_us", "sync_drain_us",
               *ALLOCATION_FIGURES, *TRANSFER_FIGURES, *ATTENTION_FIGURES[2:], *OPTIMIZER_FIGURES[2:],
               "compiled_gap_gpu_idle_us", "misaligned_gemm_count",
               "misaligned_gemm_us", "projection_at_stake_us", "kv_repeat_us",
               "prefill_logits_extra_us",
               "data_loader_gpu_idle_us", "compile_gpu_idle_us",
               "collective_count", "phase_coverage_pct", "module_coverage_pct", "floor_judged_us",
               "floor_coverage_pct")


def _phases_known(trace: Trace) -> bool:
    """Whether phases can be known: some GPU activity is linked to the host call or op that launched it, and the
    trace holds the CPU side's ops and ranges. Where no activity is linked (GPU activity alone), or nothing of the
    CPU side was recorded (the profiler's CPU activity off: runtime calls without ops or ranges), which range each
    activity ran under is unknown, not 0% of the time."""
    if not len(trace.gpu):
        return True
    return len(trace.ops) > 0 and bool(((launch_rows(trace) >= 0) | (trace.gpu_op_row >= 0)).any())


def _sum_kind(trace: Trace, kind: str) -> tuple:
    sel = trace.gpu.kind == kind
    return int(sel.sum()), float(trace.gpu.dur[sel].sum())


def _capability(trace: Any) -> Optional[str]:
    """The devices' compute capability (``"9.0"``) where the trace's device properties give one for all of them
    alike, else None."""
    caps = {(p.compute_major, p.compute_minor) for p in trace.devices.values()}
    if len(caps) != 1:
        return None
    major, minor = caps.pop()
    return f"{major}.{minor}" if major >= 0 and minor >= 0 else None


def analyze(
    path: Union[str, Path, TraceSource, Trace],
    backend: str = "auto",
    peak_gbps: Optional[float] = None,
    min_stretch_us: float = 20.0,
    ncu_csv: Optional[Union[str, Path]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    jobs: Optional[int] = None,
) -> Analysis:
    """Load and analyse a run directory or trace file (or an already loaded :class:`Trace`).

    ``ncu_csv``: an Nsight Compute CSV of the same workload, put beside the derived
    figures (see :func:`bambaprof.analysis.ncu.compare_with_ncu`). ``progress(done, total)``
    reports how much of the trace is read. ``jobs``: worker processes that decode a large trace
    (see :func:`~bambaprof.analysis.trace.load_trace`; default: one per available CPU).
    """
    if isinstance(path, Trace):
        trace = path
    else:
        trace = load_trace(path if isinstance(path, TraceSource) else resolve(path), backend, progress, jobs)
    notes: List[str] = []
    run_dir = trace.source.run_dir
    manifest = read_manifest(run_dir) if run_dir is not None else None

    run_peak = _run_peak(manifest)
    run_name = manifest.device_name if manifest is not None else None
    specs = {dev: datasheet(props.name or run_name, props.compute_major, props.compute_minor, props.num_sms,
                            props.total_memory) for dev, props in trace.devices.items()}
    for dev in set(trace.gpu.device.tolist()) - set(specs):
        specs[dev] = datasheet(run_name)
    peaks = {dev: choose_peak(None, peak_gbps, run_peak or _trace_peak(trace, dev), spec)
             for dev, spec in specs.items()}
    measured = _run_compute(manifest)
    compute = {dev: measured or compute_peaks(spec) for dev, spec in specs.items()}

    timeline = analyze_timeline(trace, min_stretch_us=min_stretch_us)
    launch_map = _launch_map(run_dir, manifest, notes)
    traffic = instance_traffic(trace, launch_map)
    names = activity_names(trace)
    kernels = kernel_table(trace, peaks, timeline.per_kernel_launch_us, compute, traffic, names)
    sampled = kernel_samples(trace)  # Nsight Systems' GPU metrics, where kernels ran alone through samples
    sampled_keys = dict.fromkeys(key for values in sampled.values() for key in values)
    for row in kernels:  # every row has the columns (unknown where no sample fell), so tables stay rectangular
        row.update(dict.fromkeys(sampled_keys))
        if row["name"] in sampled:  # kernels, and copies and memsets too (a device-to-device copy reads DRAM)
            row.update(sampled[row["name"]])
    floor = run_floor(kernels)
    phases = phase_tables(trace, kernels, names, traffic)
    modules = module_tables(trace, kernels, names, traffic)
    ssd = ssd_table(kernels)
    busiest = max(timeline.devices, key=lambda d: d.busy_us).device if timeline.devices else None
    core_peak, core_compute = peaks.get(busiest), compute.get(busiest)  # the busiest device's peaks
    busiest_spec = specs.get(busiest) if busiest is not None else None
    core_gbps = core_peak.gbps if core_peak else None
    tflops_for: Callable[[Optional[str]], Optional[float]] = \
        core_compute.for_dtype if core_compute else (lambda dtype: None)
    ssd_floor = core_floor(core_calls(trace.ops), core_gbps, tflops_for)
    contractions = contraction_table(trace, core_gbps, tflops_for)
    attention = attention_table(trace, core_gbps, tflops_for)
    optimizer = optimizer_table(trace)
    compiled_calls = compiled_call_table(trace)
    depthwise_convs = depthwise_conv_table(trace, core_gbps, tflops_for)
    growing_cats = growing_cat_table(trace, core_gbps, tflops_for)
    projections = projection_table(trace, core_gbps, tflops_for)
    kv_repeats = kv_repeat_table(trace)
    prefill_logits = prefill_logits_table(trace)
    generation = generation_table(trace)
    checkpointing = checkpoint_table(trace)
    copies = copy_table(trace)
    replayed = timeline.launch.graph_kernels
    if copies is not None and replayed:
        notes.append(f"copies: {replayed:,} kernel launches replayed from CUDA graphs carry no op, so the copies among "
                     "them are not in the copies table and the copy totals (copy_*_us) are unknown")
    ops = op_table(trace)
    synchronising = sync_calls(trace)
    syncs = sync_table(trace, synchronising)
    memory = memory_peaks(trace)
    window = trace.span_us
    telemetry = None
    if run_dir is not None:
        telemetry = summarize_telemetry(read_telemetry(run_dir, manifest), window)
    elif trace.meta.get("gpuMetrics"):  # an Nsight Systems export's sampled GPU metrics, over its GPU window
        telemetry = dict(trace.meta["gpuMetrics"])

    gpu_skipped = sum(n for what, n in trace.skipped.items() if what.startswith(GPU_SKIP_KINDS))
    # GPU work that ran but is not in the trace: activities left out for unusable times, or launch calls without
    # the GPU's side (the profiler's CUDA activity off): its GPU figures are unknown, not 0
    unrecorded_calls = gpu_work_calls(trace) if len(trace.gpu) == 0 else 0
    host_recorded = syncs_known(trace)  # runtime calls beside the GPU work (or no GPU work)
    gpu_unrecorded = len(trace.gpu) == 0 and bool(gpu_skipped or unrecorded_calls)
    kc, kt = _sum_kind(trace, "kernel")
    mc, mt = _sum_kind(trace, "memcpy")
    sc, st = _sum_kind(trace, "memset")
    span = window[1] - window[0] if math.isfinite(window[0]) else math.nan
    busy = sum(d.busy_us for d in timeline.devices)
    gpu_window = sum(d.window_us for d in timeline.devices)  # busy + idle: first to last activity, per device
    cuda_mem = [m for m in memory if not m["device"].startswith("cpu")]
    k_rows = [r for r in kernels if r["kind"] == "kernel"]
    known_time = sum(r["total_us"] * r["bytes_known"] / r["count"] for r in k_rows)
    names = sorted({p.name for p in trace.devices.values()})
    steps = step_table(trace)
    allocating = allocation_calls(trace, steps)
    fetching = loader_ranges(trace)
    compiling = compile_ranges(trace)
    recording = cuda_graph_recordings(trace)
    transfers = transfer_table(trace, transfer_rows(trace))
    misaligned = misaligned_gemm_table(trace)
    host_calls = host_recorded and len(trace.runtime) > 0  # runtime calls: allocations and syncs could show
    intervals = [(compiling["start"], compiling["end"]), (recording["start"], recording["end"]),
                 (fetching["start"], fetching["end"]),
                 (allocating["start"], allocating["reach"]) if host_calls else (None, None),
                 (synchronising["start"], synchronising["end"] + synchronising["emptied"]) if host_calls else (None, None)]
    idle_causes = idle_by_cause(*gpu_busy(trace), [(name, s, e) for name, (s, e) in zip(IDLE_CAUSES, intervals)])
    host_intervals = intervals[:3] + ([(allocating["start"], allocating["end"]), (synchronising["start"],
                                      synchronising["end"])] if host_calls else [(None, None)] * 2)
    add_step_causes(trace, steps, [(name, s, e) for name, (s, e) in zip(IDLE_CAUSES, host_intervals)])
    summary: Dict[str, Any] = {
        "trace": str(trace.source.trace_path),
        "run_dir": str(run_dir) if run_dir is not None else None,
        "parser_backend": trace.backend,
        "events": trace.n_events,
        "lenient_events": trace.lenient_events,
        "platform": trace.platform if len(trace.gpu) or gpu_unrecorded else "cpu",
        "skipped_events": dict(trace.skipped),
        "rank": trace.rank,
        "devices": ", ".join(names) if names else None,
        "compute_capability": _capability(trace),
        "device_memory_bytes": max((p.total_memory for p in trace.devices.values() if p.total_memory > 0),
                                   default=None),
        "span_us": span,
        "gpu_busy_us": busy,
        "gpu_window_us": gpu_window,
        "gpu_busy_pct": 100.0 * busy / gpu_window if gpu_window > 0 else None,
        "gpu_idle_us": sum(d.idle_us for d in timeline.devices),
        **_idle_split(timeline),
        "profiled_steps": len(steps) or None,  # one row per step name (the builder drops ranges without times)
        "step_us": median_step_us(steps),
        "kernel_count": kc,
        "kernel_us": kt,
        "memcpy_count": mc,
        "memcpy_us": mt,
        "memset_count": sc,
        "memset_us": st,
        "streams": len(set(zip(trace.gpu.device.tolist(), trace.gpu.stream.tolist()))),
        "launch_overhead_mean_us": timeline.launch.mean_us,
        "launch_overhead_median_us": timeline.launch.median_us,
        "launch_overhead_idle_gpu_median_us": timeline.launch.idle_median_us,
        "cpu_bound_stretches": timeline.stretch_count,
        "cpu_bound_us": timeline.stretch_total_us,
        **sync_summary(syncs, host_recorded),
        **allocation_summary(trace, allocating, host_recorded),
        **transfer_summary(trace, transfers),
        **misaligned_summary(misaligned, len(trace.gpu) > 0),
        **projection_summary(projections),
        **kv_repeat_summary(kv_repeats, len(trace.gpu) > 0),
        **prefill_logits_summary(prefill_logits, len(trace.gpu) > 0),
        **attention_summary(trace, attention),
        **optimizer_summary(trace, optimizer),
        **compiled_call_summary(trace, compiled_calls),
        **autograd_summary(trace),
        **checkpoint_summary(trace, checkpointing),
        **loader_summary(trace, fetching),
        **compile_summary(trace, compiling, steps),
        **cuda_graph_summary(trace, recording, steps),
        **grad_sync_summary(trace),
        # the GPU window's idle time (no device running) by cause, each instant once (analysis/idle.py)
        "idle_by_cause": idle_causes,
        **collective_summary(trace),
        "kernel_time_with_known_bytes_pct": 100.0 * known_time / kt if kt > 0 else None,
        "peak_allocated_bytes": max((m["peak_allocated_bytes"] or 0 for m in cuda_mem), default=None) if cuda_mem else None,
        **_peak_place(cuda_mem),
        "peak_reserved_bytes": max((m["peak_reserved_bytes"] or 0 for m in cuda_mem), default=None) if cuda_mem else None,
        "peak_cpu_allocated_bytes": max((m["peak_allocated_bytes"] or 0 for m in memory if m["device"].startswith("cpu")),
                                        default=None),
        "peak_bandwidth_gbps": next((p.gbps for p in peaks.values() if p), None),
        "peak_bandwidth_source": next((p.source for p in peaks.values() if p), None),
        "peak_compute_source": next((c.source for c in compute.values() if c), None),
        # the busiest device's datasheet rates by dtype class (fp32 on the CUDA cores, tf32, bf16, fp8), whatever
        # the floors use: what a kernel could reach on other units (float32-matmul)
        "datasheet_tflops": dict(busiest_spec.tflops) if busiest_spec is not None and busiest_spec.tflops else None,
        "phase_coverage_pct": coverage_pct(phases["phases"]) if _phases_known(trace) else None,
        **ssd_summary(ssd, ssd_floor),
        # Python's stack (nn.Module calls) comes with the CPU activity: a trace without ops cannot hold it
        "module_calls": len(trace.modules) if len(trace.ops) or len(trace.modules) or not len(trace.gpu) else None,
        "module_coverage_pct": coverage_pct(modules["modules"], "module", NO_MODULE),
        **copy_summary(None if replayed or not len(trace.gpu) else copies),
        "floor_us": floor["floor_us"],
        "floor_judged_us": floor["floor_judged_us"],
        "floor_coverage_pct": floor["floor_coverage_pct"],
        "above_floor_x": floor["above_floor_x"],
        # cached generation's token against reading its weights and caches once (a profile run's manifest)
        **decode_floor_summary(manifest, core_gbps, core_compute),
    }
    if gpu_unrecorded:
        summary.update(dict.fromkeys(GPU_FIGURES))
    notes.extend(str(n) for n in trace.meta.get("reader_notes", ()))  # what a reader of another tool's format adds
    if math.isfinite(window[0]) and math.isfinite(window[1]):
        step = math.ulp(max(abs(window[0]), abs(window[1])))
        if step > COARSE_TIME_US:  # ts in ns, or since some distant epoch: gaps and overlaps round to this
            notes.append(f"timestamps near {max(abs(window[0]), abs(window[1])):.3g} us resolve only to {step:g} us "
                         "(float64): busy and idle time and launch overheads are that coarse; the trace's ts are "
                         "meant to be microseconds")
    for what, count in sorted(trace.skipped.items()):
        notes.append(f"{count} {what} left out")
    if len(trace.gpu) == 0 and gpu_skipped:
        notes.append(f"every GPU activity ({gpu_skipped}) was left out for unusable times: GPU metrics are unknown")
    elif unrecorded_calls:
        notes.append(f"the trace holds {unrecorded_calls:,} calls that put work on the GPU (kernel launches, copies, "
                     "memsets) but no GPU activity (the profiler's CUDA activity was off, or its records were lost: "
                     "ProfilerActivity.CUDA records it): GPU metrics are unknown")
    elif len(trace.gpu) == 0:
        notes.append("no GPU activity in this trace (CPU-only profile): GPU metrics are empty")
    if len(trace.gpu) and not trace.devices:
        notes.append("the trace has no deviceProperties: theoretical occupancy and waves are unknown")
    if len(trace.gpu) and not any(p for p in peaks.values()):
        notes.append("peak bandwidth unknown for this device: pass --peak-bandwidth to get % of peak")
    other_tool = trace.backend in (NSYS_BACKEND, *ROCPROF_BACKENDS, ROCPD_BACKEND)  # no PyTorch ops: their notes say so
    if len(trace.ops) and not trace.ops.shapes_recorded and not other_tool:
        notes.append("no input shapes recorded (record_shapes=False): bytes come only from kernel metadata")
    reasons = Counter(k["occupancy_unknown_because"] for k in kernels if k.get("occupancy_unknown_because"))
    for reason, count in sorted(reasons.items()):
        notes.append(f"theoretical occupancy and waves unknown for {count} kernel(s): {reason}")
    host_absent = not host_recorded
    if host_absent and not trace.meta.get("launch_calls_absent"):  # else the reader's notes say why
        notes.append("no runtime or driver calls beside the GPU activity ("
                     + ("its CPU ops are there, the runtime's calls were not recorded" if len(trace.ops)
                        else "the host side was not recorded") + "): launch "
                     "overhead, how long the GPU waited on the host (idle time not split, no CPU-bound stretches) "
                     "and synchronisations are unknown" + ("" if _phases_known(trace) else ", and phases too"))
    elif len(trace.gpu) and len(trace.runtime) and not len(trace.ops):
        notes.append("no CPU ops or ranges beside the GPU activity and runtime calls (the profiler's CPU activity was "
                     "off: ProfilerActivity.CPU records them): the op table is empty and phases are unknown")
    elif timeline.launch.unlinked_kernels:
        notes.append(f"{timeline.launch.unlinked_kernels} kernels have no linked launch call")
    unsplit = [d.device for d in timeline.devices if not d.split_known]
    if unsplit and len(unsplit) == len(timeline.devices):
        if not trace.meta.get("launch_calls_absent") and not host_absent:  # else a note above says why
            notes.append("no GPU activity that ends an idle gap has its launch call in the trace: how long the "
                         "GPU waited on the host is unknown (idle time not split, no CPU-bound stretches)")
    elif unsplit:
        notes.append(f"idle time of device(s) {', '.join(map(str, unsplit))} not split into host wait and other: "
                     "none of its gaps ends with an activity whose launch call is in the trace (the summary's "
                     "split covers the other devices)")
    t0 = window[0]
    mid = [(s.thread, s.start_us + s.dur_us / 2) for s in timeline.stretches]
    in_module = paths_at(module_ranges(trace), mid, NO_MODULE) if len(trace.modules) else [None] * len(mid)
    stretches = [
        {"start_us": s.start_us - t0, "dur_us": s.dur_us, "device": s.device, "cpu_op": s.cpu_op,
         "cpu_region": s.cpu_region, "cpu_module": module}
        for s, module in zip(timeline.stretches, in_module)
    ]
    ncu = None
    if ncu_csv is not None:
        from .ncu import compare_with_ncu, read_ncu_csv

        ncu = compare_with_ncu(trace, read_ncu_csv(ncu_csv), notes)
        unmatched = sum(1 for r in ncu if not r["matched"])
        if unmatched:
            notes.append(f"{unmatched} of {len(ncu)} Nsight Compute kernels matched no launch of the trace: none "
                         "of the same kernel, or none in launch order with the kernels matched around them")
        other = sum(1 for r in ncu if r["matched"] and not r["same_launch"])
        if other:
            notes.append(f"{other} Nsight Compute kernels matched a launch of another grid or block (autotuned, or "
                         "another size): their ncu figures are their own launch's, and the derived and measured "
                         "bandwidths are not compared")
    result = Analysis(
        ncu=ncu,
        summary=summary,
        kernels=kernels,
        ops=ops,
        launch=asdict(timeline.launch),
        stretches=stretches,
        memory=memory,
        devices=[asdict(d) for d in timeline.devices],
        telemetry=telemetry,
        notes=notes,
        manifest=manifest,
        phases=phases["phases"],
        syncs=syncs,
        allocations=allocation_table(trace, allocating),
        phase_kinds=phases["phase_kinds"],
        modules=modules["modules"],
        module_kinds=modules["module_kinds"],
        ssd=ssd,
        collectives=collective_table(trace),
        steps=steps,
        contractions=contractions,
        attention=attention,
        optimizer=optimizer,
        compiled_calls=compiled_calls,
        depthwise_convs=depthwise_convs,
        growing_cats=growing_cats,
        projections=projections,
        kv_repeats=kv_repeats,
        prefill_logits=prefill_logits,
        generation=generation,
        checkpointing=checkpointing,
        copies=copies,
        transfers=transfers,
        misaligned_gemms=misaligned,
    )
    from ..diagnose import diagnose

    result.findings = [f.to_dict() for f in diagnose(result)]
    return result


def _peak_place(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Where the highest device peak of allocated memory was reached (:func:`~.memory.memory_peaks`): the op
    allocating, the profiler range path and the nn.Module path open there (``None`` where unknown)."""
    top = max((m for m in rows if m["peak_allocated_bytes"] is not None), key=lambda m: m["peak_allocated_bytes"],
              default={})
    return {"peak_allocated_op": top.get("peak_op"), "peak_allocated_phase": top.get("peak_phase"),
            "peak_allocated_module": top.get("peak_module")}


def select_rows(
    rows: List[Dict[str, Any]], sort: Optional[str] = None, top: Optional[int] = None, pattern: Optional[str] = None
) -> List[Dict[str, Any]]:
    """Filter rows by a regular expression on ``name``, sort by ``sort`` (descending; ``name`` ascending),
    and keep the first ``top``. Unknown values sort last."""
    out = rows
    if pattern:
        rx = re.compile(pattern)
        out = [r for r in out if rx.search(str(r.get("name", "")))]
    if sort:
        if sort == "name":
            out = sorted(out, key=lambda r: str(r.get("name")))
        else:
            known = [r for r in out if isinstance(r.get(sort), (int, float)) and not isinstance(r.get(sort), bool)]
            unknown = [r for r in out if r not in known]
            out = sorted(known, key=lambda r: r[sort], reverse=True) + unknown
    if top is not None:
        out = out[:top]
    return out
