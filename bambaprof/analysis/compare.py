"""Comparing a baseline with a candidate: summary metrics and kernels side by side.

Each side is one or more inputs (run directories or traces: repeated runs of
one configuration). Per side, a metric is the median over its inputs:

- ``gpu_time_us``: summed duration of kernels, memcpys and memsets in the trace;
- ``latency_ms``, ``throughput_tokens_per_s``, ``energy_per_token_j``: from run manifests;
- ``peak_memory_bytes``: the manifest's peak allocated, else the trace's ``[memory]`` peak;
- ``exposed_comm``: collective kernels' time with no compute kernel beside them (:mod:`.comms`), per step, where
  both sides have collectives.

For each metric: delta = candidate - baseline, ratio = candidate / baseline,
and, where there are repeated samples on both sides (several inputs, or a
run's measured iterations for latency), a 95% bootstrap interval of the ratio
of medians (2000 resamples, seeded): the difference is *significant* when the
interval excludes 1. Kernels are matched on normalised names; kernels on one
side only are ``added`` or ``removed``. Rows are sorted by impact (|delta| of
time). A *regression* on a metric is a change for the worse (slower, less
throughput, more memory or energy) larger than a given percentage.

GPU time, kernel and op times and counts are **per profiled step** (the trace's
``ProfilerStep#<n>`` ranges; a trace without them counts as one step), since
runs profile different numbers of steps (2 eager, 1 on the Triton interpreter).
GPU time is unknown for a CPU-only trace (not zero); ``step_time`` is the host's
time per profiled step (:mod:`.steps`): each step of a side's one trace, else the
median step of each input, so CPU-only jobs have a metric to gate on too.
``warnings`` say when the ratios may mislead: the two sides ran different
workloads, shapes, models or devices, or different software (torch, CUDA,
Triton, driver, the launch shortcut: the difference may be the point, but it is
named), or a side's latency is noisy (its p90/p10 over :data:`NOISY_SPREAD`, or a
bootstrap interval wider than that factor), or the hosts ran Python at different
speeds: runs record a fixed pure-Python loop's time around their measured steps
(the manifest's ``host``, :mod:`bambaprof.collect.host_speed`), and sides whose
loops differ by :data:`HOST_SPEED_RATIO` or more, or a run whose loop changed during its
measurement (its ``host-speed-changed`` finding), are named (host-bound timings move with
the host). Likewise the GPUs' clocks: runs record NVML's SM clock over their measured window
(the manifest's ``telemetry``), and sides whose mean SM clocks differ by :data:`CLOCK_RATIO` or
more are named, as is a run whose clocks NVML reported held down (a power cap, thermal or
hardware slowdown: its ``throttled`` finding), since compute-bound kernel times move with the
clock: on an H200 a mixer that holds the GPU at its power limit runs its GEMMs at 1,500 to 1,700
MHz instead of 1,980. A trace cut short (read up to its last whole event) is named too: its totals leave
out what ran after the cut.
"""

from __future__ import annotations

import fnmatch
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._untrusted import printable
from ..errors import BambaprofError, UsageError
from ..run import Manifest
from ..run.manifest import RUN_SETTINGS, SOFTWARE_STACK
from ..run.summary import NOISY_SPREAD, spread_ratio  # a side whose latency p90/p10 (or interval) exceeds it
from .analysis import Analysis, analyze
from .copies import SUMMARY_KEYS as COPY_KEYS
from .fleet import none_read, unreadable
from .parse import CUT_SHORT_NOTE
from .source import TraceSource

#: metric -> (label, unit, True when larger is worse)
METRICS = {
    "gpu_time": ("GPU time", "us", True),
    "latency": ("latency", "ms", True),
    "throughput": ("throughput", "tokens/s", False),
    "peak_memory": ("peak memory", "bytes", True),
    "energy_per_token": ("energy per token", "J", True),
    "exposed_comm": ("exposed communication", "us", True),
    "step_time": ("step time", "us", True),
    "copy_time": ("copies on the device", "us", True),
    "allocation_idle": ("GPU idle in memory allocation calls", "us", True),
    "data_wait": ("GPU idle waiting for the DataLoader", "us", True),
    "transfer_exposed": ("host-device copies with no kernel beside them", "us", True),
    "attention_time": ("attention (GPU time, forward and backward)", "us", True),
}
BOOTSTRAP_RESAMPLES = 2000
#: Sides whose host probe loops (median over each side's runs) differ by this factor or more are named.
HOST_SPEED_RATIO = 1.25
#: Sides whose mean SM clocks (NVML, median over each side's runs) differ by this factor or more are named.
CLOCK_RATIO = 1.05


