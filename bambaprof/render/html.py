"""Self-contained HTML pages: the report (:func:`build_report`) and the compare page
(:func:`render_comparison_page`), one file each, plotly.js inlined once, no network, built from aggregates.

The report opens on the answer (:mod:`~bambaprof.render.summary`: what was compared, a summary table per
workload and shape with speed-ups against matched baselines, the findings), then the charts of each group
(:mod:`~bambaprof.render.group_charts`) and of each run (:mod:`~bambaprof.render.run_charts`), the accuracy
table when runs carry one, each run against its baseline, and, collapsed, the runs' kernel tables and
settings. Everything untrusted (kernel names, paths, prompts) is escaped: by Jinja2's autoescaping in the
page, and before it reaches plotly (:func:`~bambaprof.render.figure.esc`). Figures travel packed
(:func:`~bambaprof.render.figure.packed_figure`), so no text can close their script block.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._untrusted import printable
from .._version import __version__
from ..analysis.analysis import Analysis, analyze
from ..analysis.fleet import SLOWEST_RANK_PCT, fleet_of, none_read, rank_row, unreadable
from ..analysis.modules import module_tail
from ..analysis.source import TraceSource, resolve, source_name
from ..analysis.timeline import gpu_busy
from ..analysis.trace import Trace, load_trace
from ..errors import BambaprofError
from ..run import Manifest, Spread, read_telemetry
from ..run.manifest import RUN_SETTINGS, SOFTWARE_STACK
from .figure import figure, packed_figure, plotly_js
from .group_charts import (
    across_runs,
    bandwidth_chart,
    diff_chart,
    kernel_breakdown,
    module_breakdown,
    occupancy_chart,
    phase_breakdown,
    roofline_chart,
    ssd_breakdown,
    telemetry_chart,
)
from .run_charts import memory_timeline, run_roofline, step_timeline
from .summary import Group, Row, assign_baselines, comparison_pairs, group_key, group_title, run_label, what_was_compared
from .tables import format_cell, kernel_label, shorten
from .text import COPY_ROWS

TEMPLATES = Path(__file__).parent / "templates"
#: Time bins of each run's GPU busy fraction (the telemetry chart's busy area).
TIME_BINS = 400
#: Rows of each run's (collapsed) top-kernels table.
TOP_KERNEL_ROWS = 15
#: Findings per run in the report's first table (the most GPU time at stake first).
TOP_FINDINGS = 3
#: Steps per run in its (collapsed) steps table: beyond it, the longest this many, in order.
STEP_ROWS = 40
#: The configuration fields a run's card shows.
CARD_CONFIG_FIELDS = ("preset", "layers", "variant", "compile", "workload", "batch", "seq_len", "new_tokens",
                      "use_cache", "dtype")



class ReportRun:
    """One input: its analysis, manifest, trace aggregates and telemetry."""

    def __init__(self, path: Union[str, Path, TraceSource], peak_gbps: Optional[float],
                 ncu_csv: Optional[Union[str, Path]] = None) -> None:
        source = path if isinstance(path, TraceSource) else resolve(path)
        self.trace: Trace = load_trace(source)
        self.analysis: Analysis = analyze(self.trace, peak_gbps=peak_gbps, ncu_csv=ncu_csv)
        #: Nsight Compute's matched kernels (``--ncu``), and which of its optional figures any of them has.
        self.ncu = [r for r in self.analysis.ncu or [] if r.get("matched")]
        self.ncu_units = any(r.get("ncu_busiest") for r in self.ncu)
        self.ncu_stalls = any(r.get("ncu_cycles_per_issue") is not None for r in self.ncu)
        self.run_dir = source.run_dir
        self.trace_path, self.process = source.trace_path, source.process
        self.manifest: Optional[Manifest] = self.analysis.manifest
        self.telemetry = read_telemetry(source.run_dir, self.manifest) if source.run_dir else None
        tel = self.analysis.telemetry or {}
        #: Nsight Systems' sampled GPU metrics over the GPU window (an export's, in place of NVML telemetry).
        self.sampled_metrics = tel if tel and all(k.startswith("nsys.") for k in tel) else None
        steps = self.analysis.steps
        #: The steps the report lists: all of them, or the :data:`STEP_ROWS` longest (in order) of a long trace.
        self.step_rows = steps if len(steps) <= STEP_ROWS else sorted(
            sorted(steps, key=lambda r: -r["dur_us"])[:STEP_ROWS], key=lambda r: r["start_us"])
        #: Whether kernels carry GPU-metric samples (``sampled_*`` columns).
        self.sampled_kernels = any(k.get("sampled_dram_pct") is not None for k in self.analysis.kernels)
        self.label = self.manifest.name if self.manifest is not None else source_name(source)
        self.short = run_label(self.manifest, self.label)  # what varies inside its group
        self.device = (self.manifest.device_name if self.manifest is not None else None) or \
            self.analysis.summary.get("devices") or ("CPU" if self.analysis.summary.get("platform") == "cpu" else None)
        self.key = group_key(self.manifest, self.device)
        self.group_title = group_title(self.key)
        self.busy = self._busy_bins()
        self.timeline = step_timeline(self.trace)
        self.memory = memory_timeline(self.trace, self.analysis.memory)
        self.roofline = run_roofline(self.analysis)
        del self.trace  # only aggregates leave this object

    def _busy_bins(self) -> Optional[Dict[str, List[float]]]:
        gpu = self.trace.gpu
        t0, t1 = self.trace.span_us
        if len(gpu) == 0 or not (t1 > t0):
            return None
        ms, me = gpu_busy(self.trace)  # the analysis of this trace merged them already
        edges = np.linspace(t0, t1, TIME_BINS + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        overlap = np.clip(np.minimum(hi, me[None, :]) - np.maximum(lo, ms[None, :]), 0, None).sum(axis=1)
        return {"t_ms": ((edges[:-1] + edges[1:]) / 2 - t0).tolist(), "busy_pct": (100 * overlap / (hi - lo)[:, 0]).tolist(),
                "t0": t0, "span_us": t1 - t0}

    def card(self) -> Dict[str, Any]:
        m = self.manifest
        s = self.analysis.summary
        v = m.versions if m is not None else None
        c = m.config if m is not None else None
        return {
            "label": self.label, "status": m.status if m is not None else "trace",
            "error": m.error if m is not None else None,
            "device": self.device,
            "driver": v.driver if v is not None else None,
            "link": _link_line(m.device) if m is not None else None,
            "versions": ", ".join(f"{k.replace('_', ' ')} {getattr(v, k)}"
                                  for k in (*SOFTWARE_STACK, "bambaprof", *RUN_SETTINGS)  # the driver: its own line
                                  if v is not None and getattr(v, k)),
            "config": ", ".join(f"{k}={getattr(c, k)}" for k in CARD_CONFIG_FIELDS) if c is not None else
                      (f"recorded: {m.name}" if m is not None else ""),
            "host": _host_line(m.host) if m is not None and m.host is not None else None,
            "allocator": _allocator_line(m.memory) if m is not None and m.memory is not None else None,
            "trace": s.get("trace"), "kernels": s.get("kernel_count"), "busy_pct": s.get("gpu_busy_pct"),
            "created": m.created if m is not None else None,
            "floor": (f"roofline: {s['floor_judged_us'] / 1e3:.3f} ms of kernels against a floor of "
                      f"{s['floor_us'] / 1e3:.3f} ms ({s['above_floor_x']:.1f}x; {s['floor_coverage_pct']:.0f}% of "
                      "kernel time judged)") if s.get("floor_us") and s.get("above_floor_x") else None,
        }


    def row(self, index: int) -> Row:
        """This run's line on the first screen (baseline and speed-up are set per group)."""
        m, s = self.manifest, self.analysis.summary
        c = m.config if m is not None else None
        on_host = s.get("platform") == "cpu"  # a CPU-only profile: its allocator peak is the CPU's
        gpu_peak = (m.memory.peak_allocated_bytes if m is not None else None) or s.get("peak_allocated_bytes")
        host_peak = s.get("peak_cpu_allocated_bytes") if on_host and not gpu_peak else None
        lat = m.timings.latency_ms if m is not None and m.timings is not None else Spread()
        return Row(label=self.label, name=self.short, variant=c.variant if c is not None else None,
                   compile=c.compile if c is not None else None, status=m.status if m is not None else "ok",
                   latency_ms=lat.median, latency_p10_ms=lat.p10, latency_p90_ms=lat.p90,
                   throughput=m.throughput_tokens_per_s if m is not None else None,
                   step_ms=s["step_us"] / 1e3 if s.get("step_us") is not None else None,
                   peak_bytes=gpu_peak or host_peak, peak_on_host=bool(host_peak), peak_where=_peak_where(s),
                   gpu_busy_pct=s.get("gpu_busy_pct"), on_gpu=not on_host,
                   above_floor_x=s.get("above_floor_x"), decode_floor_x=s.get("decode_floor_x"),
                   finding=self.analysis.findings[0] if self.analysis.findings else None, index=index)


