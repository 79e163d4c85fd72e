"""Rules on the host's side of the trace: the GPU waiting on launches, synchronisations, memory allocation calls,
the DataLoader, compilation inside the profiled window, uneven steps. Copies to and from host memory are judged in
:mod:`.transfers`.

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

import statistics
from typing import Any, Dict, Optional

from ..analysis.modules import module_tail
from ..analysis.nsys import BACKEND as NSYS_BACKEND
from ..analysis.phases import NOT_PHASES
from ..analysis.rocpd import BACKEND as ROCPD_BACKEND
from ..analysis.rocprof import BACKENDS as ROCPROF_BACKENDS
from .compiled import CUDAGRAPH_RECORDING_PCT
from .finding import (
    CUDA_API_PLATFORMS,
    GRAPHED_SHARE,
    GRAPHLESS_MODES,
    Finding,
    compile_mode,
    gpu_window_us,
    graph_share,
    host_wait_pct,
    kernel_rows,
    memory_figures,
    severity_of,
    us_text,
)

#: host-bound: the GPU waited on the host for at least this share of its window.
HOST_BOUND_PCT = 15.0
#: The range bambaprof's Triton kernels are launched under (``bambaprof::<kernel>``, :mod:`bambaprof.ssm.kernels.metadata`).
BAMBAPROF_LAUNCH_PREFIX = "bambaprof::"
#: sync-stall: after host-device synchronisations the GPU sat empty for at least this share of its window.
SYNC_STALL_PCT = 5.0
#: What makes PyTorch synchronise under an operator, for the sync-stall message.
_SYNC_CAUSES = {"aten::_local_scalar_dense": ".item()", "aten::item": ".item()", "aten::copy_": "a copy to the host",
                "aten::_to_copy": "a copy to the host", "aten::nonzero": "a data-dependent shape",
                "aten::masked_select": "a data-dependent shape", "aten::_unique2": "a data-dependent shape",
                "aten::unique_consecutive": "a data-dependent shape", "aten::is_nonzero": "a tensor used as a bool"}
#: allocation-stall: the GPU sat idle during or right after memory allocation calls for at least this share of its
#: window.
ALLOCATION_STALL_PCT = 5.0
#: allocation-stall: a peak of reserved memory at least this share of the device's makes a failed allocation (the
#: allocator freeing its cache to retry) the likely cause of frees.
NEAR_FULL_PCT = 75.0
#: data-loading: the GPU sat idle inside the DataLoader's fetches for at least this share of its window; in a trace
#: without GPU activity, the host spent at least DATA_LOADING_HOST_PCT of the span in them.
DATA_LOADING_PCT = 5.0
DATA_LOADING_HOST_PCT = 10.0
#: compilation-in-trace: torch.compile's compile ranges take at least this share of the trace's span.
COMPILATION_SPAN_PCT = 5.0
#: uneven-steps: with at least UNEVEN_MIN_STEPS profiled steps, the steps of at least SLOW_STEP_X times the median
#: step take at least UNEVEN_STEPS_PCT of all steps' time above the median.
UNEVEN_MIN_STEPS = 3
SLOW_STEP_X = 1.5
UNEVEN_STEPS_PCT = 10.0
#: The step table's causes (:func:`bambaprof.analysis.steps.add_step_causes`): key, what the host did, the finding
#: that judges it.
_STEP_CAUSES = (("compile_us", "compiling (torch.compile)", "compilation-in-trace"),
                ("cudagraph_record_us", "recording CUDA graphs", "cudagraph-recording"),
                ("data_loader_us", "waiting for the DataLoader", "data-loading"),
                ("allocation_us", "in memory allocation calls", "allocation-stall"),
                ("sync_us", "waiting for the GPU in synchronisations", "sync-stall"))


def host_bound(a: Any) -> Optional[Finding]:
    if host_wait_pct(a) < HOST_BOUND_PCT:
        return None
    wait, window = a.summary.get("idle_host_wait_us") or 0.0, gpu_window_us(a)
    where = [{"cpu_op": s.get("cpu_op"), "region": s.get("cpu_region"), "module": s.get("cpu_module"),
              "wait_us": s["dur_us"]} for s in a.stretches]
    named = [w["cpu_op"] for w in where if w["cpu_op"] and not NOT_PHASES.match(str(w["cpu_op"]))]
    launch = a.summary.get("launch_overhead_idle_gpu_median_us")
    ops = ", ".join(sorted(set(named))[:3])
    modules = ", ".join(sorted({t for t in map(module_tail, (w["module"] for w in where)) if t})[:3])
    msg = (f"The GPU waited on the host for {us_text(wait)}, {100 * wait / window:.0f}% of its {us_text(window)} window"
           + (f"; the longest waits were under {ops}" if ops else "")
           + (f" (in {modules})" if modules else "")
           + (f"; launching a kernel onto an idle GPU took {launch:.1f} us (median)" if launch is not None else "")
           + ".")
    mode = compile_mode(a)
    graphed = "the host cannot keep up with this launch rate even under CUDA graphs"
    if a.summary.get("platform", "cuda") not in CUDA_API_PLATFORMS:  # Intel GPUs, other backends: no CUDA graphs
        backend = "XPU" if a.summary.get("platform") == "xpu" else "device's"
        suggestion = ("Fewer launches: let torch.compile fuse the small kernels, give each launch more work (a "
                      f"larger batch), or capture the steps in graphs where the {backend} backend offers them.")
    elif a.manifest is None:  # a trace from elsewhere: say what to do in torch, and judge graphs from the trace
        suggestion = (f"Fewer, larger kernels: {100 * graph_share(a):.0f}% of the kernels already come from CUDA "
                      f"graphs, and {graphed}." if graph_share(a) >= GRAPHED_SHARE else
                      "Capture the steps in CUDA graphs: torch.compile(mode=\"reduce-overhead\") or "
                      "torch.cuda.CUDAGraph (with bambaprof profile: --compile reduce-overhead).")
    elif mode in GRAPHLESS_MODES:
        suggestion = "Capture the steps in CUDA graphs: profile with --compile reduce-overhead (or max-autotune)."
    else:
        suggestion = f"Fewer, larger kernels: {graphed}."
    drain = a.summary.get("sync_drain_us") or 0.0
    if "graphs" in suggestion and 100.0 * drain / window >= SYNC_STALL_PCT:  # graphs cannot hold synchronisations
        suggestion = ("First keep the step free of host-device synchronisations (see sync-stall): a step that "
                      "synchronises cannot be captured in a graph. " + suggestion)
    allocating = a.summary.get("allocation_gpu_idle_us") or 0.0
    if 100.0 * allocating / window >= ALLOCATION_STALL_PCT:  # a step that calls the driver for memory
        suggestion = (f"First keep memory allocation calls out of the steps: the GPU sat idle {us_text(allocating)} in "
                      "and after them (see allocation-stall). For the rest: " + suggestion)
    loader_idle = a.summary.get("data_loader_gpu_idle_us") or 0.0
    if 100.0 * loader_idle / window >= DATA_LOADING_PCT:  # waits for data are not launch overhead
        suggestion = (f"First feed the GPU: {us_text(loader_idle)} of the {us_text(wait)} wait was inside the "
                      "DataLoader's fetches (see data-loading). For the rest: " + suggestion)
    recording = a.summary.get("cudagraph_record_gpu_idle_us") or 0.0
    if 100.0 * recording / window >= CUDAGRAPH_RECORDING_PCT:  # graphs recorded in the steps, not replayed
        suggestion = (f"First stop recording CUDA graphs inside the steps: {us_text(recording)} of the "
                      f"{us_text(wait)} wait was their recording (see cudagraph-recording). For the rest: "
                      + suggestion)
    compiling = a.summary.get("compile_gpu_idle_us") or 0.0
    if 100.0 * compiling / window >= COMPILATION_SPAN_PCT:  # a compile inside the steps is not launch overhead
        suggestion = (f"First take compilation out of the profiled steps: {us_text(compiling)} of the "
                      f"{us_text(wait)} wait was torch.compile compiling (see compilation-in-trace). For the rest: "
                      + suggestion)
    shortcut = _shortcut_held_back(a)
    if shortcut is not None:
        suggestion = (f"bambaprof's Triton kernels launched with the launch shortcut {shortcut} "
                      f"(BAMBAPROF_TRITON_FAST_LAUNCH): leave it unset, so that kept kernels are launched directly "
                      f"and repeated forwards launched whole (less host time a launch). " + suggestion)
    return Finding("host-bound", severity_of(wait, window), msg, where, suggestion, wait)


def idle_unexplained(a: Any) -> Optional[Finding]:
    """The GPU sat idle for at least :data:`HOST_BOUND_PCT` of its window, and the trace cannot say whether the host
    held it back: no activity that ends an idle gap has its launch call in the trace (``idle_host_wait_us`` is
    unknown), so ``host-bound`` cannot judge it."""
    s = a.summary
    idle, window = s.get("gpu_idle_us") or 0.0, gpu_window_us(a)
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
    msg = (f"The GPU sat idle for {us_text(idle)}, {100 * idle / window:.0f}% of its {us_text(window)} window, and the trace "
           "holds no launch call for the work that ended those gaps: whether the host held it back (host-bound) "
           "or it waited on something else is unknown.")
    return Finding("idle-unexplained", severity_of(idle, window), msg, [{"idle_us": idle, "window_us": window}],
                   f"Record the host side to split the idle time: {how}.", idle)


def _shortcut_held_back(a: Any) -> Optional[str]:
    """The launch shortcut's recorded mode (``off``, ``kept`` or ``keyed``) when it was not fully on and the trace has
    launches of bambaprof's Triton kernels (launched under a ``bambaprof::`` range); else None."""
    versions = a.manifest.versions if a.manifest is not None else None
    setting = versions.launch_shortcut if versions is not None else None
    if setting not in ("off", "kept", "keyed"):
        return None
    ours = any(str(k.get("launched_by") or "").startswith(BAMBAPROF_LAUNCH_PREFIX) for k in kernel_rows(a))
    return setting if ours else None