@dataclass
class Side:
    """One side of a comparison: its inputs, their analyses and manifests."""

    label: str
    inputs: List[str]
    analyses: List[Analysis]
    manifests: List[Optional[Manifest]]
    left_out: List[str] = field(default_factory=list)  # inputs of a folder that could not be read, and why

    def samples(self, metric: str) -> List[float]:
        """The metric's value per input (or, for latency of one run, its measured iterations)."""
        values: List[Any] = []
        runs = [m for m in self.manifests if m is not None]
        if metric == "gpu_time":  # unknown for a CPU-only trace (there is no GPU) or one without its GPU side
            values = [(a.summary["kernel_us"] + a.summary["memcpy_us"] + a.summary["memset_us"]) / steps(a)
                      for a in self.analyses if a.summary.get("platform") != "cpu"
                      and a.summary.get("kernel_us") is not None]
        elif metric == "latency":
            only = self.manifests[0] if len(self.manifests) == 1 else None
            if only is not None and only.timings is not None:
                values = list(only.timings.iteration_ms)
            else:
                values = [m.latency_ms for m in runs]
        elif metric == "throughput":
            values = [m.throughput_tokens_per_s for m in runs]
        elif metric == "peak_memory":
            for a, m in zip(self.analyses, self.manifests):
                v = m.memory.peak_allocated_bytes if m is not None else None
                values.append(v if v is not None else a.summary.get("peak_allocated_bytes"))
        elif metric == "energy_per_token":
            values = [m.joules_per_token for m in runs]
        elif metric == "step_time":  # the host's time per profiled step (ProfilerStep ranges); one trace: its steps
            if len(self.analyses) == 1:
                values = [r["dur_us"] for r in self.analyses[0].steps]
            else:
                values = [a.summary.get("step_us") for a in self.analyses]
        elif metric == "copy_time":  # casts, layout and other copies' GPU time (--table copies); unknown without ops
            values = [sum(a.summary[k] for k in COPY_KEYS) / steps(a) for a in self.analyses
                      if all(a.summary.get(k) is not None for k in COPY_KEYS)]
        elif metric == "allocation_idle":  # the GPU idle in and after cudaMalloc/cudaFree...; unknown without calls
            values = [a.summary["allocation_gpu_idle_us"] / steps(a) for a in self.analyses
                      if a.summary.get("platform") != "cpu" and a.summary.get("allocation_gpu_idle_us") is not None]
        elif metric == "data_wait":  # the GPU idle inside DataLoader fetches; unknown without CPU ops or GPU
            values = [a.summary["data_loader_gpu_idle_us"] / steps(a) for a in self.analyses
                      if a.summary.get("platform") != "cpu" and a.summary.get("data_loader_gpu_idle_us") is not None]
        elif metric == "transfer_exposed":  # HtoD/DtoH copies while no kernel ran; unknown without the GPU's copies
            values = [a.summary["transfer_exposed_us"] / steps(a) for a in self.analyses
                      if a.summary.get("transfer_exposed_us") is not None]
        elif metric == "attention_time":  # the attention calls' and kernels' GPU time; unknown without GPU activity
            values = [a.summary["attention_us"] / steps(a) for a in self.analyses
                      if a.summary.get("attention_us") is not None]
        elif metric == "exposed_comm":  # collectives with no compute beside them; unknown without collectives
            values = [a.summary["collective_exposed_us"] / steps(a) for a in self.analyses
                      if a.summary.get("collective_exposed_us") is not None]
        return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


@dataclass
class Comparison:
    """The result of :func:`compare`: summary rows, kernel rows and the inputs of each side."""

    baseline: Dict[str, Any]
    candidate: Dict[str, Any]
    summary: List[Dict[str, Any]]
    kernels: List[Dict[str, Any]]
    ops: List[Dict[str, Any]] = field(default_factory=list)
    phases: List[Dict[str, Any]] = field(default_factory=list)  # GPU time per phase (layers folded), per step
    modules: List[Dict[str, Any]] = field(default_factory=list)  # GPU time per nn.Module (instances folded), per step
    ssd: List[Dict[str, Any]] = field(default_factory=list)  # GPU time per SSD step (kernels by name), per step
    findings: List[Dict[str, Any]] = field(default_factory=list)  # each side's diagnosis: new, resolved, kept, not judged
    notes: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)  # reasons the ratios may mislead, one line each
    #: tables not compared (``ops``, ``phases``, ``modules``, ``kernels``, ``ssd``), each with the warning saying why
    not_compared: Dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def metric(self, name: str) -> Optional[Dict[str, Any]]:
        return next((r for r in self.summary if r["metric"] == name), None)


def bootstrap_ratio_interval(base: Sequence[float], cand: Sequence[float], seed: int = 0,
                             resamples: int = BOOTSTRAP_RESAMPLES) -> Optional[tuple]:
    """95% bootstrap interval of median(cand) / median(base); ``None`` without repeats on both sides."""
    if len(base) < 2 or len(cand) < 2:
        return None
    rng = np.random.default_rng(seed)
    b, c = np.asarray(base, dtype=float), np.asarray(cand, dtype=float)
    mb = np.median(rng.choice(b, size=(resamples, len(b)), replace=True), axis=1)
    mc = np.median(rng.choice(c, size=(resamples, len(c)), replace=True), axis=1)
    ok = mb > 0
    ratios = mc[ok] / mb[ok]
    if len(ratios) == 0:
        return None
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def _side(label: str, inputs: Sequence[Union[str, Path, TraceSource]], peak_gbps: Optional[float],
          optional: Collection[Path] = ()) -> Side:
    """Analyse one side's inputs; one in ``optional`` (a folder's rank) that cannot be read is left out and
    noted, unless none can."""
    kept: List[Union[str, Path, TraceSource]] = []
    analyses: List[Analysis] = []
    left_out: List[Tuple[Path, str]] = []
    for item in inputs:
        try:
            analyses.append(analyze(item, peak_gbps=peak_gbps))
        except BambaprofError as exc:
            if not isinstance(item, Path) or item not in optional:
                raise
            left_out.append((item, unreadable(item, exc)))
            continue
        kept.append(item)
    if not analyses:
        raise none_read(f"{label} input", left_out)
    return Side(label, [i.label if isinstance(i, TraceSource) else str(i) for i in kept], analyses,
                [a.manifest for a in analyses], [f"{label}: {p.name} left out ({why})" for p, why in left_out])