def _link_line(device: Any) -> Optional[str]:
    """The device's PCIe link as NVML recorded it (``PCIe 5.0 x16, 63.0 GB/s each way``); None where the run did
    not record one."""
    nvml = device.nvml if device is not None else None
    if nvml is None or not nvml.pcie_gbps or not nvml.pcie_link:
        return None
    return f"{nvml.pcie_link}, {nvml.pcie_gbps:.1f} GB/s each way"


def _peak_where(summary: Dict[str, Any]) -> Optional[str]:
    """Where the trace's allocated peak was reached, in a few words: its profiler range path, else its
    nn.Module path (the last two classes), else the op; ``None`` when the trace does not say."""
    phase, module, op = (summary.get(f"peak_allocated_{k}") for k in ("phase", "module", "op"))
    if phase and not phase.startswith("("):
        return phase
    return module_tail(module) or op or None


def _host_line(host: Any) -> str:
    """The host's CPU and how fast it ran Python around the measured steps (the probe loop, ms)."""
    cpu = ", ".join(x for x in (host.cpu_model, f"{host.logical_cpus} CPUs" if host.logical_cpus else None) if x)
    ends = [f"{v / 1e3:.2f}" for v in (host.probe_before_us, host.probe_after_us) if v]
    probe = f"Python probe {' -> '.join(ends)} ms" if ends else None
    return "host: " + "; ".join(x for x in (cpu, probe) if x)