def sync_stall(a: Any) -> Optional[Finding]:
    drain, window = a.summary.get("sync_drain_us") or 0.0, gpu_window_us(a)
    rows = getattr(a, "syncs", None) or []
    if window <= 0 or not rows or 100.0 * drain / window < SYNC_STALL_PCT:
        return None
    count, steps = a.summary.get("sync_count") or 0, a.summary.get("profiled_steps")
    per_step = f", {count / steps:.1f} a step" if steps else ""
    where = "; ".join(
        f"{r['call']} under {r['op'] or 'no operator'}"
        + (f" ({_SYNC_CAUSES[r['op']]})" if r["op"] in _SYNC_CAUSES else "")
        + f": {r['count']}x, {us_text(r['drain_us'])}" for r in rows[:3])
    msg = (f"The host synchronised with the GPU {count} times{per_step}, and after {sum(r['drains'] for r in rows)} "
           f"of them the GPU sat empty until the next launch: {us_text(drain)}, {100 * drain / window:.0f}% of its "
           f"{us_text(window)} window ({where}).")
    debug = "" if a.summary.get("platform", "cuda") not in CUDA_API_PLATFORMS else \
        "; torch.cuda.set_sync_debug_mode('warn') names each one"
    suggestion = ("Keep values on the GPU inside the step: no .item(), .cpu(), .tolist() or printed tensors, no "
                  "data-dependent shapes (nonzero, boolean masks); copy results out with non_blocking=True into "
                  f"pinned memory and read them after the step{debug}. A step that synchronises cannot be captured "
                  "in a graph.")
    return Finding("sync-stall", severity_of(drain, window), msg, rows[:10], suggestion, drain)


