"""Run one configuration into one run directory, or a matrix of them.

For each configuration, in order:

0. check its lower-bound footprint against the memory available (:mod:`bambaprof.collect.footprint`):
   one that cannot fit is recorded as failed without running;
1. build the workload (seeded weights and inputs) on the device;
2. warm up: the first call is timed on its own (it includes compilation), then
   ``warmup - 1`` more calls; dynamo's counters give frames compiled and graph breaks;
3. measure ``iters`` iterations with CUDA events (wall clock on CPU) while the
   NVML sampler runs; with telemetry, untimed iterations follow until the window
   lasts ``telemetry_window_ms`` (default 1 s: the energy counter steps in
   milliseconds and a GPM value covers 100 ms or more), and the energy counter is
   read at the window's ends; energy per token and the GPM means describe that
   window, and what it cannot hold (no whole GPM interval, a counter that did not
   move) is unknown, with a warning; recompilations inside it are counted and
   warned about;
4. profile ``wait + warmup + active`` more iterations with ``torch.profiler``
   (record_shapes, profile_memory, optional stacks, the Triton launch hook), with a
   ``bambaprof::clock_sync`` marker whose trace timestamp puts the NVML samples on the
   trace's clock; recompilations inside it are counted too;
5. for compiled CUDA runs, write inductor's byte counts by kernel name
   (``inductor-kernels.json``); for runs that replay CUDA graphs, profile one more step
   of the same compiled code (from inductor's cache) without its graphs into ``launch-map.json.gz``
   (:mod:`bambaprof.analysis.launch_map`: both give the replayed kernels their bytes);
   the measurements above are done by then;
6. write ``manifest.json``, ``trace.json.gz``, ``telemetry.json.gz`` and, when the
   libraries printed anything while it ran, ``log.txt``, atomically.

A configuration that fails (out of memory, compile error, a variant that cannot
run) becomes a run directory whose manifest says ``failed`` with the error; the
matrix goes on.
"""

from __future__ import annotations

import gc
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from .._env import environment
from .._memory import available_bytes
from ..errors import BambaprofError
from ..model.config import preset as make_preset
from ..run import (
    INDUCTOR_KERNELS,
    LAUNCH_MAP,
    LOG,
    TELEMETRY,
    TRACE,
    CompileInfo,
    Files,
    Manifest,
    ProfileSettings,
    RunConfig,
    RunDirWriter,
    RunRecord,
    Timings,
    Versions,
    read_manifest,
    remove_stale_temporaries,
)
from ..ssm import get_variant
from ..ssm.contract import NEEDS_TRITON
from .ceilings import device_ceilings
from .compile import CompileCounters, fx_graph_cache_misses, graph_break_reasons, graphs_left_out, reset_compiler
from .footprint import estimate as estimate_footprint
from .host_speed import host_info, probe_us
from .inductor_kernels import loaded_kernel_counts, loaded_modules
from .measure import (
    Telemetry,
    allocator_counts,
    clock_offset_us,
    device_description,
    energy_over_window,
    export_trace,
    mark_clock_sync,
    one_line,
    peak_memory,
    profiler_activities,
    utc_now,
    write_telemetry,
)
from .quiet import stderr_into
from .timing import Stopwatch, spread, synchronize
from .triton_launches import recording_triton_launches
from .workloads import build_workload, replays_cuda_graphs


def _profile(cfg: RunConfig, step: Callable, out: Path) -> Dict[str, Any]:
    """Profile ``wait + warmup + active`` iterations; write ``out`` (gzipped); return clock data."""
    from torch.profiler import profile, schedule

    sync: Dict[str, float] = {}
    with warnings.catch_warnings():  # no warm-up step is a choice here (the interpreter's default), not news
        warnings.filterwarnings("ignore", message="Profiler won't be using warmup")
        sched = schedule(wait=cfg.profile_wait, warmup=cfg.profile_warmup, active=cfg.profile_active, repeat=1)
    with recording_triton_launches(), \
            profile(activities=profiler_activities(cfg.device), schedule=sched, record_shapes=True,
                    profile_memory=True, with_stack=cfg.with_stack,
                    on_trace_ready=lambda prof: export_trace(prof, out)) as prof:
        for i in range(cfg.profile_wait + cfg.profile_warmup + cfg.profile_active):
            if i == cfg.profile_wait + cfg.profile_warmup:  # first active iteration
                sync["t_mid_ns"] = mark_clock_sync()
            step(None)
            synchronize(cfg.device)
            prof.step()
    return {"t_mid_ns": sync.get("t_mid_ns")}