def steps(a: Analysis) -> int:
    """Profiled steps in an analysis's trace (``ProfilerStep#<n>`` ranges); 1 when it marks none."""
    return int(a.summary.get("profiled_steps") or 1)


_PER_STEP = ("total_us", "count", "cpu_total_us", "cpu_self_us", "gpu_total_us")


def _rows_by_name(side: Side, table: str) -> Dict[str, List[Dict[str, Any]]]:
    """Rows of each input's ``table`` (``kernels`` or ``ops``) grouped by name, times and counts per step."""
    per_name: Dict[str, List[Dict[str, Any]]] = {}
    for a in side.analyses:
        n = steps(a)
        for row in getattr(a, table):
            per_step = {k: row[k] / n for k in _PER_STEP if isinstance(row.get(k), (int, float))}
            per_name.setdefault(row["name"], []).append({**row, **per_step})
    return per_name


def _padded(rows: List[Dict[str, Any]], key: str, n: int, missing: float = 0.0) -> List[float]:
    """``key`` of each row, with ``missing`` for each of the ``n`` inputs that had no such row."""
    return [r[key] for r in rows] + [missing] * (n - len(rows))


def _kernel_table(side: Side) -> Dict[str, Dict[str, Any]]:
    """Per normalised kernel name: median over inputs of time and count; bandwidth and occupancy."""
    n = len(side.analyses)
    out = {}
    for name, rows in _rows_by_name(side, "kernels").items():
        times = _padded(rows, "total_us", n)
        counts = _padded(rows, "count", n, missing=0)
        gb = [r["achieved_gbps"] for r in rows if r.get("achieved_gbps") is not None]
        out[name] = {
            "time_us": statistics.median(times), "count": statistics.median(counts), "times": times,
            "achieved_gbps": statistics.median(gb) if gb else None,
            "theoretical_occupancy_pct": rows[0].get("theoretical_occupancy_pct"),
            "est_occupancy_pct": rows[0].get("est_occupancy_pct"), "limiter": rows[0].get("limiter"),
            "kind": rows[0].get("kind"),
        }
    return out


def compare(
    baseline: Sequence[Union[str, Path, TraceSource]],
    candidate: Sequence[Union[str, Path, TraceSource]],
    peak_gbps: Optional[float] = None,
    optional: Collection[Path] = (),
) -> Comparison:
    """Compare runs or traces: ``baseline`` and ``candidate`` each one or more inputs. An input in ``optional``
    (a trace standing for a folder of ranks) that cannot be read is left out with a note."""
    if not baseline or not candidate:
        raise UsageError("compare needs at least one baseline and one candidate input")
    return compare_sides(_side("baseline", baseline, peak_gbps, optional),
                         _side("candidate", candidate, peak_gbps, optional))


def compare_sides(a: Side, b: Side) -> Comparison:
    """Compare two sides whose inputs are already analysed (see :class:`Side`)."""
    summary = []
    for metric, (label, unit, worse_up) in METRICS.items():
        sa, sb = a.samples(metric), b.samples(metric)
        if not sa or not sb:
            continue
        va, vb = statistics.median(sa), statistics.median(sb)
        ratio = vb / va if va else None
        interval = bootstrap_ratio_interval(sa, sb)
        change_pct = (ratio - 1) * 100 if ratio is not None else None
        worse_pct = (change_pct if worse_up else -change_pct) if change_pct is not None else None
        summary.append({
            "metric": metric, "label": label, "unit": unit, "baseline": va, "candidate": vb,
            "delta": vb - va, "ratio": ratio, "change_pct": change_pct, "worse_pct": worse_pct,
            "ci_low": interval[0] if interval else None, "ci_high": interval[1] if interval else None,
            "significant": (not (interval[0] <= 1.0 <= interval[1])) if interval else None,
            "samples": [len(sa), len(sb)],
        })
    ka, kb = _kernel_table(a), _kernel_table(b)
    total_a = sum(r["time_us"] for r in ka.values()) or math.nan
    total_b = sum(r["time_us"] for r in kb.values()) or math.nan
    rows = []
    unknown_side = _gpu_unrecorded(a) or _gpu_unrecorded(b)  # its kernels are unknown, not removed (a warning)
    for name in set() if unknown_side else set(ka) | set(kb):
        ra, rb = ka.get(name), kb.get(name)
        ta, tb = (ra or {}).get("time_us", 0.0), (rb or {}).get("time_us", 0.0)
        status = "added" if ra is None else "removed" if rb is None else "same" if ta == tb else "changed"
        interval = bootstrap_ratio_interval(ra["times"], rb["times"]) if ra and rb else None
        rows.append({
            "name": name, "kind": (ra or rb)["kind"], "status": status,
            "count_baseline": (ra or {}).get("count"), "count_candidate": (rb or {}).get("count"),
            "time_baseline_us": ta, "time_candidate_us": tb, "delta_us": tb - ta,
            "ratio": tb / ta if ta else None,
            "share_baseline_pct": 100 * ta / total_a, "share_candidate_pct": 100 * tb / total_b,
            "gbps_baseline": (ra or {}).get("achieved_gbps"), "gbps_candidate": (rb or {}).get("achieved_gbps"),
            "theor_occ_baseline_pct": (ra or {}).get("theoretical_occupancy_pct"),
            "theor_occ_candidate_pct": (rb or {}).get("theoretical_occupancy_pct"),
            "significant": (not (interval[0] <= 1.0 <= interval[1])) if interval else None,
            "ci_low": interval[0] if interval else None, "ci_high": interval[1] if interval else None,
        })
    rows.sort(key=lambda r: (-abs(r["delta_us"]), r["name"]))
    notes = [*a.left_out, *b.left_out]
    ops = _op_rows(a, b)
    if len(a.analyses) < 2 or len(b.analyses) < 2:
        notes.append("one input on a side: significance uses a run's measured iterations for latency and a trace's "
                     "profiled steps for step time only")
    sa_steps, sb_steps = sorted({steps(x) for x in a.analyses}), sorted({steps(x) for x in b.analyses})
    notes.append(f"GPU, kernel and op times and counts are per profiled step (baseline: "
                 f"{'/'.join(map(str, sa_steps))} step(s), candidate: {'/'.join(map(str, sb_steps))})")
    return Comparison(
        baseline={"inputs": a.inputs, "manifests": a.manifests, "summaries": [x.summary for x in a.analyses]},
        candidate={"inputs": b.inputs, "manifests": b.manifests, "summaries": [x.summary for x in b.analyses]},
        summary=summary, kernels=rows, ops=ops, phases=_phase_rows(a, b), notes=notes,
        modules=_phase_rows(a, b, "module_kinds", "module"), ssd=_phase_rows(a, b, "ssd", "step"),
        findings=_finding_rows(a, b), warnings=_warnings(a, b, summary), not_compared=_not_compared(a, b),
    )


