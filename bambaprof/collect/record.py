"""Profile your own code: :func:`record` wraps a loop of yours in torch.profiler, the NVML sampler and
step timing, and leaves a run directory that ``analyze``, ``compare``, ``report`` and ``view`` read::

    import bambaprof

    with bambaprof.record("my-mamba2", out="traces") as run:
        for _ in range(8):
            model(x)
            run.step()          # marks the end of a step
    print(run.path)             # traces/my-mamba2-<time>-<hash>/

Steps: the first ``warmup`` steps (default 1: compilation, caches) are timed but left out of the
statistics; the profiler records the next ``profile_steps`` (default 2) into the trace, and the steps after
those are the measured ones. When every step after the warm-up was profiled, the statistics use them and
the manifest warns that they include the profiler's overhead. On CUDA each step is timed with CUDA events
on the current stream (read once at the end, so timing never stalls the GPU); on the CPU with the wall
clock. Times in ms.

On CUDA, NVML (and GPM on Hopper) is sampled throughout; its summary and the energy counter's difference
(joules, per token with ``tokens_per_step``) describe the window of the measured steps: from the end of the
profiled steps (or of the warm-up, when every later step was profiled) to the end of the body.
On the CPU, or without NVML, the manifest says why there is no telemetry.

If the body raises, the exception propagates and the run directory is recorded as ``failed`` with the
error (no trace), as ``profile`` records a failed configuration; an interrupt (Ctrl-C) leaves no directory.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import torch

from .._env import environment
from ..errors import UsageError
from ..run import (
    TELEMETRY,
    TRACE,
    Files,
    Manifest,
    ProfileSettings,
    RunDirWriter,
    Timings,
    Versions,
    safe_run_name,
)
from ..run.config import interval_problem
from ..ssm.capabilities import resolve_device
from .host_speed import host_info, probe_us
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
from .timing import Stopwatch, spread, synchronize
from .triton_launches import recording_triton_launches


class Recording:
    """The handle :func:`record` gives the body: call :meth:`step` after each step; after the ``with``
    block, :attr:`path` is the run directory and :attr:`manifest` its manifest."""

    def __init__(self, name: str, out: Union[str, "os.PathLike[str]"], device: str, warmup: int,
                 profile_steps: int, tokens_per_step: Optional[int], telemetry: bool, with_stack: bool,
                 sample_interval_ms: float, gpm_interval_ms: float,
                 backend_factory: Optional[Callable[[], Any]]) -> None:
        self.name = name
        self.out = Path(out)
        self.device = device
        self.warmup = warmup
        self.profile_steps = profile_steps
        self.tokens_per_step = tokens_per_step
        self.with_stack = with_stack
        created = utc_now()
        digest = hashlib.sha1(f"{name}|{created}|{time.monotonic_ns()}|{os.getpid()}".encode()).hexdigest()[:8]
        self.run_id = f"{safe_run_name(name)}-{created.replace(':', '').replace('-', '')}-{digest}"
        self.manifest = Manifest(kind="record", run_id=self.run_id, name=name, created=created,
                                 command=" ".join(sys.argv), versions=Versions(**environment(device)))
        self.path: Optional[Path] = None
        self.steps = 0
        self._telemetry_args = (device, telemetry, sample_interval_ms, gpm_interval_ms, backend_factory)
        self._writer: Optional[RunDirWriter] = None
        self._watch = Stopwatch(device)
        self._prof: Any = None
        self._launch_hook: Any = None  # the Triton launch hook, active while the profiler records
        self._step_range: Any = None
        self._profiled: List[int] = []
        self._sync_ns: Optional[float] = None
        self._telemetry: Optional[Telemetry] = None
        self._window: List[Optional[float]] = [None, None]  # energy (mJ) at the window's ends
        self._w0_ns = 0
        self._window_first_step = 0
        self._probe_before: Optional[float] = None
        self._allocs_before: Dict[str, Optional[int]] = {}

    # -- the body's side ------------------------------------------------------------------------------
    def step(self) -> None:
        """Mark the end of one step and the start of the next (the profiler's bookkeeping between the two
        marks is not part of either step)."""
        self._watch.mark()
        self.steps += 1
        if self._prof is not None:
            self._close_step_range()
            self._profiled.append(self.steps - 1)
            if len(self._profiled) >= self.profile_steps:
                self._stop_profiler()
                self._start_window()  # the measured steps start here: telemetry describes them
            else:
                self._open_step_range()
        if self.steps == self.warmup:
            self._start_window()
            self._start_profiler()
        self._watch.mark()

    # -- the context manager's side ---------------------------------------------------------------------
    def __enter__(self) -> "Recording":
        self._writer = RunDirWriter(self.out, self.run_id).__enter__()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        self._telemetry = Telemetry(*self._telemetry_args)
        self._probe_before = probe_us()  # the host's speed before the body's steps
        if self.warmup == 0:
            self._start_window()
            self._start_profiler()
        synchronize(self.device)
        self._watch.mark()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        writer = self._writer
        assert writer is not None
        try:
            if exc_type is not None and not issubclass(exc_type, Exception):  # Ctrl-C, SystemExit: no directory
                self._abandon()
                return
            synchronize(self.device)
            w1_ns = time.monotonic_ns()
            energy_end = self._telemetry.energy_mj() if self._telemetry is not None else None
            self.manifest.host = host_info(self._probe_before, probe_us())
            if self._prof is not None:
                self._stop_profiler()
            if self._telemetry is not None:
                self._telemetry.stop()
            if exc_type is not None:
                self._fail(one_line(exc))
            else:
                self._finish(w1_ns, energy_end)
            self.manifest.finished = utc_now()
            writer.write_manifest(self.manifest)
            self.path = writer.commit()
        finally:
            writer.__exit__(None, None, None)
        # returning None: the body's exception, if any, propagates

    # -- internals ------------------------------------------------------------------------------------
    def _start_window(self) -> None:
        """Start the telemetry window at the next step (again, once the profiled steps are over)."""
        self._window_first_step = self.steps
        self._w0_ns = time.monotonic_ns()
        self._window[0] = self._telemetry.energy_mj() if self._telemetry is not None else None
        self._allocs_before = allocator_counts(self.device)  # the allocator's driver calls from here on

    def _start_profiler(self) -> None:
        if self.profile_steps <= 0:
            return
        from torch.profiler import profile

        self._prof = profile(activities=profiler_activities(self.device), record_shapes=True, profile_memory=True,
                             with_stack=self.with_stack)
        self._launch_hook = recording_triton_launches()
        self._launch_hook.__enter__()
        self._prof.start()
        self._sync_ns = mark_clock_sync()
        self._open_step_range()

    def _open_step_range(self) -> None:
        """Mark the profiled step in the trace as ``ProfilerStep#<n>``, as torch's schedule names steps."""
        from torch.profiler import record_function

        self._step_range = record_function(f"ProfilerStep#{self.steps}")
        self._step_range.__enter__()

    def _close_step_range(self) -> None:
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    def _stop_profiler(self) -> None:
        self._close_step_range()
        prof, self._prof = self._prof, None
        synchronize(self.device)
        prof.stop()
        self._unhook()
        assert self._writer is not None
        export_trace(prof, self._writer.path(TRACE))

    def _unhook(self) -> None:
        hook, self._launch_hook = self._launch_hook, None
        if hook is not None:
            hook.__exit__(None, None, None)

    def _abandon(self) -> None:
        self._close_step_range()
        if self._prof is not None:
            self._prof.stop()
            self._prof = None
        self._unhook()
        if self._telemetry is not None:
            self._telemetry.stop()

    def _fail(self, error: str) -> None:
        assert self._writer is not None
        for name in (TRACE, TELEMETRY):
            if self._writer.path(name).exists():
                self._writer.path(name).unlink()
        self.manifest.status, self.manifest.error = "failed", error
        self.manifest.device = device_description(self.device)

    def _finish(self, w1_ns: int, energy_end: Optional[float]) -> None:
        assert self._writer is not None and self._telemetry is not None
        m, warnings = self.manifest, self.manifest.warnings
        intervals = self._watch.intervals_ms()[0::2]  # marks: start, end of step 0, start of step 1, ...
        warm, after = intervals[:self.warmup], intervals[self.warmup:]
        profiled = set(self._profiled)
        measured = [t for i, t in enumerate(after, start=self.warmup) if i not in profiled]
        if not self.steps:
            warnings.append("the body called run.step() no time: no step was timed")
        elif not after:
            warnings.append(f"every step was a warm-up step (warmup={self.warmup}): no step was measured")
        elif not measured:
            measured = after
            warnings.append("every step after the warm-up ran under the profiler: the timings include its "
                            "overhead (run more steps than warmup + profile_steps)")
        latency = spread(measured)
        tokens = self.tokens_per_step
        m.timings = Timings(iteration_ms=measured, latency_ms=latency, warmup_ms=warm,
                            profiled_steps=sorted(profiled), tokens_per_iteration=tokens,
                            throughput_tokens_per_s=tokens / (latency.median / 1e3) if tokens and latency.median
                            else None, first_call_ms=intervals[0] if intervals else None)
        trace = self._writer.path(TRACE)
        offset = clock_offset_us(trace, self._sync_ns) if trace.exists() and self._sync_ns else None
        if not trace.exists():
            warnings.append("no step ran under the profiler: the run has no trace")
        tel = self._telemetry
        if tel.sampler is not None:
            write_telemetry(self._writer, tel.sampler, trace, offset)
        window_steps = self.steps - self._window_first_step
        m.energy = energy_over_window(self._window[0], energy_end, self._w0_ns, w1_ns, window_steps, tokens,
                                      warnings)
        m.telemetry = tel.info(self._w0_ns, w1_ns, warnings)
        m.device = device_description(self.device, tel.device_info)
        m.memory = peak_memory(self.device, self._allocs_before, allocator_counts(self.device))
        m.profile = ProfileSettings(wait=self.warmup, warmup=0, active=len(profiled), with_stack=self.with_stack,
                                    clock_offset_us=offset)
        m.files = Files(trace=TRACE if trace.exists() else None,
                        telemetry=TELEMETRY if tel.sampler is not None else None)


