"""The report's first screen: what was compared, runs grouped by workload and shape, and each run's speed-up
against a baseline chosen by matching configuration.

Grouping: runs with the same workload, batch, sequence length, new tokens (generation only), model (preset,
layers, attention, dtype) and device form one group; a chart or a ratio never crosses groups. Inputs without a
manifest (plain traces) form a group of their own, named by their device.

Baseline: in each group the *reference variant* is ``default`` (the study's chunked scan) when the group has it,
else the variant of the group's first run. A run's baseline is the reference variant's run under the same
compile mode. Where there is none (the reference variant's own compiled runs, or a compile mode the reference
variant has no run in), compile is what varies: the baseline is the run's own variant run eagerly
(``compile=none``). Without such a run there is no baseline and the speed-up is unknown.
Speed-up = baseline median latency / the run's median latency (higher is faster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: The variant a group is measured against when it has one.
REFERENCE_VARIANT = "default"


@dataclass
class Row:
    """One run on the first screen. Times in ms, memory in bytes, speed-up a ratio (unknown: None)."""

    label: str
    name: str
    variant: Optional[str]
    compile: Optional[str]
    status: str
    latency_ms: Optional[float] = None
    latency_p10_ms: Optional[float] = None
    latency_p90_ms: Optional[float] = None
    throughput: Optional[float] = None
    step_ms: Optional[float] = None  # a trace's median profiled step (host time per prof.step()), where it has steps
    peak_bytes: Optional[float] = None
    peak_on_host: bool = False  # the peak is the CPU allocator's (a CPU-only profile), not a GPU's
    peak_where: Optional[str] = None  # where the trace's allocated peak was reached (phase, module or op)
    gpu_busy_pct: Optional[float] = None
    on_gpu: bool = True  # whether the run had GPU work (recorded or not): a CPU-only trace's busy share is no figure
    above_floor_x: Optional[float] = None
    decode_floor_x: Optional[float] = None  # a cached generate run's median token over its floor (decode-floor)
    baseline: Optional[str] = None  # the label of the baseline run ("itself" for the baseline)
    baseline_name: Optional[str] = None  # its name within the group (variant · compile)
    speedup: Optional[float] = None
    finding: Optional[Dict[str, Any]] = None  # the run's first finding (most time at stake)
    index: int = 0  # position among the report's inputs


@dataclass
class Group:
    """Runs of one workload and shape."""

    title: str
    rows: List[Row] = field(default_factory=list)


def group_key(manifest: Any, device: Optional[str]) -> Tuple[Any, ...]:
    """What must match for two runs to be compared (see the module docstring)."""
    if manifest is None or getattr(manifest, "config", None) is None:
        return ("trace", device)
    c = manifest.config
    new = c.new_tokens if c.workload == "generate" else None
    return (c.workload, c.batch, c.seq_len, new, c.preset, c.layers, c.attention, c.dtype,
            manifest.device_name or device)


def group_title(key: Tuple[Any, ...]) -> str:
    """``mixer, batch 1 x 512 tokens`` / ``generate, batch 1 x 512 tokens + 8 new`` / ``traces (NVIDIA H200)``."""
    if key[0] == "trace":
        return f"traces ({key[1] or 'unknown device'})"
    workload, batch, seq, new = key[:4]
    return f"{workload}, batch {batch} x {seq} tokens" + (f" + {new} new" if new is not None else "")


def run_label(manifest: Any, fallback: str) -> str:
    """``triton · max-autotune``: what varies inside a group, instead of a run id cut short."""
    c = getattr(manifest, "config", None) if manifest is not None else None
    return f"{c.variant} · {c.compile}" if c is not None else fallback


def assign_baselines(rows: List[Row]) -> None:
    """Set each row's baseline and speed-up within one group (rules in the module docstring)."""
    ok = [r for r in rows if r.status == "ok" and r.variant is not None]
    if not ok:
        return
    variants = [r.variant for r in ok]
    reference = REFERENCE_VARIANT if REFERENCE_VARIANT in variants else variants[0]
    first = {(r.variant, r.compile): r for r in reversed(ok)}  # the first run of each pair wins
    for r in ok:
        base = first.get((reference, r.compile)) if r.variant != reference else None
        if base is None:
            base = first.get((r.variant, "none"))
        if base is None:
            continue
        r.baseline = "itself" if base is r else base.label
        r.baseline_name = base.name
        if base.latency_ms and r.latency_ms:
            r.speedup = base.latency_ms / r.latency_ms


def comparison_pairs(groups: Sequence[Group]) -> List[Tuple[int, int]]:
    """(baseline index, run index) for every run that has a baseline other than itself, in report order."""
    out = []
    for g in groups:
        by_label = {r.label: r for r in g.rows}
        for r in g.rows:
            if r.baseline and r.baseline != "itself" and r.baseline in by_label:
                out.append((by_label[r.baseline].index, r.index))
    return out


def what_was_compared(manifests: Sequence[Any], devices: Sequence[Optional[str]], groups: Sequence[Group]) -> str:
    """One line: device(s), model(s), shapes, and how many variants and compile modes."""
    names = sorted({d for d in devices if d}) or ["unknown device"]
    models, variants, modes = set(), set(), set()
    for m in manifests:
        c = getattr(m, "config", None) if m is not None else None
        if c is None:
            continue
        layers = f", {c.layers} layers" if c.layers else ""
        attention = ", no attention" if c.attention is False else ""
        models.add(f"{c.preset}{layers}{attention}{', ' + c.dtype if c.dtype else ''}")
        variants.add(c.variant)
        modes.add(c.compile)
    parts = [", ".join(names)]
    if models:
        parts.append("; ".join(sorted(models)))
    parts.append("; ".join(g.title for g in groups))
    if variants:
        parts.append(f"{len(variants)} variant{'s' if len(variants) != 1 else ''} x {len(modes)} compile "
                     f"mode{'s' if len(modes) != 1 else ''}")
    n = len(manifests)
    parts.append(f"{n} run{'s' if n != 1 else ''}")
    return " · ".join(parts)
