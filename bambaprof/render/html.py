"""Self-contained HTML reports: one file, plotly.js inlined once, no network, built from aggregates.

:func:`build_report` turns run directories or traces into a page with summary
cards, latency / throughput / memory / energy across runs, kernel time
breakdowns, achieved bandwidth against the roofline and peak bandwidth,
occupancy against kernel time, NVML telemetry over time beside GPU busy time,
the accuracy table when runs carry one, and a comparison section for two or
more runs. Everything untrusted (kernel names, paths, prompts) is escaped:
by Jinja2's autoescaping in the page, and before it reaches plotly (whose
labels accept some HTML). Figures travel as JSON with ``<`` escaped,
gzip-compressed and base64-encoded (:func:`packed_figure`) in ``<script
type="application/gzip+base64">`` blocks, so no text can close the block.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import html
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .._json import json_safe
from .._version import __version__
from ..analysis.analysis import Analysis, analyze
from ..analysis.source import resolve
from ..analysis.timeline import union_length
from ..analysis.trace import Trace, load_trace
from ..run import Manifest, Spread, read_telemetry
from .run_charts import memory_timeline, run_roofline, step_timeline
from .summary import Group, Row, assign_baselines, comparison_pairs, group_key, group_title, run_label, what_was_compared
from .tables import format_cell, kernel_label, shorten

TEMPLATES = Path(__file__).parent / "templates"
TOP_KERNELS = 10
#: Phases per group in the phase chart (the rest is "other").
TOP_PHASES = 12
TIME_BINS = 400
MAX_POINTS = 100  # kernels per run in a scatter plot (the longest): the page stays small for any trace
#: Rows of each run's (collapsed) top-kernels table.
TOP_KERNEL_ROWS = 15
#: Findings per run in the report's first table (the most GPU time at stake first).
TOP_FINDINGS = 3
#: The configuration fields a run's card shows.
CARD_CONFIG_FIELDS = ("preset", "layers", "variant", "compile", "workload", "batch", "seq_len", "new_tokens",
                      "use_cache", "dtype")


def esc(text: Any) -> str:
    """Text for plotly labels: HTML-escaped (plotly renders a subset of HTML in labels)."""
    return html.escape("" if text is None else str(text), quote=True)


class _Run:
    """One input: its analysis, manifest, trace aggregates and telemetry."""

    def __init__(self, path: Union[str, Path], peak_gbps: Optional[float]) -> None:
        source = resolve(path)
        self.trace: Trace = load_trace(source)
        self.analysis: Analysis = analyze(self.trace, peak_gbps=peak_gbps)
        self.run_dir = source.run_dir
        self.manifest: Optional[Manifest] = self.analysis.manifest
        self.telemetry = read_telemetry(source.run_dir, self.manifest) if source.run_dir else None
        self.label = self.manifest.name if self.manifest is not None else Path(path).name
        self.short = run_label(self.manifest, self.label)  # what varies inside its group
        self.device = (self.manifest.device_name if self.manifest is not None else None) or \
            self.analysis.summary.get("devices")
        self.key = group_key(self.manifest, self.device)
        self.group_title = group_title(self.key)
        self.busy = self._busy_bins()
        self.timeline = step_timeline(self.trace)
        self.memory = memory_timeline(self.trace)
        self.roofline = run_roofline(self.analysis)
        del self.trace  # only aggregates leave this object

    def _busy_bins(self) -> Optional[Dict[str, List[float]]]:
        gpu = self.trace.gpu
        t0, t1 = self.trace.span_us
        if len(gpu) == 0 or not (t1 > t0):
            return None
        _, ms, me = union_length(gpu.ts, gpu.ts + gpu.dur)
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
            "device": (m.device_name if m is not None else None) or s.get("devices"),
            "driver": v.driver if v is not None else None,
            "versions": ", ".join(f"{k} {getattr(v, k)}" for k in ("torch", "cuda", "triton", "bambaprof")
                                  if v is not None and getattr(v, k)),
            "config": ", ".join(f"{k}={getattr(c, k)}" for k in CARD_CONFIG_FIELDS) if c is not None else
                      (f"recorded: {m.name}" if m is not None else ""),
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
        lat = m.timings.latency_ms if m is not None and m.timings is not None else Spread()
        return Row(label=self.label, name=self.short, variant=c.variant if c is not None else None,
                   compile=c.compile if c is not None else None, status=m.status if m is not None else "ok",
                   latency_ms=lat.median, latency_p10_ms=lat.p10, latency_p90_ms=lat.p90,
                   throughput=m.throughput_tokens_per_s if m is not None else None,
                   peak_bytes=m.memory.peak_allocated_bytes if m is not None else None,
                   gpu_busy_pct=s.get("gpu_busy_pct"), above_floor_x=s.get("above_floor_x"),
                   finding=self.analysis.findings[0] if self.analysis.findings else None, index=index)


def _groups(runs: List[_Run]) -> List[Group]:
    """The runs grouped by workload and shape, in order of first appearance, with baselines assigned."""
    groups: Dict[Any, Group] = {}
    for i, r in enumerate(runs):
        groups.setdefault(r.key, Group(group_title(r.key))).rows.append(r.row(i))
    for g in groups.values():
        assign_baselines(g.rows)
    return list(groups.values())


#: Stacked bars' colours: as many as the most series a chart stacks (TOP_PHASES), none of them grey.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#393b79", "#e7969c", "#637939", "#843c39", "#6b6ecf")
#: The colour of the "other" bars: grey, so that no kernel shares it.
OTHER_COLOUR = "#b0b0b0"


def _fig(data: List[Dict[str, Any]], layout: Dict[str, Any]) -> Dict[str, Any]:
    """A plotly figure; every axis title in the object form (``{"text": ...}``): current plotly.js ignores the
    old string shorthand, and the axes rendered without titles."""
    base: Dict[str, Any] = {"margin": {"l": 60, "r": 20, "t": 40, "b": 60}, "template": None, "hovermode": "closest",
                            "colorway": list(COLOURS)}
    base.update(layout)
    for key, axis in base.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            if isinstance(axis.get("title"), str):
                axis["title"] = {"text": axis["title"]}
            axis.setdefault("automargin", True)  # room for long tick labels and the title, never overlapping
    return {"data": data, "layout": base}


def _across_runs(runs: List[_Run], group: Group) -> List[Dict[str, Any]]:
    """Speed-up against the matched baseline (log axis), latency, throughput, memory and energy of the runs of
    one group (one workload and shape), a bar each, labelled by what varies (variant and compile mode)."""
    prefix = group.title
    labels = [esc(r.short) for r in runs]
    figs = []
    compared = [row for row in group.rows if row.speedup is not None and row.baseline != "itself"]
    if compared:
        figs.append((f"{prefix}: speed-up against the baseline (its median latency over the run's; log axis)", _fig([{
            # bars grow from 1 (no change), up when faster, down when slower: y is the length from that base
            "type": "bar", "x": [esc(row.name) for row in compared], "base": 1,
            "y": [row.speedup - 1 for row in compared],
            "name": "speed-up", "text": [f"{row.speedup:.2f}x vs {esc(row.baseline_name)}" for row in compared],
            "hoverinfo": "text", "marker": {"color": ["#1a7f37" if row.speedup >= 1 else "#b03a2e" for row in compared]},
        }], {"xaxis": {"title": "variant · compile mode"}, "yaxis": {"title": "speed-up, x (log)", "type": "log"},
             "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                         "line": {"color": "#555555", "dash": "dot"}}]})))
    lat = [r.manifest.timings.latency_ms if r.manifest is not None and r.manifest.timings is not None else Spread()
           for r in runs]

    def gap(hi: Optional[float], lo: Optional[float]) -> float:
        return hi - lo if hi is not None and lo is not None else 0

    if any(x.median is not None for x in lat):
        figs.append((f"{prefix}: latency (median, p10-p90), ms", _fig([{
            "type": "bar", "x": labels, "y": [x.median for x in lat], "name": "median",
            "error_y": {"type": "data", "symmetric": False,
                        "array": [gap(x.p90, x.median) for x in lat],
                        "arrayminus": [gap(x.median, x.p10) for x in lat]},
        }], {"xaxis": {"title": "variant · compile mode"}, "yaxis": {"title": "latency, ms"}})))
    for key, title, unit, get in (
        ("throughput", "throughput", "tokens/s", lambda m: m.throughput_tokens_per_s),
        ("memory", "peak memory allocated", "GB",
         lambda m: m.memory.peak_allocated_bytes / 1e9 if m.memory.peak_allocated_bytes else None),
        ("energy", "energy per token", "J", lambda m: m.joules_per_token),
    ):
        values = [get(r.manifest) if r.manifest is not None else None for r in runs]
        if any(v is not None for v in values):
            figs.append((f"{prefix}: {title}, {unit}", _fig([{"type": "bar", "x": labels, "y": values, "name": key}],
                                                            {"xaxis": {"title": "variant · compile mode"},
                                                             "yaxis": {"title": f"{title}, {unit}"}})))
    return [{"title": t, "figure": f} for t, f in figs]


def _kernel_breakdown(runs: List[_Run]) -> Dict[str, Any]:
    """GPU time of the group's top kernels per run, stacked, the rest as a hatched grey "other"."""
    totals: Dict[str, float] = {}
    for r in runs:
        for k in r.analysis.kernels:
            totals[k["name"]] = totals.get(k["name"], 0.0) + k["total_us"]
    top = [n for n, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_KERNELS]]
    labels = [esc(r.short) for r in runs]
    data = []
    for name in top:
        data.append({"type": "bar", "name": esc(kernel_label(name, 60)), "x": labels, "hovertext": esc(name),
                     "y": [next((k["total_us"] / 1e3 for k in r.analysis.kernels if k["name"] == name), 0.0)
                           for r in runs]})
    data.append({"type": "bar", "name": "other", "x": labels, "marker": {"color": OTHER_COLOUR, "pattern": {"shape": "/"}},
                 "y": [sum(k["total_us"] for k in r.analysis.kernels if k["name"] not in top) / 1e3 for r in runs]})
    return _fig(data, {"barmode": "stack", "xaxis": {"title": "variant · compile mode"},
                       "yaxis": {"title": "GPU time, ms"}, "legend": {"font": {"size": 9}}, "height": 520})


