"""Run one configuration into one run directory, or a matrix of them.

For each configuration, in order:

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
   (record_shapes, profile_memory, optional stacks), with a ``bambaprof::clock_sync``
   marker whose trace timestamp puts the NVML samples on the trace's clock;
5. write ``manifest.json``, ``trace.json.gz`` and ``telemetry.json.gz`` atomically.

A configuration that fails (out of memory, compile error, a variant that cannot
run) becomes a run directory whose manifest says ``failed`` with the error; the
matrix goes on.
"""

from __future__ import annotations

import datetime
import gc
import gzip
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .._env import environment
from ..errors import BambaprofError
from ..model.config import preset as make_preset
from ..ssm import get_variant
from ..ssm.contract import NEEDS_TRITON
from ..rundir import MANIFEST, SCHEMA_VERSION, TELEMETRY, TRACE, RunDirWriter, read_manifest, remove_stale_temporaries
from .compile import CompileCounters, graph_break_reasons, reset_compiler
from .config import RunConfig
from .nvml import GPM_SERIES, NvmlUnavailable, ProcessSampler, PynvmlBackend, window_stats
from .timing import Stopwatch, spread, synchronize
from .workloads import build_workload

CLOCK_SYNC = "bambaprof::clock_sync"


@dataclass
class RunRecord:
    """What the matrix summary needs of one run."""

    run_id: str
    config: RunConfig
    status: str  # "ok", "failed", "skipped (done)"
    path: Optional[Path]
    manifest: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "out of memory: " + msg[:300]
    return f"{type(exc).__name__}: {msg[:400]}" if msg else type(exc).__name__