def uneven_steps(a: Any) -> Optional[Finding]:
    """Some profiled steps took far longer than the others: those of at least :data:`SLOW_STEP_X` times the median
    step, whose time above the median is at least :data:`UNEVEN_STEPS_PCT` of all steps' time (at least
    :data:`UNEVEN_MIN_STEPS` steps) and, on a GPU, whose GPU idle time above a median step's is too (a step slow
    because its host waited on a busy GPU lost the GPU nothing). Says what the slow steps spent more than a median
    step on (compiling, the DataLoader, allocation calls, synchronisations:
    :func:`~bambaprof.analysis.steps.add_step_causes`) and what the trace leaves unexplained; advice by the largest
    cause, else by the pattern (the first step only: a warm-up; every k-th step: periodic host work; steps that keep
    growing: something accumulates). Time at stake: the GPU's idle time in the slow steps above a median step's (a
    GPU trace), else their host time above the median; none where one cause holds half the extra time (its own
    finding counts it)."""
    steps = [r for r in (getattr(a, "steps", None) or []) if (r.get("dur_us") or 0.0) > 0]
    if len(steps) < UNEVEN_MIN_STEPS:
        return None
    durations = [r["dur_us"] for r in steps]
    median, total = statistics.median(durations), sum(durations)
    slow = [i for i, d in enumerate(durations) if d >= SLOW_STEP_X * median]
    excess = sum(durations[i] - median for i in slow)
    if not slow or 100.0 * excess / total < UNEVEN_STEPS_PCT:
        return None
    idle = [r.get("gpu_idle_us") for r in steps]
    lost = None  # on a GPU: the GPU's idle time in the slow steps above a median step's
    if all(v is not None for v in idle):
        typical_idle = statistics.median(idle)
        lost = sum(max(idle[i] - typical_idle, 0.0) for i in slow)
        if 100.0 * lost / total < UNEVEN_STEPS_PCT:  # the host waited on a busy GPU: the GPU lost nothing
            return None
    extra: Dict[str, float] = {}
    for key, _, _ in _STEP_CAUSES:
        values = [r.get(key) for r in steps]
        if all(v is not None for v in values):
            typical = statistics.median(values)
            extra[key] = sum(max(steps[i][key] - typical, 0.0) for i in slow)
    named = sorted(slow, key=lambda i: -durations[i])[:3]
    listed = ", ".join(f"{steps[i]['step']} {us_text(durations[i])} ({durations[i] / median:.1f}x)" for i in named)
    msg = (f"{len(slow)} of {len(steps)} profiled steps took at least {SLOW_STEP_X:g}x the median step "
           f"({us_text(median)}): {listed}; {us_text(excess)} above the median, {100 * excess / total:.0f}% of the "
           f"steps' {us_text(total)}.")
    causes = [(extra[key], label, fid) for key, label, fid in _STEP_CAUSES  # a cause of 5% of the extra time or more
              if extra.get(key, 0.0) >= 0.05 * excess]
    causes.sort(key=lambda c: -c[0])
    if causes:
        msg += " More than a median step spent " + ", ".join(f"{label}: {us_text(t)}" for t, label, _ in causes) + "."
    unknown = [label for key, label, _ in _STEP_CAUSES if key not in extra]
    if unknown:
        msg += f" Not known from this trace: time {', '.join(unknown)}."
    owned = bool(causes) and causes[0][0] >= 0.5 * excess  # the extra time is another finding's to judge
    if owned:
        suggestion = f"Most of it was {causes[0][1]}: see {causes[0][2]}."
    elif slow == [0] and _profiler_unwarmed(a):
        schedule = a.manifest.profile
        suggestion = ("Only the first profiled step is slow, and this run's profiler had no warm-up step (its "
                      f"schedule: wait {schedule.wait}, warmup 0, active {schedule.active}): the first step it records "
                      "carries the profiler's own start-up, which torch warns skews results. Give it a warm-up step "
                      "(bambaprof profile --profile-warmup 1; a schedule of your own: warmup=1), or read the later "
                      "steps.")
    elif slow == [0]:
        suggestion = ("Only the first profiled step is slow: first-call work left in the window (kernel autotuning "
                      "and library heuristics, lazy initialisation, the caching allocator filling its pool, the "
                      "profiler starting). Record after a warm-up: torch.profiler.schedule(wait=1, warmup=1, "
                      "active=N).")
    elif (len(slow) >= 3 or (len(slow) == 2 and slow[0] > 0)) and len({j - i for i, j in zip(slow, slow[1:])}) == 1 \
            and slow[1] - slow[0] > 1:  # evenly spaced (a slow first step alone is a warm-up's)
        suggestion = (f"One step in {slow[1] - slow[0]} is slow: periodic host work (logging, checkpointing, "
                      "evaluation, Python's garbage collector). with_stack=True or record_function ranges name it; "
                      "for the collector, gc.freeze() after setup or gc.disable() around the loop.")
    elif len(durations) >= 3 and all(x < y for x, y in zip(durations, durations[1:])):
        suggestion = ("Each step took longer than the one before: something accumulates from step to step (tensors "
                      "or autograd graphs kept alive, lists or caches that grow, memory pinned or allocated anew "
                      "each step). torch.cuda.memory._record_memory_history() and with_stack=True show what grows.")
    else:
        suggestion = ("The slow steps hold host work the trace's ranges do not name: wrap the step's parts in "
                      "record_function ranges, or record with with_stack=True, and compare a slow step with a typical "
                      "one (bambaprof analyze --table steps).")
    at_stake = None if owned else lost if lost is not None else excess  # owned: its own finding counts it
    return Finding("uneven-steps", severity_of(lost if lost is not None else excess, total), msg,
                   [{k: steps[i].get(k) for k in ("step", "dur_us", "gpu_idle_us", *[c[0] for c in _STEP_CAUSES])}
                    for i in named], suggestion, at_stake)