def _check_footprint(cfg: RunConfig, model_cfg: Any) -> None:
    """Refuse, before anything is built, a configuration whose lower-bound footprint exceeds the memory
    available (:mod:`bambaprof.collect.footprint`); the run is recorded as failed with the figures."""
    tokens = cfg.seq_len + (cfg.new_tokens if cfg.workload == "generate" else 0)
    need = estimate_footprint(model_cfg, cfg.workload, get_variant(cfg.variant).extra, cfg.batch, tokens)
    have = available_bytes(cfg.device)
    if have is not None and need.total > have:
        raise BambaprofError(
            f"needs at least {need.total / 1e9:.1f} GB (weights {need.weights / 1e9:.2f} GB, hidden states "
            f"{need.activations / 1e9:.2f} GB, SSD workspace {need.workspace / 1e9:.1f} GB) and {cfg.device} has "
            f"{have / 1e9:.1f} GB available: not run")


def _record_launch_map(cfg: RunConfig, model_cfg: Any, out: Path, warnings: List[str]) -> bool:
    """Profile one step of the same compiled code without its CUDA graphs into ``out``: the launching ops there
    give the kernels replayed from graphs their bytes (:mod:`bambaprof.analysis.launch_map`). The compilation
    is configured as the measured one, so inductor's FX graph cache returns the measured code (the same
    autotuning choices); only the wrapping in graphs is left out (:func:`graphs_left_out`).
    Runs after every measurement (and after the peak memory was read); a failure is a warning."""
    from torch.profiler import profile

    reset_compiler()  # a second compilation of the same code would count against dynamo's cache limit
    try:
        with torch.no_grad(), graphs_left_out():
            work = build_workload(cfg.workload, model_cfg, cfg.variant, cfg.batch, cfg.seq_len, cfg.new_tokens,
                                  cfg.use_cache, cfg.compile, dict(cfg.compile_options), cfg.dynamic, cfg.device,
                                  cfg.seed,
                                  list(cfg.prompt_ids) if cfg.prompt_ids is not None else None,
                                  checkpoint=cfg.checkpoint, host=cfg.host)
            for _ in range(max(cfg.warmup, 1)):
                work.step(None)
            synchronize(cfg.device)
            missed = fx_graph_cache_misses()
            if missed:
                warnings.append(f"the launch map's compilation missed inductor's FX graph cache ({missed} graph"
                                f"{'s' if missed > 1 else ''}): it may have picked other kernels than the measured "
                                "run, whose bytes then stay unknown")
            with recording_triton_launches(), \
                    profile(activities=profiler_activities(cfg.device), record_shapes=True) as prof:
                work.step(None)
                synchronize(cfg.device)
            export_trace(prof, out)
        return True
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the run stands without its launch map
        if out.exists():
            out.unlink()
        warnings.append(f"no launch map ({one_line(exc)}): the bytes of kernels replayed from CUDA graphs "
                        "stay unknown")
        return False
    finally:
        work = None
        reset_compiler()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _extend_window(work: Any, w0_ns: int, min_ms: float, device: str) -> int:
    """Run untimed iterations until ``min_ms`` have passed since ``w0_ns``; returns how many ran.

    Energy and GPM describe the whole window: NVML's energy counter moves in steps of milliseconds and a
    GPM value covers an interval of at least 100 ms, so iterations of a millisecond need company."""
    extra = 0
    synchronize(device)
    while (time.monotonic_ns() - w0_ns) / 1e6 < min_ms:
        work.step(None)
        synchronize(device)
        extra += 1
    return extra


def _measure(cfg: RunConfig, writer: RunDirWriter, backend_factory: Optional[Callable[[], Any]]) -> Dict[str, Any]:
    """Measure ``cfg`` (see the module's description); what the libraries print goes to the run's log."""
    with stderr_into(writer.path(LOG)):
        result = _measure_quietly(cfg, writer, backend_factory)
    log = writer.path(LOG)
    if log.exists() and log.stat().st_size == 0:
        log.unlink()
    elif log.exists():
        result["files"].log = LOG
    return result


