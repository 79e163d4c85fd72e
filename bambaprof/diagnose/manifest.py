"""Rules on what a run directory's manifest recorded: recompilations and graph breaks, NVML's clock reasons, the
host's speed, peak memory.

Each rule reads an :class:`~bambaprof.analysis.Analysis` (its ``manifest``, or its memory figures) and returns a
:class:`~.finding.Finding` or None; its thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from ..collect.nvml import CLOCK_HELD_DOWN_REASONS
from .finding import (
    Finding,
    memory_figures,
)

#: memory-pressure: peak reserved memory at least this share of the device's memory.
MEMORY_PRESSURE_PCT = 90.0
#: host-speed-changed: the host's probe loop (manifest ``host``) took this many times longer at one end of the
#: measured steps than at the other.
HOST_SPEED_CHANGE_X = 1.25


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


def memory_pressure(a: Any) -> Optional[Finding]:
    """Peak reserved memory at least :data:`MEMORY_PRESSURE_PCT` of the device's, or allocations that failed and were
    retried during the run's measured iterations (its allocator counters: memory was full then, whatever the
    peak says)."""
    s = a.summary
    reserved, total = memory_figures(a)
    record = a.manifest.memory if a.manifest is not None else None
    retries = (record.alloc_retries_measured if record is not None else None) or 0
    if not reserved or not total:
        return None
    pct = 100.0 * reserved / total
    if pct < MEMORY_PRESSURE_PCT and not retries:
        return None
    op, phase, module = s.get("peak_allocated_op"), s.get("peak_allocated_phase"), s.get("peak_allocated_module")
    inside = [x for x in (phase, module) if x and not x.startswith("(")]
    where = (f" The allocated peak was reached under {op or 'no operator'}" + (f" in {' / '.join(inside)}"
             if inside else "") + ": what it allocates, and what is still alive then, is the place to cut."
             if op or inside else "")
    evidence = {"peak_reserved_bytes": reserved, "device_memory_bytes": total, "peak_allocated_op": op,
                "peak_allocated_phase": phase, "peak_allocated_module": module, "alloc_retries_measured": retries}
    retried = (f" {retries} allocation(s) failed during the measured iterations and were retried after the allocator "
               "freed its cache (each retry synchronises the device)." if retries else "")
    return Finding("memory-pressure", "high", f"Peak reserved memory was {reserved / 1e9:.1f} GB, {pct:.0f}% of the "
                   f"device's {total / 1e9:.1f} GB: a larger shape will run out of memory.{retried}{where}",
                   [evidence], "Use a variant that does not materialise large intermediates (e.g. triton), or a "
                   "smaller batch" + ("; PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True cuts the fragmentation "
                                      "that makes allocations fail below the peak" if retries else "") + ".")