def _profiler_unwarmed(a: Any) -> bool:
    """Whether the run recorded a profiler schedule with no warm-up step (``manifest.profile.warmup == 0`` after at
    least one step run before it): its first recorded step holds the profiler's start-up. False for a bare trace."""
    schedule = a.manifest.profile if a.manifest is not None else None
    return schedule is not None and schedule.warmup == 0 and schedule.wait > 0


def allocation_stall(a: Any) -> Optional[Finding]:
    """The GPU sat idle during or right after the host's memory allocation calls (``--table allocations``) for at
    least :data:`ALLOCATION_STALL_PCT` of its window; the advice follows what they were: all in the first of
    several steps (the caching allocator filling its pool), frees (memory given back), device allocations in
    later steps (a pool that keeps growing), pinned host memory."""
    s = a.summary
    idle, window = s.get("allocation_gpu_idle_us") or 0.0, gpu_window_us(a)
    rows = getattr(a, "allocations", None) or []
    if window <= 0 or not rows or 100.0 * idle / window < ALLOCATION_STALL_PCT:
        return None
    count, frees, steps = s.get("allocation_calls") or 0, s.get("allocation_frees") or 0, s.get("profiled_steps")
    held = s.get("allocation_steps")
    in_steps = f", in {held} of {steps} profiled steps" if steps and held is not None else ""
    where = "; ".join(f"{r['call']} under {r['op'] or 'no operator'}: {r['count']}x, {us_text(r['gpu_idle_us'])} idle"
                      for r in rows[:3])
    msg = (f"The host called the driver for memory {count} times inside the GPU window ({count - frees} to allocate, "
           f"{frees} to free{in_steps}), blocked for {us_text(s.get('allocation_host_blocked_us') or 0.0)}; the GPU "
           f"sat idle during or right after those calls for {us_text(idle)}, {100 * idle / window:.0f}% of its "
           f"{us_text(window)} window ({where}).")
    cuda = s.get("platform", "cuda") in CUDA_API_PLATFORMS
    if s.get("allocation_first_step_only"):
        suggestion = ("All of them fell in the first profiled step: the caching allocator filling the pool that "
                      "later steps reuse. Record after a warm-up step or two to see the steady state "
                      "(torch.profiler.schedule(wait=1, warmup=1, active=3); bambaprof profile --warmup).")
        return Finding("allocation-stall", severity_of(idle, window), msg, rows[:10], suggestion, idle)
    memory = {(r["action"], r["memory"]) for r in rows}
    advice = []
    device_allocations = any(action == "allocate" and kind in ("device", "mapping") for action, kind in memory)
    if any(action == "free" and kind in ("device", "mapping") for action, kind in memory):
        conf = ("; where memory is near full, PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (PYTORCH_HIP_ALLOC_CONF "
                "on ROCm) cuts fragmentation, or lower the batch" if cuda else ", or lower the batch where memory is "
                "near full")
        why = _why_frees(a)
        refill = "; the allocations after them fill the pool again" if device_allocations else ""
        advice.append(f"Device memory was given back during the steps ({why}){refill}. Take empty_cache() out of the "
                      f"loop{conf}.")
    elif device_allocations:
        history = "; torch.cuda.memory._record_memory_history() shows what holds memory" if cuda else ""
        advice.append("New device memory while the steps ran: the pool keeps growing when shapes change from step to "
                      "step (pad or bucket them to a few sizes) or tensors stay alive across steps (a loss kept "
                      f"without .item() or .detach()){history}.")
    if any(kind == "stream-ordered" for _, kind in memory):
        advice.append("Stream-ordered calls (cudaMallocAsync, cudaFreeAsync: PyTorch's backend:cudaMallocAsync makes "
                      "them for every tensor) do not wait for the device, but the host launches nothing while in "
                      "one: the native caching allocator (PYTORCH_CUDA_ALLOC_CONF without backend:cudaMallocAsync) "
                      "makes none in a steady-state step, and CUDA graphs none at all.")
    if any(kind == "pinned host" for _, kind in memory):
        advice.append("Pinned host memory was allocated or freed in the steps (tensor.pin_memory(), torch.empty(..., "
                      "pin_memory=True)): allocate the pinned buffers once and copy into them.")
    if not advice:  # Unified Runtime's urUSMFree alone: device or host memory
        advice.append("Allocate what the steps need once, before them, and reuse it.")
    return Finding("allocation-stall", severity_of(idle, window), msg, rows[:10], " ".join(advice), idle)