def _side_findings(side: Side) -> Dict[Tuple[str, Optional[str]], Dict[str, Any]]:
    """A side's findings by (id, kernel: for a finding raised per kernel, else None): the worst severity among its
    inputs, the median time at stake where known (us, over the whole trace, as the finding gives it), how many
    inputs raised it, and the message of the worst."""
    from ..diagnose.rules import PER_KERNEL_FINDINGS, severity_rank

    out: Dict[Tuple[str, Optional[str]], Dict[str, Any]] = {}
    for analysis in side.analyses:
        for f in analysis.findings:
            evidence = f.get("evidence") or []
            first = evidence[0] if evidence and isinstance(evidence[0], dict) else {}
            subject = first.get("kernel") if f["id"] in PER_KERNEL_FINDINGS else None
            row = out.setdefault((f["id"], subject), {"severity": f["severity"], "message": f["message"],
                                                      "times": [], "inputs": 0})
            row["inputs"] += 1
            if severity_rank(f["severity"]) < severity_rank(row["severity"]):
                row["severity"], row["message"] = f["severity"], f["message"]
            if isinstance(f.get("time_us"), (int, float)) and math.isfinite(f["time_us"]):
                row["times"].append(float(f["time_us"]))
    return out


#: The fields of a kernel row of :attr:`Comparison.kernels`, in order (the CSV header, with rows or without).
KERNEL_ROW_FIELDS = ("name", "kind", "status", "count_baseline", "count_candidate", "time_baseline_us",
                     "time_candidate_us", "delta_us", "ratio", "share_baseline_pct", "share_candidate_pct",
                     "gbps_baseline", "gbps_candidate", "theor_occ_baseline_pct", "theor_occ_candidate_pct",
                     "significant", "ci_low", "ci_high")


#: The status of a finding that one side lacks and could not have raised (it holds none of what the rule reads).
NOT_JUDGED = "not judged"


def _finding_rows(a: Side, b: Side) -> List[Dict[str, Any]]:
    """The findings of both sides' diagnoses matched by id (and kernel, for those raised per kernel): ``new`` (the
    candidate's only), ``resolved`` (the baseline's only), ``kept``, or ``not judged`` where the side without it
    holds none of what its rule reads (:func:`~bambaprof.diagnose.rules.can_judge`: no host calls, no ``--ncu``,
    no run manifest), with each side's severity, time at stake and share of inputs that raised it; new ones
    first, then resolved, kept, not judged, worst first."""
    from ..diagnose.rules import can_judge, severity_rank

    fa, fb = _side_findings(a), _side_findings(b)
    rows = []
    for key in set(fa) | set(fb):
        ra, rb = fa.get(key), fb.get(key)
        without = a if ra is None else b if rb is None else None
        if without is not None and not any(can_judge(x, key[0], key[1]) for x in without.analyses):
            status = NOT_JUDGED
        else:
            status = "new" if ra is None else "resolved" if rb is None else "kept"
        row: Dict[str, Any] = {"finding": key[0], "kernel": key[1], "status": status}
        for label, r, side in (("baseline", ra, a), ("candidate", rb, b)):
            row[f"severity_{label}"] = r["severity"] if r else None
            row[f"at_stake_{label}_us"] = statistics.median(r["times"]) if r and r["times"] else None
            row[f"inputs_{label}"] = f"{r['inputs'] if r else 0}/{len(side.analyses)}"
        row["message"] = (rb or ra or {}).get("message")
        rows.append(row)
    order = {"new": 0, "resolved": 1, "kept": 2, NOT_JUDGED: 3}
    rows.sort(key=lambda r: (order[r["status"]], severity_rank(r["severity_candidate"] or r["severity_baseline"]),
                             -(r["at_stake_candidate_us"] or r["at_stake_baseline_us"] or 0.0), r["finding"],
                             r["kernel"] or ""))
    return rows