def _allocator_line(memory: Any) -> Optional[str]:
    """What the caching allocator asked of the driver during the measured iterations, where the run counted it."""
    counts = (memory.device_allocs_measured, memory.device_frees_measured, memory.alloc_retries_measured)
    if any(c is None for c in counts):
        return None
    allocs, frees, retries = counts
    return (f"allocator's driver calls while measured: {allocs} allocations, {frees} frees, {retries} retries"
            + (" (a steady state makes none)" if any(counts) else ""))


def _groups(runs: List[ReportRun]) -> List[Group]:
    """The runs grouped by workload and shape, in order of first appearance, with baselines assigned."""
    groups: Dict[Any, Group] = {}
    for i, r in enumerate(runs):
        groups.setdefault(r.key, Group(group_title(r.key))).rows.append(r.row(i))
    for g in groups.values():
        assign_baselines(g.rows)
    return list(groups.values())



def _accuracy(runs: List[ReportRun]) -> List[Dict[str, Any]]:
    rows = []
    for r in runs:
        for row in r.manifest.accuracy if r.manifest is not None else []:
            rows.append({"run": r.label, **row.to_dict()})
    return rows


def _comparison(runs: List[ReportRun], pairs: List[Any]) -> List[Dict[str, Any]]:
    """Each run against its matched baseline (:mod:`~bambaprof.render.summary`), from the analyses already made
    (no trace is re-read)."""
    from ..analysis.compare import Side, compare_sides

    def side(label: str, run: ReportRun) -> Side:
        return Side(label, [str(run.run_dir or run.analysis.summary["trace"])], [run.analysis], [run.manifest])

    out = []
    for b, c in pairs:
        base, other = runs[b], runs[c]
        comp = compare_sides(side("baseline", base), side("candidate", other))
        out.append({"baseline": base.label, "candidate": other.label, "summary": comp.summary,
                    "kernels": comp.kernels[:15]})
    return out