def _phase_breakdown(runs: List[_Run]) -> Optional[Dict[str, Any]]:
    """GPU time per phase (the innermost profiler range of each kernel, layers folded: ``phase_kinds``) per
    run, stacked; the group's top phases by name, the rest as "other". Each bar sums to the run's phase
    table."""
    totals: Dict[str, float] = {}
    for r in runs:
        for p in r.analysis.phase_kinds:
            totals[p["phase"]] = totals.get(p["phase"], 0.0) + p["gpu_us"]
    if not totals:
        return None
    top = [n for n, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_PHASES]]
    labels = [esc(r.short) for r in runs]
    data = [{"type": "bar", "name": esc(shorten(name, 60)), "x": labels, "hovertext": esc(name),
             "y": [sum(p["gpu_us"] for p in r.analysis.phase_kinds if p["phase"] == name) / 1e3 for r in runs]}
            for name in top]
    rest = [sum(p["gpu_us"] for p in r.analysis.phase_kinds if p["phase"] not in top) / 1e3 for r in runs]
    if any(rest):
        data.append({"type": "bar", "name": "other", "x": labels, "y": rest,
                     "marker": {"color": OTHER_COLOUR, "pattern": {"shape": "/"}}})
    return _fig(data, {"barmode": "stack", "xaxis": {"title": "variant · compile mode"},
                       "yaxis": {"title": "GPU time, ms"}, "legend": {"font": {"size": 9}}, "height": 480})