def _phase_times(side: Side, table: str, key: str) -> Dict[str, List[float]]:
    """Per row of the analyses' ``table`` (``phase_kinds``: layers folded; ``module_kinds``: instances
    folded; ``ssd``: SSD kernels by step, whatever their implementation), named by ``key``: its GPU time per
    profiled step in each input (0 where an input lacks it)."""
    n = len(side.analyses)
    out: Dict[str, List[float]] = {}
    for i, a in enumerate(side.analyses):
        for row in getattr(a, table):
            out.setdefault(row[key], [0.0] * n)[i] += row["gpu_us"] / steps(a)
    return out


def _phase_rows(a: Side, b: Side, table: str = "phase_kinds", key: str = "phase") -> List[Dict[str, Any]]:
    """Phase rows (or module rows: ``table`` and ``key`` as for :func:`_phase_times`): median GPU time per
    step on each side, delta, ratio and the 95% interval of the ratio (with repeats on both sides), sorted by
    the time at stake (largest change first)."""
    if key != "step" and (_ops_unrecorded(a) or _ops_unrecorded(b)):  # no ranges there: unknown (a warning)
        return []
    if _gpu_unrecorded(a) or _gpu_unrecorded(b):  # GPU time unknown on a side (a warning)
        return []
    pa, pb = _phase_times(a, table, key), _phase_times(b, table, key)
    out = []
    for name in set(pa) | set(pb):
        ta = statistics.median(pa[name]) if name in pa else 0.0
        tb = statistics.median(pb[name]) if name in pb else 0.0
        interval = bootstrap_ratio_interval(pa[name], pb[name]) if name in pa and name in pb else None
        out.append({key: name, "status": "added" if name not in pa else "removed" if name not in pb else
                    "same" if ta == tb else "changed", "time_baseline_us": ta, "time_candidate_us": tb,
                    "delta_us": tb - ta, "ratio": tb / ta if ta else None,
                    "ci_low": interval[0] if interval else None, "ci_high": interval[1] if interval else None,
                    "significant": (not (interval[0] <= 1.0 <= interval[1])) if interval else None})
    out.sort(key=lambda r: (-abs(r["delta_us"]), r[key]))
    return out


def _what_ran(m: Optional[Manifest]) -> Optional[str]:
    """A run's workload, shape, model and device in a few words (``None`` for a bare trace)."""
    if m is None or m.config is None:
        return None
    c = m.config
    shape = f"b{c.batch} L{c.seq_len}" + (f" +{c.new_tokens}" if c.workload == "generate" else "")
    model = c.checkpoint or f"{c.preset}" + (f" {c.layers} layers" if c.layers else "") + (f" {c.dtype}" if c.dtype else "")
    return f"{c.workload} {shape}, {model}, on {m.device_name or c.device}"


#: The recorded versions whose difference between the sides :func:`compare` names.
#: The recorded versions and settings a difference between the sides is named for (the driver: its
#: scheduling and clocks move timings too).
SOFTWARE = (*SOFTWARE_STACK, "driver", *RUN_SETTINGS)


def _software(side: Side, key: str) -> set:
    """The values of ``versions.<key>`` a side's runs recorded (empty for bare traces and older runs)."""
    return {getattr(m.versions, key) for m in side.manifests
            if m is not None and m.versions is not None and getattr(m.versions, key, None)}


def _warnings(a: Side, b: Side, summary: List[Dict[str, Any]]) -> List[str]:
    """One line per reason the ratios may mislead (see the module's description)."""
    out: List[str] = []
    ran_a = {w for w in map(_what_ran, a.manifests) if w}
    ran_b = {w for w in map(_what_ran, b.manifests) if w}
    if ran_a and ran_b and ran_a != ran_b:
        out.append(f"the sides ran different things: baseline {'; '.join(sorted(ran_a))} -- candidate "
                   f"{'; '.join(sorted(ran_b))}")
    differ = [f"{key.replace('_', ' ')} {'/'.join(sorted(va))} -- {'/'.join(sorted(vb))}"
              for key in SOFTWARE for va, vb in [(_software(a, key), _software(b, key))] if va and vb and va != vb]
    if differ:
        out.append("the sides ran different software (baseline -- candidate): " + "; ".join(differ))
    for side in (a, b):
        for m, path in zip(side.manifests, side.inputs):
            ratio = spread_ratio(m)
            if m is not None and m.timings is not None and ratio is not None and ratio > NOISY_SPREAD:
                sp = m.timings.latency_ms
                out.append(f"{side.label} {path} is noisy: latency p90/p10 = {ratio:.2f} over {sp.n} "
                           f"iterations (median {sp.median:.4g} ms), so its ratios may mean little; re-run it on an "
                           "idle machine")
    out.extend(_host_speed_warnings(a, b))
    out.extend(_clock_warnings(a, b))
    out.extend(_sync_warnings(a, b))
    out.extend(_step_warnings(a, b))
    out.extend(line for line, _ in _left_out_lines(a, b))
    for side in (a, b):
        for analysis, path in zip(side.analyses, side.inputs):
            cut = next((n for n in analysis.notes if n.startswith(CUT_SHORT_NOTE)), None)
            if cut is not None:
                out.append(f"{side.label} {path}: {cut}, so its totals leave out whatever ran after the cut")
    for row in summary:
        lo, hi = row.get("ci_low"), row.get("ci_high")
        if lo and hi and lo > 0 and hi / lo > NOISY_SPREAD:
            out.append(f"{row['label']}: the ratio's 95% interval {lo:.3g}-{hi:.3g} spans more than "
                       f"{NOISY_SPREAD}x: too noisy to read")
    return out