def _shown(value: Any) -> Any:
    """What a template writes for ``value``: text with its control characters as escapes
    (:func:`~bambaprof._untrusted.printable`: a NUL or a bidirectional override from a kernel or file name),
    before Jinja escapes it; markup the code made (``Markup``) as it is."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return printable(value)
    return value


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             undefined=jinja2.StrictUndefined, finalize=_shown)

    def num(v: Any, digits: int = 3) -> str:
        """A number as the tables write it (:func:`~bambaprof.render.tables.number`); other values as text."""
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return "" if v is None else str(v)
        return format_cell(v, "num")

    def count(v: Any) -> str:
        """A count: an integer where it is one (a per-step median may be a half)."""
        return format_cell(v, "count") if isinstance(v, (int, float)) and not isinstance(v, bool) else ""

    def duration(us: Any) -> str:
        """A time given in us, written in us below a millisecond and in ms above (``13.8 us``, ``1.068 ms``)."""
        if not isinstance(us, (int, float)) or isinstance(us, bool):
            return ""
        return f"{format_cell(us, 'num')} us" if abs(us) < 1000 else f"{format_cell(us / 1000, 'num')} ms"

    env.filters["num"] = num
    env.filters["bytes"] = lambda v: format_cell(v, "bytes")
    env.filters["duration"] = duration
    env.filters["count"] = count
    env.filters["short"] = shorten
    env.filters["kernel"] = kernel_label
    return env



def build_report(inputs: Sequence[Union[str, Path, TraceSource]], title: Optional[str] = None,
                 peak_gbps: Optional[float] = None, optional: Collection[Path] = (),
                 ncu_csv: Optional[Union[str, Path]] = None) -> str:
    """The report page (HTML text) for run directories or traces. An input in ``optional`` (a trace that stands
    for a folder of ranks, :func:`~bambaprof.analysis.fleet.expand_inputs`) that cannot be read is left out with a
    note, and listed in its job's rank table; any other failure is the report's. ``ncu_csv``: Nsight Compute's
    figures for the inputs' workload (one input), beside its kernels."""
    runs: List[ReportRun] = []
    left_out: List[Tuple[Path, str]] = []
    for p in inputs:
        try:
            runs.append(ReportRun(p, peak_gbps, ncu_csv))
        except BambaprofError as exc:
            if not isinstance(p, Path) or p not in optional:
                raise
            left_out.append((p, unreadable(p, exc)))
    if not runs:
        raise none_read("input", left_out)
    figures: List[Dict[str, Any]] = []

    def add(section: str, title_: str, fig: Optional[Dict[str, Any]]) -> None:
        if fig is not None:
            figures.append({"id": f"fig{len(figures)}", "section": section, "title": title_, "packed": packed_figure(fig)})

    groups = _groups(runs)
    for g in groups:
        members = [runs[row.index] for row in g.rows]
        for item in across_runs(members, g):
            add("runs", item["title"], item["figure"])
        add("phases", f"{g.title}: GPU time per phase (innermost profiler range, layers summed)",
            phase_breakdown(members))
        add("phases", f"{g.title}: GPU time per module (innermost nn.Module call, instance numbers folded)",
            module_breakdown(members))
        add("phases", f"{g.title}: GPU time per SSD step (kernels recognised by name)", ssd_breakdown(members))
        add("kernels", f"{g.title}: GPU time per kernel (top kernels)", kernel_breakdown(members))
        add("bandwidth", f"{g.title}: achieved bandwidth per kernel against peak", bandwidth_chart(members))
        add("bandwidth", f"{g.title}: roofline, achieved TFLOP/s against arithmetic intensity (kernels with known "
            "FLOPs)", roofline_chart(members))
        add("occupancy", f"{g.title}: occupancy against share of GPU time", occupancy_chart(members))
    for r in runs:
        name = f"{r.short}, {r.group_title}"
        add("roofline", f"Roofline: {name}", figure(**r.roofline) if r.roofline else None)
        add("timeline", f"One profiled step: {name}", figure(**r.timeline) if r.timeline else None)
        add("memory", f"Allocator memory: {name}", figure(**r.memory) if r.memory else None)
        add("telemetry", f"NVML telemetry and GPU busy time: {name}", telemetry_chart(r))
    page = _environment().get_template("report.html.j2").render(
        title=title or f"bambaprof report: {len(runs)} run(s)",
        generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, cards=[r.card() for r in runs], runs=runs, figures=figures, groups=groups,
        compared=what_was_compared([r.manifest for r in runs], [r.device for r in runs], groups),
        accuracy=_accuracy(runs), comparisons=_comparison(runs, comparison_pairs(groups)), plotly_js=plotly_js(),
        top_findings=TOP_FINDINGS, top_kernel_rows=TOP_KERNEL_ROWS, copy_rows=COPY_ROWS,
        notes=[f"{p.name} left out ({why})" for p, why in left_out] + run_notes(runs),
        jobs=jobs_of(runs, left_out), slowest_rank_pct=SLOWEST_RANK_PCT,
    )
    return page