def _roofline(runs: List[_Run]) -> Optional[Dict[str, Any]]:
    data = []
    peak = None
    for r in runs:
        rows = [k for k in r.analysis.kernels if k.get("achieved_gbps")][:MAX_POINTS]
        if not rows:
            continue
        peak = peak or rows[0].get("peak_gbps")
        data.append({
            "type": "scatter", "mode": "markers", "name": esc(r.short),
            "x": [k["total_us"] / 1e3 for k in rows], "y": [k["achieved_gbps"] for k in rows],
            "text": [esc(f"{kernel_label(k['name'], 60)} | {k['bytes_source']} | "
                         f"{'%.1f' % k['pct_of_peak_bw'] if k.get('pct_of_peak_bw') is not None else '?'}% of peak")
                     for k in rows],
            "hoverinfo": "text+x+y", "marker": {"size": 8, "opacity": 0.75},
        })
    if not data:
        return None
    layout: Dict[str, Any] = {"xaxis": {"title": "kernel time, ms (log)", "type": "log"},
                              "yaxis": {"title": "achieved GB/s"}, "height": 460}
    if peak:
        layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": peak, "y1": peak,
                             "line": {"dash": "dash", "color": "#c0392b"}}]
        layout["annotations"] = [{"xref": "paper", "x": 1, "y": peak, "text": f"peak {peak:,.0f} GB/s",
                                  "showarrow": False, "yanchor": "bottom", "xanchor": "right"}]
    return _fig(data, layout)


