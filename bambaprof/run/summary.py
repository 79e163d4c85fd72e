"""The matrix summary: one row per run against the baseline variant of the same configuration."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .directory import RunRecord
from .manifest import Manifest

#: A run whose latency p90/p10 exceeds this is too noisy for a ratio against it (or of it) to mean much.
NOISY_SPREAD = 1.5


def spread_ratio(m: Optional[Manifest]) -> Optional[float]:
    """A run's latency p90/p10 (``None`` when unknown)."""
    sp = m.timings.latency_ms if m is not None and m.timings is not None else None
    return sp.p90 / sp.p10 if sp is not None and sp.p10 and sp.p90 else None


def summary_rows(records: Sequence[RunRecord], baseline_variant: Optional[str] = None) -> List[Dict[str, Any]]:
    """One row per run: latency (ms), throughput (tokens/s), peak memory (bytes), energy (J/token), GPM
    means (%), the mean SM clock over the measured window (MHz, NVML: a run held at its power limit runs
    slower at the same code), and ``vs_baseline``: the median latency over that of the run of ``baseline_variant`` (by
    default the first record's variant) with the same configuration apart from the variant and its
    iteration counts; ``noise`` says when this run's or that baseline's latency p90/p10 exceeds
    :data:`NOISY_SPREAD`, so the ratio means little. Runs without a configuration (recorded with
    :func:`bambaprof.record`) have no baseline."""
    configs = [r.config for r in records]
    if baseline_variant is None:
        baseline_variant = next((c.variant for c in configs if c is not None), None)
    baseline: Dict[tuple, float] = {}
    baseline_spread: Dict[tuple, Optional[float]] = {}
    for r in records:
        if r.config is not None and r.config.variant == baseline_variant and r.ok and r.manifest is not None:
            lat = r.manifest.latency_ms
            if lat:
                baseline[r.config.comparison_key()] = lat
                baseline_spread[r.config.comparison_key()] = spread_ratio(r.manifest)
    rows = []
    for r in records:
        m, c = r.manifest, r.config
        t = m.timings if m is not None else None
        gpm = m.gpm if m is not None else None
        lat = t.latency_ms.median if t is not None else None
        base = baseline.get(c.comparison_key()) if c is not None else None
        spreads = [x for x in (spread_ratio(m), baseline_spread.get(c.comparison_key()) if c is not None else None)
                   if x is not None and x > NOISY_SPREAD]
        rows.append({
            "run_id": r.run_id, "name": r.name, "status": r.status,
            "workload": c.workload if c is not None else (m.kind if m is not None else None),
            "variant": c.variant if c is not None else None,
            "compile": c.compile if c is not None else None,
            "batch": c.batch if c is not None else None, "seq_len": c.length if c is not None else None,
            "latency_ms": lat, "latency_p90_ms": t.latency_ms.p90 if t is not None else None,
            "ttft_ms": t.ttft_ms.median if t is not None and t.ttft_ms is not None else None,
            "throughput_tokens_per_s": t.throughput_tokens_per_s if t is not None else None,
            "peak_allocated_bytes": m.memory.peak_allocated_bytes if m is not None else None,
            "joules_per_token": m.joules_per_token if m is not None else None,
            "gpm_dram_bw_util_pct": gpm.dram_bw_util_pct.mean if gpm and gpm.dram_bw_util_pct else None,
            "gpm_sm_occupancy_pct": gpm.sm_occupancy_pct.mean if gpm and gpm.sm_occupancy_pct else None,
            "sm_clock_mhz": m.sm_clock_mhz if m is not None else None,
            "vs_baseline": lat / base if lat and base else None,
            "noise": f"p90/p10 {max(spreads):.1f}" if spreads and lat and base else None,
            "error": r.error,
        })
    return rows
