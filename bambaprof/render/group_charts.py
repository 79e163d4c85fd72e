"""The report's charts of a group of runs (one workload and shape; see :mod:`bambaprof.render.summary`) and the
compare page's diff chart. Each returns a figure (:func:`~bambaprof.render.figure.figure`) or ``None`` when
its inputs hold nothing to show. ``runs`` are the report's inputs (:class:`bambaprof.render.html.ReportRun`):
their analysis, manifest, telemetry and busy-time bins.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..run import Spread
from .figure import OTHER_COLOUR, esc, figure
from .summary import Group
from .tables import kernel_label, shorten

#: Kernels per group in the kernel chart (the rest is "other").
TOP_KERNELS = 10
#: Phases per group in the phase chart (the rest is "other").
TOP_PHASES = 12
#: Kernels per run in a scatter plot (the longest): the page stays small for any trace.
MAX_POINTS = 100


def across_runs(runs: Sequence[Any], group: Group) -> List[Dict[str, Any]]:
    """Speed-up against the matched baseline (log axis), latency, throughput, memory and energy of the runs of
    one group (one workload and shape), a bar each, labelled by what varies (variant and compile mode)."""
    prefix = group.title
    labels = [esc(r.short) for r in runs]
    figs = []
    compared = [row for row in group.rows if row.speedup is not None and row.baseline != "itself"]
    if compared:
        figs.append((f"{prefix}: speed-up against the baseline (its median latency over the run's; log axis)", figure([{
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
        figs.append((f"{prefix}: latency (median, p10-p90), ms", figure([{
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
            figs.append((f"{prefix}: {title}, {unit}", figure([{"type": "bar", "x": labels, "y": values, "name": key}],
                                                            {"xaxis": {"title": "variant · compile mode"},
                                                             "yaxis": {"title": f"{title}, {unit}"}})))
    return [{"title": t, "figure": f} for t, f in figs]


def kernel_breakdown(runs: Sequence[Any]) -> Dict[str, Any]:
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
    return figure(data, {"barmode": "stack", "xaxis": {"title": "variant · compile mode"},
                       "yaxis": {"title": "GPU time, ms"}, "legend": {"font": {"size": 9}}, "height": 520})


def phase_breakdown(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
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
    return figure(data, {"barmode": "stack", "xaxis": {"title": "variant · compile mode"},
                       "yaxis": {"title": "GPU time, ms"}, "legend": {"font": {"size": 9}}, "height": 480})


def bandwidth_chart(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
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
    return figure(data, layout)


def roofline_chart(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
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
    return figure(data, {"xaxis": {"title": "arithmetic intensity, FLOP/byte", "type": "log"},
                       "yaxis": {"title": "achieved TFLOP/s", "type": "log"}, "height": 460})


def occupancy_chart(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
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
    return figure(data, {"xaxis": {"title": "share of GPU time, % (log)", "type": "log"},
                       "yaxis": {"title": "occupancy, %", "range": [0, 105]}, "height": 460})


def telemetry_chart(run: Any) -> Optional[Dict[str, Any]]:
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
    return figure(data, {"xaxis": {"title": "ms from the start of the profiled window"},
                       "yaxis": {"title": "%", "range": [0, 105]},
                       "yaxis2": {"title": "W", "overlaying": "y", "side": "right"},
                       "yaxis3": {"title": "MHz", "overlaying": "y", "side": "right", "position": 0.94,
                                  "anchor": "free", "showgrid": False},
                       "height": 420, "legend": {"orientation": "h"}})



#: Kernels and phases in the compare page's diff charts (the largest changes).
DIFF_ROWS = 20


def diff_chart(rows: List[Dict[str, Any]], label_key: str, what: str) -> Optional[Dict[str, Any]]:
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
    return figure([bar], {"xaxis": {"title": f"candidate - baseline, us per step ({what})"},
                        "yaxis": {"title": what}, "height": 160 + 22 * len(rows), "margin": {"l": 20}})