def _why_frees(a: Any) -> str:
    """Why device memory was given back during the steps: the run's allocator counters where it has them (failed
    allocations retried, or none), else the peak reserved share of the device's memory (from
    :data:`NEAR_FULL_PCT` a failed allocation is likely), else both causes."""
    reserved, total = memory_figures(a)
    share = 100.0 * reserved / total if reserved and total else None
    record = a.manifest.memory if a.manifest is not None else None
    retries = record.alloc_retries_measured if record is not None else None
    if retries:
        return (f"{retries} allocation(s) failed during the run's measured iterations and were retried after the "
                "allocator freed its cache: memory is full"
                + (f", {share:.0f}% of the device's reserved at the peak" if share is not None else ""))
    if retries == 0:
        return ("no allocation failed during the run's measured iterations (its allocator counters): likely "
                "torch.cuda.empty_cache() in the loop")
    if share is None:
        return ("torch.cuda.empty_cache() in the loop, or an allocation that failed and made the allocator free its "
                "cache to retry (memory near full)")
    if share >= NEAR_FULL_PCT:
        return (f"{share:.0f}% of the device's memory was reserved at the peak: likely an allocation that failed and "
                "made the allocator free its cache to retry, or torch.cuda.empty_cache() in the loop")
    return (f"at most {share:.0f}% of the device's memory was reserved, so a failed allocation is unlikely (unless "
            "other processes held the rest): likely torch.cuda.empty_cache() in the loop")