def _device_description(device: str) -> Dict[str, Any]:
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(torch.device(device))
        return {"kind": "cuda", "name": p.name, "compute_capability": f"{p.major}.{p.minor}",
                "multiprocessors": p.multi_processor_count, "total_memory_bytes": p.total_memory}
    import platform

    return {"kind": "cpu", "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def _clock_offset_us(trace_path: Path, t_mid_ns: float) -> Optional[float]:
    """Trace-clock us minus monotonic us, from the clock-sync marker's timestamp in the trace."""
    from ..analyze.trace import load_trace

    try:
        trace = load_trace(trace_path)
    except BambaprofError:
        return None
    for name, ts in zip(trace.ops.name, trace.ops.ts.tolist()):
        if name == CLOCK_SYNC:
            return ts - t_mid_ns / 1000.0
    return None


class _Telemetry:
    """The NVML sampler for a run, or the reason there is none."""

    def __init__(self, cfg: RunConfig, backend_factory: Optional[Callable[[], Any]]) -> None:
        self.sampler: Optional[ProcessSampler] = None
        self.backend: Any = None
        self.notice: Optional[str] = None
        self.device_info: Dict[str, Any] = {}
        if not cfg.telemetry:
            self.notice = "telemetry off (--no-telemetry)"
            return
        if backend_factory is None:
            if not cfg.device.startswith("cuda"):
                self.notice = "telemetry unavailable: the run is on the CPU"
                return
            backend_factory = PynvmlBackend
        try:
            self.backend = backend_factory()  # this process: device info and the energy counter
            self.backend.open()
            self.device_info = self.backend.device_info()
            self.sampler = ProcessSampler(backend_factory, cfg.sample_interval_ms / 1e3,
                                          cfg.gpm_interval_ms / 1e3).start()
        except NvmlUnavailable as exc:
            self.notice = f"telemetry unavailable: {exc}"
            if self.backend is not None:
                self.backend.close()
            self.backend = None

    def energy_mj(self) -> Optional[float]:
        return self.backend.energy_mj() if self.backend is not None else None

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.backend is not None:
            self.backend.close()

    def window_summary(self, w0_ns: int, w1_ns: int, warnings: List[str]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The stopped sampler's NVML and GPM statistics over ``[w0_ns, w1_ns]`` (empty without telemetry).

        GPM is unknown (``None``) without GPM support; with it and no whole GPM interval inside the window,
        each value has no samples and ``warnings`` says so; NVML sampling errors are warned about too."""
        s = self.sampler
        if s is None:
            return {}, {}
        window_ms = (w1_ns - w0_ns) / 1e6
        gpm = {name: window_stats(s.gpm, name, w0_ns, w1_ns) if s.gpm_available else None for name in GPM_SERIES}
        if s.gpm_available and not (gpm.get("dram_bw_util_pct") or {}).get("samples"):
            warnings.append(f"no whole GPM interval ({s.gpm_interval_s * 1e3:.0f} ms) fits in the {window_ms:.1f} ms "
                            "telemetry window: GPM metrics unknown (raise --telemetry-window-ms)")
        nvml: Dict[str, Any] = {name: window_stats(s.nvml, name, w0_ns, w1_ns) for name in NVML_SUMMARY_SERIES}
        reasons = {v for t, v in zip(s.nvml["t_ns"], s.nvml["clock_event_reasons"]) if w0_ns <= t <= w1_ns and v}
        nvml["clock_event_reasons_seen"] = sorted(reasons)
        if s.errors:
            warnings.append(f"NVML sampling errors: {s.errors[0]}")
        return nvml, gpm


#: The NVML series the manifest summarises over the telemetry window (every GPM series is).
NVML_SUMMARY_SERIES = ("power_w", "sm_clock_mhz", "mem_clock_mhz", "gpu_util_pct", "temperature_c")


def _energy(e0_mj: Optional[float], e1_mj: Optional[float], w0_ns: int, w1_ns: int, iterations: int,
            tokens_per_iteration: int, warnings: List[str]) -> Optional[Dict[str, Any]]:
    """Joules over the telemetry window and per token from the energy counter's two readings (mJ);
    ``None`` without a counter, or (with a warning) when it did not advance over the window."""
    window_ms = (w1_ns - w0_ns) / 1e6
    if e0_mj is None or e1_mj is None:
        return None
    if e1_mj <= e0_mj:
        warnings.append(f"the energy counter did not advance over the {window_ms:.1f} ms telemetry window: energy "
                        "unknown (raise --telemetry-window-ms)")
        return None
    joules = (e1_mj - e0_mj) / 1e3
    tokens = tokens_per_iteration * iterations
    return {"joules": joules, "joules_per_token": joules / tokens if tokens else None,
            "window_ms": window_ms, "iterations": iterations}


def _profile(cfg: RunConfig, step: Callable, out: Path) -> Dict[str, Any]:
    """Profile ``wait + warmup + active`` iterations; write ``out`` (gzipped); return clock data."""
    from torch.profiler import ProfilerActivity, profile, record_function, schedule

    activities = [ProfilerActivity.CPU]
    if cfg.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    raw = out.with_suffix("")  # trace.json
    sync: Dict[str, float] = {}

    def export(prof) -> None:
        prof.export_chrome_trace(str(raw))

    with warnings.catch_warnings():  # no warm-up step is a choice here (the interpreter's default), not news
        warnings.filterwarnings("ignore", message="Profiler won't be using warmup")
        sched = schedule(wait=cfg.profile_wait, warmup=cfg.profile_warmup, active=cfg.profile_active, repeat=1)
    with profile(activities=activities, schedule=sched, record_shapes=True, profile_memory=True,
                 with_stack=cfg.with_stack, on_trace_ready=export) as prof:
        for i in range(cfg.profile_wait + cfg.profile_warmup + cfg.profile_active):
            if i == cfg.profile_wait + cfg.profile_warmup:  # first active iteration
                t0 = time.monotonic_ns()
                with record_function(CLOCK_SYNC):
                    pass
                t1 = time.monotonic_ns()
                sync["t_mid_ns"] = (t0 + t1) / 2
            step(None)
            synchronize(cfg.device)
            prof.step()
    with open(raw, "rb") as src, gzip.open(out, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(raw)
    return {"t_mid_ns": sync.get("t_mid_ns")}


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
    if cfg.checkpoint:
        from ..model.checkpoint import _read_json, config_from_hf

        model_cfg = config_from_hf(_read_json(Path(cfg.checkpoint) / "config.json"), cfg.dtype)
    else:
        model_cfg = make_preset(cfg.preset, layers=cfg.layers, attention=cfg.attention, chunk_size=cfg.chunk_size,
                                dtype=cfg.dtype)
    reset_compiler()
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
        telemetry = _Telemetry(cfg, backend_factory)
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

            before_measure = CompileCounters.read()
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
            e1 = telemetry.energy_mj()
            recompiles = CompileCounters.read().since(before_measure)
            if recompiles.frames:
                hint = "" if cfg.dynamic else " (pass --dynamic to compile for varying shapes)"
                warnings.append(f"{recompiles.frames} recompilation(s) happened inside the measured iterations{hint}")

            clock = _profile(cfg, work.step, writer.path(TRACE))
        finally:
            telemetry.stop()

    timings = _timings(cfg, work, iterations, first_call_ms)
    offset = _clock_offset_us(writer.path(TRACE), clock["t_mid_ns"]) if clock.get("t_mid_ns") else None
    if telemetry.sampler is not None:
        cols = telemetry.sampler.columns(offset if offset is not None else 0.0)
        if offset is None:
            cols["clock"] = "monotonic_us"
            warnings.append("the clock-sync marker was not found in the trace: telemetry stays on the monotonic clock")
        writer.write_json(TELEMETRY, cols)

    energy = _energy(e0, e1, w0, w1, window_iters, work.tokens, warnings)
    nvml_summary, gpm = telemetry.window_summary(w0, w1, warnings)
    device = _device_description(cfg.device)
    if telemetry.device_info.get("peak_bandwidth_gbps"):
        device["peak_bandwidth_gbps"] = telemetry.device_info["peak_bandwidth_gbps"]
        device["peak_bandwidth_source"] = "nvml"
    device["nvml"] = telemetry.device_info or None
    return {
        "model": model_cfg.to_dict(),
        "device": device,
        "timings": timings,
        "memory": {
            "peak_allocated_bytes": torch.cuda.max_memory_allocated() if on_gpu else None,
            "peak_reserved_bytes": torch.cuda.max_memory_reserved() if on_gpu else None,
        },
        "compile": {
            "mode": cfg.compile, "options": dict(cfg.compile_options), "dynamic": cfg.dynamic,
            "first_call_ms": first_call_ms,
            "compile_time_ms": (max(first_call_ms - timings["latency_ms"]["median"], 0.0)
                                if cfg.compile != "none" and timings["latency_ms"]["median"] is not None else None),
            "frames_compiled": compiled.frames, "graph_breaks": compiled.graph_breaks,
            "graph_break_reasons": graph_break_reasons() if compiled.graph_breaks else {},
            "recompiles_during_measurement": recompiles.frames,
        },
        "energy": energy,
        "telemetry": {"available": telemetry.sampler is not None, "notice": telemetry.notice,
                      "gpm": bool(telemetry.sampler and telemetry.sampler.gpm_available),
                      "summary": {"nvml": nvml_summary or None, "gpm": gpm or None}},
        "profile": {"wait": cfg.profile_wait, "warmup": cfg.profile_warmup, "active": cfg.profile_active,
                    "record_shapes": True, "profile_memory": True, "with_stack": cfg.with_stack,
                    "clock_offset_us": offset},
        "warnings": warnings,
        "files": {"trace": TRACE, "telemetry": TELEMETRY if telemetry.sampler is not None else None},
    }


def _timings(cfg: RunConfig, work, iterations: List[List[float]], first_call_ms: float) -> Dict[str, Any]:
    """Per-iteration times (ms) and their spread; throughput (tokens/s) from the median."""
    if work.per_token_marks:
        totals = [sum(x) for x in iterations]
        ttft = [x[0] for x in iterations if x]
        itl = [v for x in iterations for v in x[1:]]
        out = {"iteration_ms": totals, "latency_ms": spread(totals), "ttft_ms": spread(ttft),
               "inter_token_ms": spread(itl)}
    else:
        totals = [x[0] for x in iterations if x]
        out = {"iteration_ms": totals, "latency_ms": spread(totals)}
    med = out["latency_ms"]["median"]
    out["tokens_per_iteration"] = work.tokens
    out["throughput_tokens_per_s"] = work.tokens / (med / 1e3) if med else None
    out["first_call_ms"] = first_call_ms
    return out


def run_one(cfg: RunConfig, root: Path, backend_factory: Optional[Callable[[], Any]] = None,
            command: Optional[str] = None) -> RunRecord:
    """Run ``cfg`` into ``root/<run id>``; a failure is recorded there, not raised.

    ``backend_factory`` makes the NVML backend to sample; by default real NVML
    (:class:`PynvmlBackend`) on CUDA devices and no telemetry on the CPU.
    """
    run_id = cfg.run_id()
    manifest: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command if command is not None else " ".join(sys.argv),
        "versions": environment(cfg.device), "config": cfg.to_dict(),
    }
    with RunDirWriter(Path(root), run_id) as writer:
        try:
            manifest.update(_measure(cfg, writer, backend_factory))
            manifest["status"], manifest["error"] = "ok", None
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a failed configuration is data, not a crash
            for name in (TRACE, TELEMETRY, "trace.json"):
                if writer.path(name).exists():
                    writer.path(name).unlink()
            manifest["status"], manifest["error"] = "failed", _one_line(exc)
            manifest["files"] = {"trace": None, "telemetry": None}
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        manifest["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.write_json(MANIFEST, manifest)
        path = writer.commit()
    return RunRecord(run_id, cfg, manifest["status"], path, manifest, manifest.get("error"))


def run_matrix(configs: List[RunConfig], root: Path, resume: bool = False,
               progress: Optional[Callable[[RunRecord], None]] = None,
               backend_factory: Optional[Callable[[], Any]] = None, command: Optional[str] = None) -> List[RunRecord]:
    """Run every configuration; with ``resume`` skip those whose run directory is complete and ok."""
    root = Path(root)
    remove_stale_temporaries(root)
    records: List[RunRecord] = []
    for cfg in configs:
        existing = read_manifest(root / cfg.run_id()) if resume and (root / cfg.run_id() / MANIFEST).is_file() else None
        if existing is not None and existing.get("status") == "ok":
            record = RunRecord(cfg.run_id(), cfg, "skipped (done)", root / cfg.run_id(), existing)
        else:
            record = run_one(cfg, root, backend_factory, command)
        records.append(record)
        if progress is not None:
            progress(record)
    return records


def summary_rows(records: List[RunRecord]) -> List[Dict[str, Any]]:
    """One row per run: latency, throughput, memory, energy, GPM, and the ratio to the baseline variant
    (the first variant of the matrix on the same configuration otherwise)."""
    baseline: Dict[tuple, Dict[str, Any]] = {}
    first_variant = records[0].config.variant if records else None
    for r in records:
        if r.config.variant == first_variant and r.manifest.get("status") == "ok":
            baseline[r.config.comparison_key()] = r.manifest
    rows = []
    for r in records:
        m = r.manifest
        t = m.get("timings") or {}
        lat = (t.get("latency_ms") or {}).get("median")
        gpm = ((m.get("telemetry") or {}).get("summary") or {}).get("gpm") or {}
        base = baseline.get(r.config.comparison_key())
        base_lat = ((base or {}).get("timings") or {}).get("latency_ms", {}).get("median") if base else None
        rows.append({
            "run_id": r.run_id, "status": r.status, "workload": r.config.workload, "variant": r.config.variant,
            "compile": r.config.compile, "batch": r.config.batch, "seq_len": r.config.length,
            "latency_ms": lat, "latency_p90_ms": (t.get("latency_ms") or {}).get("p90"),
            "ttft_ms": (t.get("ttft_ms") or {}).get("median"),
            "throughput_tokens_per_s": t.get("throughput_tokens_per_s"),
            "peak_allocated_bytes": (m.get("memory") or {}).get("peak_allocated_bytes"),
            "joules_per_token": (m.get("energy") or {}).get("joules_per_token"),
            "gpm_dram_bw_util_pct": (gpm.get("dram_bw_util_pct") or {}).get("mean"),
            "gpm_sm_occupancy_pct": (gpm.get("sm_occupancy_pct") or {}).get("mean"),
            "vs_baseline": lat / base_lat if lat and base_lat else None,
            "error": r.error,
        })
    return rows