def jobs_of(runs: Sequence[Any], left_out: Sequence[Tuple[Path, str]] = ()) -> List[Dict[str, Any]]:
    """The report's runs that are ranks of one distributed job, side by side (:func:`fleet_of`): the processes
    of one Nsight Systems export, or the traces of one folder that name at least two ranks (``distributedInfo``;
    a rank's several traces are its profiling cycles, and the cycles of one rank alone are not a job). Each job:
    ``title`` (the export's or folder's name), ``fleet`` and ``ranks`` (its rows as the template shows them).
    ``left_out``: traces of such folders that could not be read, and why: each is a row with its error, numbered
    after the ranks (as ``analyze`` numbers a trace that names none)."""
    keyed: Dict[tuple, List[int]] = {}
    for i, r in enumerate(runs):
        rank = r.analysis.summary.get("rank")
        if r.manifest is not None:
            continue
        if r.process is not None:
            keyed.setdefault(("export", str(r.trace_path)), []).append(i)
        elif rank is not None and rank >= 0:
            keyed.setdefault(("folder", str(r.trace_path.parent)), []).append(i)
    unread: Dict[str, List[Tuple[Path, str]]] = {}
    for path, why in left_out:
        unread.setdefault(str(path.parent), []).append((path, why))
    jobs = []
    for (kind, where), members in keyed.items():
        ranks = {runs[i].analysis.summary.get("rank") for i in members}
        failed = unread.get(where, []) if kind == "folder" else []
        if len(members) + len(failed) < 2 or (kind == "folder" and len(ranks) < 2 and len(members) > 1):
            continue  # one trace, or the cycles of one rank: no job
        rows = [rank_row(runs[i].analysis, runs[i].label, runs[i].process) for i in members]
        rows += [{"file": path.name, "pid": None, "rank": None, "error": why} for path, why in failed]
        fleet = fleet_of(rows)
        jobs.append({"title": Path(where).name, "fleet": fleet, "ranks": fleet.to_dict()["ranks"]})
    return jobs


#: Runs named after a note that not every run of the report shares, before "and N more".
NOTE_RUNS = 4


def run_notes(runs: Sequence[Any]) -> List[str]:
    """The runs' analysis notes, each once, sorted; where the report has several runs, a note that not all of
    them share names the runs it is about (``note (a.json, b.json)``; after :data:`NOTE_RUNS`, how many more)."""
    labels: Dict[str, List[str]] = {}
    for r in runs:
        for note in dict.fromkeys(r.analysis.notes):
            labels.setdefault(note, []).append(r.label)
    out = []
    for note, who in sorted(labels.items()):
        if len(runs) > 1 and len(who) < len(runs):
            more = f" and {len(who) - NOTE_RUNS} more" if len(who) > NOTE_RUNS else ""
            note = f"{note} ({', '.join(who[:NOTE_RUNS])}{more})"
        out.append(note)
    return out



def render_comparison_page(comp, gate: Optional[Dict[str, Any]] = None) -> str:
    """A self-contained page for ``bambaprof compare --format html``: the regression gate's verdict at the top
    (``gate``: ``{"failed": bool, "text": str}``, when a gate was asked for), the summary with noise
    intervals, diff charts per phase and per kernel, and the tables."""
    figures: List[Dict[str, Any]] = []
    for title, fig in (("Where the GPU time changed: phases", diff_chart(comp.phases, "phase", "phase")),
                       ("Where the GPU time changed: modules", diff_chart(comp.modules, "module", "module")),
                       ("Where the GPU time changed: kernels", diff_chart(comp.kernels, "name", "kernel"))):
        if fig is not None:
            figures.append({"id": f"fig{len(figures)}", "title": title, "packed": packed_figure(fig)})
    return _environment().get_template("compare.html.j2").render(
        comp=comp, generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, figures=figures, gate=gate, plotly_js=plotly_js() if figures else "")


def report_size_ok(text: str, limit_bytes: int = 10_000_000) -> bool:
    return len(text.encode("utf-8")) <= limit_bytes