def data_loading(a: Any) -> Optional[Finding]:
    """The GPU sat idle inside the DataLoader's ``__next__`` ranges (:mod:`bambaprof.analysis.data_loading`) for at
    least :data:`DATA_LOADING_PCT` of its window (a CPU-only trace: the host spent :data:`DATA_LOADING_HOST_PCT` of
    the span in them); the advice follows the iterator (no workers, or workers that cannot keep up)."""
    s = a.summary
    fetches, host = s.get("data_loader_fetches") or 0, s.get("data_loader_us") or 0.0
    if not fetches:
        return None
    iterators = str(s.get("data_loader_iterators") or "")
    idle, window = s.get("data_loader_gpu_idle_us"), gpu_window_us(a)
    if idle is not None and window > 0:
        if 100.0 * idle / window < DATA_LOADING_PCT:
            return None
        msg = (f"The GPU sat idle for {us_text(idle)}, {100 * idle / window:.0f}% of its {us_text(window)} window, "
               f"while the host waited for data: {fetches} DataLoader fetches ({iterators}) took {us_text(host)}, "
               f"{us_text(host / fetches)} each.")
        at_stake, share_of = idle, window
    else:
        span = s.get("span_us") or 0.0
        if span <= 0 or 100.0 * host / span < DATA_LOADING_HOST_PCT:
            return None
        msg = (f"{fetches} DataLoader fetches ({iterators}) took {us_text(host)}, {100 * host / span:.0f}% of the "
               f"trace's {us_text(span)}, {us_text(host / fetches)} each.")
        at_stake, share_of = None, span
    if "_SingleProcessDataLoaderIter" in iterators:
        suggestion = ("The DataLoader has no workers (num_workers=0): each batch is loaded and collated on the training "
                      "thread while nothing else runs. Give it workers (num_workers=4 or more, persistent_workers=True, "
                      "prefetch_factor=2 or more) so that batches are ready before they are asked for, and "
                      "pin_memory=True with .to(device, non_blocking=True).")
    else:
        suggestion = ("The DataLoader's workers do not keep up: more workers (num_workers), a larger prefetch_factor, "
                      "persistent_workers=True, lighter per-sample work (decode and augment once, or on the GPU), "
                      "or data stored ready to use.")
    return Finding("data-loading", severity_of(at_stake if at_stake is not None else host, share_of), msg,
                   [{"fetches": fetches, "host_us": host, "gpu_idle_us": idle, "iterators": iterators}], suggestion,
                   at_stake)