def _intensity(runs: List[_Run]) -> Optional[Dict[str, Any]]:
    """The roofline: each kernel with known FLOPs at its arithmetic intensity and achieved TFLOP/s, under the
    device's bandwidth roof (GB/s x intensity) and one compute ceiling per dtype the kernels ran in (the peaks
    the analysis judged them by: measured, else datasheet)."""
    data: List[Dict[str, Any]] = []
    peak = None
    ceilings: Dict[str, float] = {}
    for r in runs:
        rows = [k for k in r.analysis.kernels
                if k.get("intensity_flop_per_byte") and k.get("achieved_tflops")][:MAX_POINTS]
        if not rows:
            continue
        peak = peak or next((k.get("peak_gbps") for k in r.analysis.kernels if k.get("peak_gbps")), None)
        for k in rows:
            if k.get("peak_tflops") and k.get("dtype"):
                ceilings.setdefault(k["dtype"], k["peak_tflops"])
        data.append({"type": "scatter", "mode": "markers", "name": esc(r.short),
                     "x": [k["intensity_flop_per_byte"] for k in rows], "y": [k["achieved_tflops"] for k in rows],
                     "text": [esc(kernel_label(k["name"], 60)) for k in rows], "hoverinfo": "text+x+y",
                     "marker": {"size": 9}})
    if not data:
        return None
    top = max(ceilings.values(), default=None)
    if peak:
        ridge = top * 1e3 / peak if top else 10000.0  # FLOP/byte where the bandwidth roof meets the top ceiling
        xs = [0.1, ridge]
        data.append({"type": "scatter", "mode": "lines", "name": f"bandwidth roof ({peak:,.0f} GB/s)",
                     "x": xs, "y": [x * peak / 1e3 for x in xs], "line": {"dash": "dash", "color": "#c0392b"}})
    for dtype, tflops in sorted(ceilings.items(), key=lambda kv: -kv[1]):
        start = tflops * 1e3 / peak if peak else 0.1
        data.append({"type": "scatter", "mode": "lines", "name": f"{dtype} compute ceiling ({tflops:,.0f} TFLOP/s)",
                     "x": [start, 10000.0], "y": [tflops, tflops], "line": {"dash": "dot", "color": "#555555"}})
    return _fig(data, {"xaxis": {"title": "arithmetic intensity, FLOP/byte", "type": "log"},
                       "yaxis": {"title": "achieved TFLOP/s", "type": "log"}, "height": 460})