def _left_out_lines(a: Side, b: Side) -> List[Tuple[str, Tuple[str, ...]]]:
    """Each side's warning that tables are not compared against it, with the tables it leaves out: a side without
    CPU ops or ranges (ops, phases, modules), a side whose GPU activity was not recorded (kernels, phases, modules,
    SSD steps)."""
    out: List[Tuple[str, Tuple[str, ...]]] = []
    for side in (a, b):
        if _ops_unrecorded(side):
            host = all(x.summary.get("sync_count") is None for x in side.analyses)  # no runtime calls either
            out.append((f"the {side.label}'s inputs hold no CPU ops or ranges beside their GPU work ("
                        + ("GPU activity alone" if host else "the profiler's CPU activity off") + "): CPU ops, "
                        "phases and modules are not compared" + (", and findings that read the host's calls are not "
                                                                 "judged for it" if host else ""),
                        ("ops", "phases", "modules")))
    for side in (a, b):
        if _gpu_unrecorded(side):
            out.append((f"the {side.label}'s inputs hold launch calls but no GPU activity (the profiler's CUDA "
                        "activity off, or its records lost): GPU time, kernels, phases, modules and SSD steps are not "
                        "compared, and findings about GPU time are not judged for it",
                        ("kernels", "phases", "modules", "ssd")))
    return out


def _not_compared(a: Side, b: Side) -> Dict[str, str]:
    """The tables not compared, each with the (first) warning that says why (:func:`_left_out_lines`)."""
    out: Dict[str, str] = {}
    for line, tables in _left_out_lines(a, b):
        for table in tables:
            out.setdefault(table, line)
    return out


def _step_warnings(a: Side, b: Side) -> List[str]:
    """A line when one side's inputs mark several profiled steps and the other's mark none: times and counts are
    per step on the first and whole-trace totals on the second, so the ratios set a step against a trace."""
    def marks(side: Side) -> Optional[bool]:  # True: every input marks 2+ steps; False: none marks any; else None
        counts = [x.summary.get("profiled_steps") or 0 for x in side.analyses]
        return True if counts and min(counts) > 1 else False if counts and max(counts) == 0 else None

    out = []
    for with_steps, without in ((a, b), (b, a)):
        if marks(with_steps) is True and marks(without) is False:
            out.append(f"the {with_steps.label}'s inputs mark profiled steps (ProfilerStep ranges) and the "
                       f"{without.label}'s none: its times and counts are per step, the {without.label}'s whole-trace "
                       "totals, so the ratios set one step against a whole trace (the step ranges are recorded with the "
                       "profiler's CPU activity and a schedule)")
    return out


def _syncs_per_step(side: Side) -> Optional[float]:
    """The median over a side's inputs of their host-device synchronisations a profiled step; None where an
    input cannot count them (GPU activity without the host's calls)."""
    counts = [a.summary.get("sync_count") for a in side.analyses]
    if not counts or any(c is None for c in counts):
        return None
    return statistics.median(c / steps(a) for c, a in zip(counts, side.analyses))


def _sync_warnings(a: Side, b: Side) -> List[str]:
    """A line when the candidate synchronises with the GPU more often a step than the baseline: a ``.item()``
    or copy to the host that crept in stalls the GPU and keeps the step out of CUDA graphs, whatever the
    ratios say."""
    before, after = _syncs_per_step(a), _syncs_per_step(b)
    if before is None or after is None or after <= before:
        return []
    drain = statistics.median((x.summary.get("sync_drain_us") or 0.0) / steps(x) for x in b.analyses)
    calls = sorted({f"{r['call']} under {r['op'] or 'no operator'}" for x in b.analyses for r in x.syncs})
    return [f"the candidate synchronises with the GPU {after:g} times a step against the baseline's {before:g} "
            f"(the GPU then sat empty {drain:,.1f} us a step; {', '.join(calls[:3])}): see its sync-stall finding "
            "and `analyze --table syncs`"]


def _probe_us(side: Side) -> Optional[float]:
    """The median over a side's runs of their host probe (us); None where no run recorded one."""
    known = [m.host.probe_us for m in side.manifests if m is not None and m.host is not None and m.host.probe_us]
    return statistics.median(known) if known else None


def _gap_warning(a: Side, b: Side, value: Callable[[Side], Optional[float]], ratio: float,
                 say: Callable[[float, float], str]) -> List[str]:
    """``[say(baseline's value, candidate's)]`` where both sides' ``value`` is known and they differ by
    ``ratio`` or more; else no warning."""
    va, vb = value(a), value(b)
    return [say(va, vb)] if va and vb and va > 0 and vb > 0 and max(va, vb) / min(va, vb) >= ratio else []


def _flagged_runs(a: Side, b: Side, finding_id: str) -> Iterator[Tuple[str, Any, Analysis, Dict[str, Any]]]:
    """``(side label, input, analysis, finding)`` for each run whose own diagnosis raised ``finding_id``."""
    for side in (a, b):
        for analysis, path in zip(side.analyses, side.inputs):
            found = next((f for f in analysis.findings if f["id"] == finding_id), None)
            if found is not None:
                yield side.label, path, analysis, found