def _measure_quietly(cfg: RunConfig, writer: RunDirWriter,
                     backend_factory: Optional[Callable[[], Any]]) -> Dict[str, Any]:
    if cfg.checkpoint:
        from ..model.checkpoint import _read_json, config_from_hf

        model_cfg = config_from_hf(_read_json(Path(cfg.checkpoint) / "config.json"), cfg.dtype)
    else:
        model_cfg = make_preset(cfg.preset, layers=cfg.layers, attention=cfg.attention, chunk_size=cfg.chunk_size,
                                dtype=cfg.dtype)
    _check_footprint(cfg, model_cfg)
    reset_compiler()
    modules_before = [id(m) for m in loaded_modules()]
    torch.manual_seed(cfg.seed)
    on_gpu = cfg.device.startswith("cuda")
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    warnings: List[str] = []
    with torch.no_grad():
        work = build_workload(cfg.workload, model_cfg, cfg.variant, cfg.batch, cfg.seq_len, cfg.new_tokens,
                              cfg.use_cache, cfg.compile, dict(cfg.compile_options), cfg.dynamic, cfg.device,
                              cfg.seed, list(cfg.prompt_ids) if cfg.prompt_ids is not None else None,
                              checkpoint=cfg.checkpoint, host=cfg.host)
        warnings.extend(work.notes)
        if not on_gpu and NEEDS_TRITON in get_variant(cfg.variant).needs:
            warnings.append("runs on the Triton interpreter (CPU): the timings measure the interpreter, not GPU kernels")
        telemetry = Telemetry(cfg.device, cfg.telemetry, cfg.sample_interval_ms, cfg.gpm_interval_ms, backend_factory)
        try:
            before_compile = CompileCounters.read()
            synchronize(cfg.device)
            t = time.perf_counter()
            work.step(None)
            synchronize(cfg.device)
            first_call_ms = (time.perf_counter() - t) * 1e3
            for _ in range(max(cfg.warmup - 1, 0)):
                work.step(None)
            synchronize(cfg.device)
            compiled = CompileCounters.read().since(before_compile)

            probe_before = probe_us()  # the host's speed, just before the measured iterations
            before_measure = CompileCounters.read()
            allocs_before = allocator_counts(cfg.device)
            e0 = telemetry.energy_mj()
            w0 = time.monotonic_ns()
            iterations: List[List[float]] = []
            for _ in range(cfg.iters):
                sw = Stopwatch(cfg.device)
                work.step(sw)
                iterations.append(sw.intervals_ms())
            min_window_ms = cfg.telemetry_window_ms if telemetry.sampler is not None else 0.0
            window_iters = cfg.iters + _extend_window(work, w0, min_window_ms, cfg.device)
            w1 = time.monotonic_ns()
            allocs_after = allocator_counts(cfg.device)
            e1 = telemetry.energy_mj()
            probe_after = probe_us()
            recompiles = CompileCounters.read().since(before_measure)
            if recompiles.frames:
                hint = "" if cfg.dynamic else " (pass --dynamic to compile for varying shapes)"
                warnings.append(f"{recompiles.frames} recompilation(s) happened inside the measured iterations{hint}")

            before_profile = CompileCounters.read()
            clock = _profile(cfg, work.step, writer.path(TRACE))
            profiled = CompileCounters.read().since(before_profile)
            if profiled.frames:
                warnings.append(f"{profiled.frames} recompilation(s) happened inside the profiled steps: the trace "
                                "holds compilation work")
        finally:
            telemetry.stop()

    timings = _timings(cfg, work, iterations, first_call_ms)
    offset = clock_offset_us(writer.path(TRACE), clock["t_mid_ns"]) if clock.get("t_mid_ns") else None
    if telemetry.sampler is not None and not write_telemetry(writer, telemetry.sampler, writer.path(TRACE), offset):
        warnings.append("the clock-sync marker was not found in the trace: telemetry stays on the monotonic clock")

    energy = energy_over_window(e0, e1, w0, w1, window_iters, work.tokens, warnings)
    median = timings.latency_ms.median
    result = {
        "model": model_cfg.to_dict(),
        "device": device_description(cfg.device, telemetry.device_info),
        "timings": timings,
        "host": host_info(probe_before, probe_after),
        "memory": peak_memory(cfg.device, allocs_before, allocs_after),
        "compile": CompileInfo(
            mode=cfg.compile, options=dict(cfg.compile_options), dynamic=cfg.dynamic, first_call_ms=first_call_ms,
            compile_time_ms=(max(first_call_ms - median, 0.0)
                             if cfg.compile != "none" and median is not None else None),
            frames_compiled=compiled.frames, graph_breaks=compiled.graph_breaks,
            graph_break_reasons=graph_break_reasons() if compiled.graph_breaks else {},
            recompiles_during_measurement=recompiles.frames, recompiles_during_profile=profiled.frames),
        "energy": energy,
        "telemetry": telemetry.info(w0, w1, warnings),
        "profile": ProfileSettings(wait=cfg.profile_wait, warmup=cfg.profile_warmup, active=cfg.profile_active,
                                   with_stack=cfg.with_stack, clock_offset_us=offset),
        "warnings": warnings,
        "files": Files(trace=TRACE, telemetry=TELEMETRY if telemetry.sampler is not None else None),
    }
    if cfg.compile != "none" and on_gpu:
        counts = loaded_kernel_counts(modules_before)  # this run's, before the launch map adds its own
        if counts:
            writer.write_json(INDUCTOR_KERNELS, counts)
            result["files"].inductor_kernels = INDUCTOR_KERNELS
    if replays_cuda_graphs(cfg.device, cfg.compile, dict(cfg.compile_options)):
        work = None  # free the graphs' pools before the launch map builds its own copy of the model
        gc.collect()
        torch.cuda.empty_cache()
        if _record_launch_map(cfg, model_cfg, writer.path(LAUNCH_MAP), warnings):
            result["files"].launch_map = LAUNCH_MAP
    device = result["device"]  # measured after the peak memory was read: the measurement allocates
    nvml_id = device.nvml.uuid if device.nvml is not None else None
    device.ceilings = device_ceilings(cfg.device, f"{device.name}|{nvml_id}|torch {torch.__version__}")
    return result