def record(name: str, out: Union[str, "os.PathLike[str]"] = "traces", *, device: Optional[str] = None,
           warmup: int = 1, profile_steps: int = 2, tokens_per_step: Optional[int] = None, telemetry: bool = True,
           with_stack: bool = False, sample_interval_ms: float = 20.0, gpm_interval_ms: float = 100.0,
           backend_factory: Optional[Callable[[], Any]] = None) -> Recording:
    """A context manager that records the steps of the body into a run directory under ``out`` (see the
    module's description). ``device``: ``cuda`` or ``cpu`` (default: CUDA when a GPU is visible).
    ``tokens_per_step`` gives throughput (tokens/s) and energy per token. ``backend_factory`` makes the
    NVML backend (tests pass a fake one)."""
    if not name or not name.strip():
        raise UsageError("record needs a non-empty name")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (warmup, profile_steps)):
        raise UsageError(f"warmup and profile_steps must be whole numbers, not negative (got {warmup!r}, "
                         f"{profile_steps!r})")
    for key, value in (("sample_interval_ms", sample_interval_ms), ("gpm_interval_ms", gpm_interval_ms)):
        problem = (interval_problem(key, value) if isinstance(value, (int, float)) and not isinstance(value, bool)
                   else f"{key} must be a number, not {value!r}")
        if problem:
            raise UsageError(problem)
    if tokens_per_step is not None and not (isinstance(tokens_per_step, (int, float)) and 0 < tokens_per_step < math.inf):
        raise UsageError(f"tokens_per_step must be a positive, finite number, not {tokens_per_step!r}")
    device = resolve_device(device)
    return Recording(name, out, device, warmup, profile_steps, tokens_per_step, telemetry, with_stack,
                     sample_interval_ms, gpm_interval_ms, backend_factory)