def _host_speed_warnings(a: Side, b: Side) -> List[str]:
    """The hosts' Python speed, where it differs between the sides or changed within a run."""
    out = _gap_warning(a, b, _probe_us, HOST_SPEED_RATIO, lambda pa, pb: (
        f"the hosts ran Python at different speeds: a fixed loop took {pa / 1e3:.2f} ms (baseline) -- "
        f"{pb / 1e3:.2f} ms (candidate), {pb / pa:.2f}x; host-bound timings (eager decoding, small "
        "shapes) move with the host, not only with the code"))
    # the run's own diagnosis judged the change (diagnose's host-speed-changed, one threshold)
    for label, path, analysis, _ in _flagged_runs(a, b, "host-speed-changed"):
        host = analysis.manifest.host if analysis.manifest is not None else None
        if host is not None:
            out.append(f"{label} {path}: the host's speed changed during the measurement (a fixed loop "
                       f"took {host.probe_before_us / 1e3:.2f} ms before, {host.probe_after_us / 1e3:.2f} "
                       "ms after); its host-bound timings are not steady")
    return out


def _sm_clock_mhz(side: Side) -> Optional[float]:
    """The median over a side's runs of their mean SM clock over the measured window (MHz, NVML); None where
    no run sampled one."""
    known = [m.sm_clock_mhz for m in side.manifests if m is not None and m.sm_clock_mhz is not None]
    return statistics.median(known) if known else None


def _clock_warnings(a: Side, b: Side) -> List[str]:
    """The GPUs' SM clocks, where they differ between the sides or a run's were held down."""
    out = _gap_warning(a, b, _sm_clock_mhz, CLOCK_RATIO, lambda ca, cb: (
        f"the GPUs ran at different clocks: SM clock {ca:,.0f} MHz (baseline) -- {cb:,.0f} MHz (candidate), "
        f"{cb / ca:.2f}x (NVML, means over the measured windows); compute-bound kernel times move with "
        "the clock, not only with the code"))
    # diagnose's throttled finding judged the run's clock-event reasons
    out.extend(f"{label} {path}: {held['message']}" for label, path, _, held in _flagged_runs(a, b, "throttled"))
    return out


def _gpu_unrecorded(side: Side) -> bool:
    """Whether none of a side's inputs holds its GPU activity, though it ran GPU work (launch calls without GPU
    activity: the profiler's CUDA activity off)."""
    from ..diagnose.rules import gpu_unrecorded

    return bool(side.analyses) and all(gpu_unrecorded(x) for x in side.analyses)


def _ops_unrecorded(side: Side) -> bool:
    """Whether none of a side's inputs holds CPU ops or ranges beside its GPU work (the profiler's CPU activity off,
    an Nsight Systems or rocprofv3 trace without ranges): its ops, phases and modules are unknown, not absent."""
    return bool(side.analyses) and all(x.summary.get("platform") != "cpu" and not x.ops for x in side.analyses)


def _op_rows(a: Side, b: Side) -> List[Dict[str, Any]]:
    """CPU ops matched by name: median over inputs of CPU total/self time and GPU time (us), by impact."""
    def table(side: Side) -> Dict[str, Dict[str, float]]:
        n = len(side.analyses)
        return {name: {key: statistics.median(_padded(rows, key, n))
                       for key in ("count", "cpu_total_us", "cpu_self_us", "gpu_total_us")}
                for name, rows in _rows_by_name(side, "ops").items()}

    def cpu_only(side: Side) -> bool:  # no GPU recorded: its ops' GPU time is unknown, not 0
        return bool(side.analyses) and all(an.summary.get("platform") == "cpu" or an.summary.get("kernel_us") is None
                                           for an in side.analyses)

    if _ops_unrecorded(a) or _ops_unrecorded(b):  # its ops are unknown, not removed: a warning says so
        return []
    ta, tb = table(a), table(b)
    no_gpu = (cpu_only(a), cpu_only(b))
    out = []
    for name in set(ta) | set(tb):
        ra, rb = ta.get(name), tb.get(name)
        row: Dict[str, Any] = {"name": name, "status": "added" if ra is None else "removed" if rb is None else "matched"}
        for key in ("count", "cpu_total_us", "cpu_self_us", "gpu_total_us"):
            va, vb = (ra or {}).get(key, 0.0), (rb or {}).get(key, 0.0)
            row[f"{key}_baseline"], row[f"{key}_candidate"] = va, vb
        if no_gpu[0]:
            row["gpu_total_us_baseline"] = None
        if no_gpu[1]:
            row["gpu_total_us_candidate"] = None
        row["cpu_delta_us"] = row["cpu_total_us_candidate"] - row["cpu_total_us_baseline"]
        row["gpu_delta_us"] = None if any(no_gpu) else row["gpu_total_us_candidate"] - row["gpu_total_us_baseline"]
        out.append(row)
    out.sort(key=lambda r: (-max(abs(r["cpu_delta_us"]), abs(r["gpu_delta_us"] or 0.0)), r["name"]))
    return out


def check_threshold(threshold_pct: float) -> None:
    """Refuse a regression threshold that is negative, NaN or infinite (a gate that can never fire)."""
    if not math.isfinite(threshold_pct) or threshold_pct < 0:
        raise UsageError(f"--fail-on-regression must be a finite percentage of at least 0, not {threshold_pct}")


#: Parts of a run the gate can watch: ``<kind>:<glob>`` -> the comparison's table and the key it matches.
PART_METRICS = {"phase": ("phases", "phase"), "module": ("modules", "module"), "ssd": ("ssd", "step"),
                "kernel": ("kernels", "name")}


def check_metric(metric: str) -> None:
    """Refuse a gate metric that is neither a summary metric nor ``<kind>:<glob>`` of a known kind."""
    kind, sep, pattern = metric.partition(":")
    if metric in METRICS or (sep and kind in PART_METRICS and pattern):
        return
    raise UsageError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)}, or "
                     f"{'|'.join(PART_METRICS)}:GLOB for a part's GPU time per step)")