def compilation_in_trace(a: Any) -> Optional[Finding]:
    """torch.compile's compile ranges (:mod:`bambaprof.analysis.compilation`) take at least
    :data:`COMPILATION_SPAN_PCT` of the trace's span: the profiled window holds compilation beside the steady
    state. Time at stake: the GPU's idle time inside them (None without GPU activity); advice by where the frames
    were compiled (the first of several steps: a missing warm-up; later steps: recompilation)."""
    s = a.summary
    host, span, frames = s.get("compile_us") or 0.0, s.get("span_us") or 0.0, s.get("compile_frames") or 0
    if span <= 0 or 100.0 * host / span < COMPILATION_SPAN_PCT:
        return None
    idle, window = s.get("compile_gpu_idle_us"), gpu_window_us(a)
    steps, held = s.get("profiled_steps"), s.get("compile_steps")
    where = f", in {held} of {steps} profiled steps" if steps and held is not None else ""
    gpu = (f"; the GPU sat idle for {us_text(idle)} of its window meanwhile" if idle else "")
    what = f"{frames} frame(s) compiled{where}" if frames else "compile phases outside any Dynamo frame compile"
    msg = (f"The trace holds torch.compile's compilation: {what}, its compile ranges "
           f"taking {us_text(host)}, {100 * host / span:.0f}% of the trace's {us_text(span)}{gpu}. Step times and "
           "idle time measured over this trace include it.")
    later = s.get("compile_frames_after_first_step")
    warm_up = ("call the compiled code once or twice on the same shapes before recording "
               "(torch.profiler.schedule(wait=1, warmup=1, active=3))")
    recompiles = ("TORCH_LOGS=recompiles names the failing guard; mark varying dims dynamic "
                  "(torch._dynamo.mark_dynamic, or torch.compile(dynamic=True)) or pad them to a few sizes, and warm "
                  "up on every shape before recording")
    if not frames:  # inductor or AOT phases alone: which step compiled is not known
        suggestion = f"Warm up before recording ({warm_up}); if compilation recurs, it recompiles: {recompiles}."
    elif later == 0 and (steps or 0) > 1:
        suggestion = f"Every frame was compiled in the first profiled step, a missing warm-up: {warm_up}."
    elif later and later < frames:
        suggestion = (f"{frames - later} frame(s) were compiled in the first profiled step (a missing warm-up: "
                      f"{warm_up}) and {later} in later steps: recompilation, shapes or guards that change from step "
                      f"to step ({recompiles}).")
    elif later:
        suggestion = f"Every frame was compiled after the first step: recompilation ({recompiles})."
    else:  # no steps to tell by
        suggestion = f"Warm up before recording ({warm_up}); if compilation recurs, it recompiles: {recompiles}."
    at_stake = idle if idle else None
    return Finding("compilation-in-trace", severity_of(at_stake if at_stake else host, window if at_stake else span),
                   msg, [{"frames": frames, "compile_us": host, "gpu_idle_us": idle, "steps": held}], suggestion,
                   at_stake)