def _occupancy(runs: List[_Run]) -> Optional[Dict[str, Any]]:
    data = []
    for r in runs:
        rows = [k for k in r.analysis.kernels
                if k["kind"] == "kernel" and k.get("theoretical_occupancy_pct") is not None][:MAX_POINTS]
        if not rows:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": f"{esc(r.short)}: theoretical",
                     "x": [k["share_pct"] for k in rows], "y": [k["theoretical_occupancy_pct"] for k in rows],
                     "text": [esc(f"{kernel_label(k['name'], 60)} | limiter: {k['limiter']} | waves {k['waves_per_sm']:.2f}")
                              for k in rows], "hoverinfo": "text+x+y", "marker": {"size": 9, "symbol": "circle"}})
        est = [k for k in rows if k.get("est_occupancy_pct") is not None]
        data.append({"type": "scatter", "mode": "markers", "name": f"{esc(r.short)}: Kineto estimate",
                     "x": [k["share_pct"] for k in est], "y": [k["est_occupancy_pct"] for k in est],
                     "text": [esc(kernel_label(k["name"], 60)) for k in est], "hoverinfo": "text+x+y",
                     "marker": {"size": 7, "symbol": "x"}})
    if not data:
        return None
    return _fig(data, {"xaxis": {"title": "share of GPU time, % (log)", "type": "log"},
                       "yaxis": {"title": "occupancy, %", "range": [0, 105]}, "height": 460})


def _telemetry(run: _Run) -> Optional[Dict[str, Any]]:
    tel = run.telemetry
    if not tel or not run.busy:
        return None
    t0 = run.busy["t0"]
    data = [{"type": "scatter", "mode": "lines", "name": "GPU busy, %", "x": [t / 1e3 for t in run.busy["t_ms"]],
             "y": run.busy["busy_pct"], "fill": "tozeroy", "line": {"width": 0.5}, "yaxis": "y"}]
    series = [("nvml", "power_w", "power, W", "y2"), ("nvml", "sm_clock_mhz", "SM clock, MHz", "y3"),
              ("gpm", "dram_bw_util_pct", "GPM DRAM bandwidth, %", "y"),
              ("gpm", "sm_occupancy_pct", "GPM SM occupancy, %", "y")]
    for group, key, name, axis in series:
        cols = tel.get(group)
        if not isinstance(cols, dict) or key not in cols:
            continue
        span = run.busy["span_us"]  # the profiled window only: samples from before it (compilation) mislead
        pts = [((t - t0) / 1e3, v) for t, v in zip(cols.get("t_us", []), cols[key])
               if isinstance(v, (int, float)) and isinstance(t, (int, float)) and 0 <= t - t0 <= span]
        if pts:
            data.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": [p[0] for p in pts],
                         "y": [p[1] for p in pts], "yaxis": axis, "marker": {"size": 4}})
    return _fig(data, {"xaxis": {"title": "ms from the start of the profiled window"},
                       "yaxis": {"title": "%", "range": [0, 105]},
                       "yaxis2": {"title": "W", "overlaying": "y", "side": "right"},
                       "yaxis3": {"title": "MHz", "overlaying": "y", "side": "right", "position": 0.94,
                                  "anchor": "free", "showgrid": False},
                       "height": 420, "legend": {"orientation": "h"}})


def _accuracy(runs: List[_Run]) -> List[Dict[str, Any]]:
    rows = []
    for r in runs:
        for row in r.manifest.accuracy if r.manifest is not None else []:
            rows.append({"run": r.label, **row.to_dict()})
    return rows