def _timings(cfg: RunConfig, work: Any, iterations: List[List[float]], first_call_ms: float) -> Timings:
    """Per-iteration times (ms) and their spread; throughput (tokens/s) from the median."""
    if work.per_token_marks:
        totals = [sum(x) for x in iterations]
        ttft = [x[0] for x in iterations if x]
        itl = [v for x in iterations for v in x[1:]]
        timings = Timings(iteration_ms=totals, latency_ms=spread(totals), ttft_ms=spread(ttft),
                          inter_token_ms=spread(itl))
    else:
        totals = [x[0] for x in iterations if x]
        timings = Timings(iteration_ms=totals, latency_ms=spread(totals))
    med = timings.latency_ms.median
    timings.tokens_per_iteration = work.tokens
    timings.throughput_tokens_per_s = work.tokens / (med / 1e3) if med else None
    timings.first_call_ms = first_call_ms
    return timings


def run_one(cfg: RunConfig, root: Path, backend_factory: Optional[Callable[[], Any]] = None,
            command: Optional[str] = None) -> RunRecord:
    """Run ``cfg`` into ``root/<run id>``; a failure is recorded there, not raised.

    ``backend_factory`` makes the NVML backend to sample; by default real NVML
    (:class:`PynvmlBackend`) on CUDA devices and no telemetry on the CPU.
    """
    run_id = cfg.run_id()
    manifest = Manifest(kind="profile", run_id=run_id, name=run_id, created=utc_now(),
                        command=command if command is not None else " ".join(sys.argv),
                        versions=Versions(**environment(cfg.device)), config=cfg)
    with RunDirWriter(Path(root), run_id) as writer:
        try:
            for key, value in _measure(cfg, writer, backend_factory).items():
                setattr(manifest, key, value)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a failed configuration is data, not a crash
            for name in (TRACE, TELEMETRY, "trace.json"):
                if writer.path(name).exists():
                    writer.path(name).unlink()
            manifest.status, manifest.error = "failed", one_line(exc)
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        manifest.finished = utc_now()
        writer.write_manifest(manifest)
        path = writer.commit()
    return RunRecord.of(path, manifest)


def run_matrix(configs: List[RunConfig], root: Path, resume: bool = False,
               progress: Optional[Callable[[RunRecord, int, int], None]] = None,
               backend_factory: Optional[Callable[[], Any]] = None, command: Optional[str] = None,
               on_start: Optional[Callable[[RunConfig, int, int], None]] = None) -> List[RunRecord]:
    """Run every configuration; with ``resume`` skip those whose run directory is complete and ok.
    ``on_start(config, index, total)`` hears each configuration before it runs (index from 1),
    ``progress(record, done, total)`` each run as it ends."""
    root = Path(root)
    remove_stale_temporaries(root)
    records: List[RunRecord] = []
    for cfg in configs:
        existing = read_manifest(root / cfg.run_id()) if resume else None
        if existing is not None and existing.ok:
            record = RunRecord.of(root / cfg.run_id(), existing, status="skipped (done)")
        else:
            if on_start is not None:
                on_start(cfg, len(records) + 1, len(configs))
            record = run_one(cfg, root, backend_factory, command)
        records.append(record)
        if progress is not None:
            progress(record, len(records), len(configs))
    return records