def part_metric(comp: Comparison, metric: str) -> Dict[str, Any]:
    """The GPU time per step (us, medians over each side's inputs) of the rows a ``<kind>:<glob>`` metric
    matches (phases and modules layers/instances folded, SSD steps, kernels; glob as in shell patterns,
    case-sensitive), summed, as a summary row. Raises :class:`UsageError` when no row of either side matches."""
    kind, _, pattern = metric.partition(":")
    table, key = PART_METRICS[kind]
    rows = getattr(comp, table)
    matched = [r for r in rows if fnmatch.fnmatchcase(str(r.get(key)), pattern)]
    if not matched:
        names = sorted({printable(str(r.get(key))) for r in rows})  # a kernel name may hold a line break
        left_out = comp.not_compared.get(table) if not rows else None
        raise UsageError(f"no {kind} of either side matches {pattern!r}" + (
            f"; {kind}s: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}" if names else
            f"; {left_out}" if left_out else f"; these inputs have no {kind} table rows"))
    base = sum(r["time_baseline_us"] for r in matched)
    cand = sum(r["time_candidate_us"] for r in matched)
    ratio = cand / base if base else None
    change = (ratio - 1) * 100 if ratio is not None else None
    return {"metric": metric, "label": f"GPU time of {kind} {pattern} ({len(matched)} row(s))", "unit": "us",
            "baseline": base, "candidate": cand, "delta": cand - base, "ratio": ratio, "change_pct": change,
            "worse_pct": change}


def new_finding(comp: Comparison, severity: str) -> Optional[str]:
    """A one-line description when the candidate's diagnosis has a finding of at least ``severity`` (``high``,
    ``medium`` or ``low``) that the baseline's did not, or had below it; else ``None``. A finding the baseline
    could not judge (:data:`NOT_JUDGED`) is not new: the baseline's inputs cannot say it was absent."""
    from ..diagnose.rules import severity_rank

    limit = severity_rank(severity)
    worse = [r for r in comp.findings if r.get("status") != NOT_JUDGED and r["severity_candidate"]
             and severity_rank(r["severity_candidate"]) <= limit
             and (r["severity_baseline"] is None or severity_rank(r["severity_baseline"]) > limit)]
    if not worse:
        return None
    named = [f"{r['finding']}" + (f" ({r['kernel'][:60]})" if r["kernel"] else "") + f", {r['severity_candidate']}"
             + (f" (was {r['severity_baseline']})" if r["severity_baseline"] else "") for r in worse[:3]]
    more = f" and {len(worse) - 3} more" if len(worse) > 3 else ""
    return f"new finding in the candidate at {severity} or worse: {'; '.join(named)}{more}"


def regression(comp: Comparison, metric: str, threshold_pct: float) -> Optional[str]:
    """A one-line description when ``metric`` got worse by more than ``threshold_pct``, else ``None``.
    ``metric`` is a summary metric (:data:`METRICS`) or a part of the run, ``<kind>:<glob>``
    (:func:`part_metric`): ``phase:layer.*/mixer/ssd*``, ``module:*Mamba2Mixer*``, ``ssd:chunk scan``,
    ``kernel:_chunk_scan*``.

    A baseline of zero has no percentage: zero on both sides passes, and a candidate above zero of a metric where
    more is worse (GPU time in copies, exposed communication, a part's GPU time) is a regression whatever the
    threshold.

    Raises :class:`UsageError` when the metric is unknown or not available for these inputs, or zero in the
    baseline of a metric where less is worse (throughput).
    """
    check_metric(metric)
    check_threshold(threshold_pct)
    row = part_metric(comp, metric) if metric not in METRICS else comp.metric(metric)
    usable = [r["metric"] for r in comp.summary if _gateable(r)]
    if row is None or not _gateable(row):
        what = "is not available" if row is None else "is unknown on a side, or zero in the baseline"
        raise UsageError(f"metric {metric!r} {what} for these inputs, so the gate cannot judge it; "
                         f"metrics both sides have: {', '.join(usable) or 'none'}")
    if not row["baseline"]:
        if not row["candidate"]:
            return None  # none before, none now
        return (f"regression: {row['label']} 0 -> {_figure(row['candidate'])} {row['unit']} (none in the baseline, "
                f"threshold {threshold_pct:g}%)")
    if row["worse_pct"] is not None and row["worse_pct"] > threshold_pct:
        return (f"regression: {row['label']} {_figure(row['baseline'])} -> {_figure(row['candidate'])} "
                f"{row['unit']} ({row['change_pct']:+.1f}%, threshold {threshold_pct:g}%)")
    return None


def _worse_up(metric: str) -> bool:
    """Whether more of ``metric`` is worse: a summary metric by :data:`METRICS`, a part's GPU time always."""
    return METRICS[metric][2] if metric in METRICS else True


def _gateable(row: Dict[str, Any]) -> bool:
    """Whether the gate can judge a summary or part row: both sides known, and the baseline above zero, or zero
    for a metric where more is worse (a candidate above it is then a regression, zero again a pass)."""
    base, cand = row.get("baseline"), row.get("candidate")
    if base is None or cand is None:
        return False
    return bool(base) or _worse_up(row["metric"])


def _figure(v: float) -> str:
    """A value in the gate's message: 4 significant digits, thousands written out (``17,820``, ``0.5123``)."""
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