def _comparison(runs: List[_Run], pairs: List[Any]) -> List[Dict[str, Any]]:
    """Each run against its matched baseline (:mod:`~bambaprof.render.summary`), from the analyses already made
    (no trace is re-read)."""
    from ..analysis.compare import Side, compare_sides

    def side(label: str, run: _Run) -> Side:
        return Side(label, [str(run.run_dir or run.analysis.summary["trace"])], [run.analysis], [run.manifest])

    out = []
    for b, c in pairs:
        base, other = runs[b], runs[c]
        comp = compare_sides(side("baseline", base), side("candidate", other))
        out.append({"baseline": base.label, "candidate": other.label, "summary": comp.summary,
                    "kernels": comp.kernels[:15]})
    return out


#: Significant digits of the numbers in the figures' JSON: more than a chart or its hover can show.
FIGURE_DIGITS = 5


def _rounded(obj: Any) -> Any:
    """``obj`` with every float rounded to :data:`FIGURE_DIGITS` significant digits (the page's size)."""
    if isinstance(obj, float):
        return float(f"{obj:.{FIGURE_DIGITS}g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> block: '<', '>' and '&' are unicode-escaped; floats rounded (:func:`_rounded`)."""
    text = json.dumps(_rounded(json_safe(obj)), allow_nan=False, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def packed_figure(obj: Any) -> str:
    """A figure as the page carries it: its JSON (:func:`_script_json`) gzip-compressed and base64-encoded,
    which the page inflates with the browser's ``DecompressionStream``. Figures of repeated names and
    numbers shrink about fivefold; base64 holds no character that could end the script block."""
    return base64.b64encode(gzip.compress(_script_json(obj).encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def unpack_figure(text: str) -> Dict[str, Any]:
    """The figure dict of :func:`packed_figure`'s text (tests and tools reading a report)."""
    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             undefined=jinja2.StrictUndefined)

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
    env.filters["duration"] = duration
    env.filters["count"] = count
    env.filters["short"] = shorten
    env.filters["kernel"] = kernel_label
    return env


#: plotly.js's cartesian bundle (npm ``plotly.js-cartesian-dist-min``, MIT, its LICENSE beside it): the trace
#: types the report draws (bar, scatter) at 1.5 MB, against 4.8 MB for the full bundle with maps and 3D.
PLOTLY_BUNDLE = Path(__file__).parent / "static" / "plotly-cartesian.min.js"
#: The trace types the bundle holds that the report may use.
BUNDLED_TRACE_TYPES = frozenset({"bar", "scatter", "heatmap", "histogram", "box"})


def _plotly_js() -> str:
    return PLOTLY_BUNDLE.read_text(encoding="utf-8")


def build_report(inputs: Sequence[Union[str, Path]], title: Optional[str] = None,
                 peak_gbps: Optional[float] = None) -> str:
    """The report page (HTML text) for run directories or traces."""
    runs = [_Run(p, peak_gbps) for p in inputs]
    figures: List[Dict[str, Any]] = []

    def add(section: str, title_: str, fig: Optional[Dict[str, Any]]) -> None:
        if fig is not None:
            figures.append({"id": f"fig{len(figures)}", "section": section, "title": title_, "packed": packed_figure(fig)})

    groups = _groups(runs)
    for g in groups:
        members = [runs[row.index] for row in g.rows]
        for item in _across_runs(members, g):
            add("runs", item["title"], item["figure"])
        add("phases", f"{g.title}: GPU time per phase (innermost profiler range, layers summed)",
            _phase_breakdown(members))
        add("kernels", f"{g.title}: GPU time per kernel (top kernels)", _kernel_breakdown(members))
        add("bandwidth", f"{g.title}: achieved bandwidth per kernel against peak", _roofline(members))
        add("bandwidth", f"{g.title}: roofline, achieved TFLOP/s against arithmetic intensity (kernels with known "
            "FLOPs)", _intensity(members))
        add("occupancy", f"{g.title}: occupancy against share of GPU time", _occupancy(members))
    for r in runs:
        name = f"{r.short}, {r.group_title}"
        add("roofline", f"Roofline: {name}", _fig(**r.roofline) if r.roofline else None)
        add("timeline", f"One profiled step: {name}", _fig(**r.timeline) if r.timeline else None)
        add("memory", f"Allocator memory: {name}", _fig(**r.memory) if r.memory else None)
        add("telemetry", f"NVML telemetry and GPU busy time: {name}", _telemetry(r))
    page = _environment().get_template("report.html.j2").render(
        title=title or f"bambaprof report: {len(runs)} run(s)",
        generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, cards=[r.card() for r in runs], runs=runs, figures=figures, groups=groups,
        compared=what_was_compared([r.manifest for r in runs], [r.device for r in runs], groups),
        accuracy=_accuracy(runs), comparisons=_comparison(runs, comparison_pairs(groups)), plotly_js=_plotly_js(),
        top_findings=TOP_FINDINGS, top_kernel_rows=TOP_KERNEL_ROWS,
        notes=sorted({n for r in runs for n in r.analysis.notes}),
    )
    return page


#: Kernels and phases in the compare page's diff charts (the largest changes).
DIFF_ROWS = 20


def _diff_chart(rows: List[Dict[str, Any]], label_key: str, what: str) -> Optional[Dict[str, Any]]:
    """Candidate minus baseline GPU time per step (us) of the rows with the largest changes, largest at the
    top: red where the candidate is slower, green where faster, with the 95% interval (from the ratio's
    bootstrap interval, where both sides have repeats) as error bars."""
    rows = [r for r in rows if r.get("delta_us")][:DIFF_ROWS]
    if not rows:
        return None
    rows = rows[::-1]  # plotly draws the first category at the bottom
    labels = [esc(kernel_label(r[label_key], 70)) for r in rows]
    bar: Dict[str, Any] = {
        "type": "bar", "orientation": "h", "y": labels, "x": [r["delta_us"] for r in rows], "name": "delta",
        "marker": {"color": ["#b03a2e" if r["delta_us"] > 0 else "#1a7f37" for r in rows]},
        "hovertext": [esc(f"{r[label_key]} | {r['time_baseline_us']:.1f} -> {r['time_candidate_us']:.1f} us | "
                          f"{r['status']}") for r in rows], "hoverinfo": "text+x"}
    if any(r.get("ci_low") is not None for r in rows):
        hi = [(r["ci_high"] - 1) * r["time_baseline_us"] - r["delta_us"] if r.get("ci_high") is not None else 0
              for r in rows]
        lo = [r["delta_us"] - (r["ci_low"] - 1) * r["time_baseline_us"] if r.get("ci_low") is not None else 0
              for r in rows]
        bar["error_x"] = {"type": "data", "symmetric": False, "array": [max(v, 0) for v in hi],
                          "arrayminus": [max(v, 0) for v in lo]}
    return _fig([bar], {"xaxis": {"title": f"candidate - baseline, us per step ({what})"},
                        "yaxis": {"title": what}, "height": 160 + 22 * len(rows), "margin": {"l": 20}})


def render_comparison_page(comp, gate: Optional[Dict[str, Any]] = None) -> str:
    """A self-contained page for ``bambaprof compare --format html``: the regression gate's verdict at the top
    (``gate``: ``{"failed": bool, "text": str}``, when a gate was asked for), the summary with noise
    intervals, diff charts per phase and per kernel, and the tables."""
    figures: List[Dict[str, Any]] = []
    for title, fig in (("Where the GPU time changed: phases", _diff_chart(comp.phases, "phase", "phase")),
                       ("Where the GPU time changed: kernels", _diff_chart(comp.kernels, "name", "kernel"))):
        if fig is not None:
            figures.append({"id": f"fig{len(figures)}", "title": title, "packed": packed_figure(fig)})
    return _environment().get_template("compare.html.j2").render(
        comp=comp, generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, figures=figures, gate=gate, plotly_js=_plotly_js() if figures else "")


def report_size_ok(text: str, limit_bytes: int = 10_000_000) -> bool:
    return len(text.encode("utf-8")) <= limit_bytes


