"""The report's charts of a group of runs (one workload and shape; see :mod:`bambaprof.render.summary`) and the
compare page's diff chart. Each returns a figure (:func:`~bambaprof.render.figure.figure`) or ``None`` when
its inputs hold nothing to show. ``runs`` are the report's inputs (:class:`bambaprof.render.html.ReportRun`):
their analysis, manifest, telemetry and busy-time bins.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

from ..diagnose.rules import gpu_unrecorded
from ..run import Spread
from .figure import OTHER_COLOUR, ceilings_of, esc, figure, roofline_lines
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


def _stacked(runs: Sequence[Any], rows: Callable[[Any], List[Dict[str, Any]]], key: str, value: str, top_n: int,
             label: Callable[[str], str], other_always: bool, height: int,
             unknown: Callable[[Any], bool] = lambda r: False) -> Optional[Dict[str, Any]]:
    """Stacked GPU-time bars (ms), one per run: the group's ``top_n`` names by summed ``value`` (us) of each
    run's ``rows``, the rest a hatched grey "other" (always, or only where it is not zero). ``None`` where no run
    has GPU time in its rows, unless "other" is always drawn and some run is unknown. A run for which ``unknown`` holds has no bar
    and says so under its name."""
    totals: Dict[str, float] = {}
    for r in runs:
        for row in [] if unknown(r) else rows(r):
            totals[row[key]] = totals.get(row[key], 0.0) + row[value]
    if not any(totals.values()) and (not other_always or not any(unknown(r) for r in runs)):
        return None  # nothing to draw: no run has GPU time (a CPU-only profile's modules), none is unknown
    top = [n for n, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:top_n]]
    labels = [esc(r.short) + ("<br>(unknown)" if unknown(r) else "") for r in runs]
    data = [{"type": "bar", "name": esc(label(name)), "x": labels, "hovertext": esc(name),
             "y": [0.0 if unknown(r) else sum(row[value] for row in rows(r) if row[key] == name) / 1e3 for r in runs]}
            for name in top]
    rest = [0.0 if unknown(r) else sum(row[value] for row in rows(r) if row[key] not in top) / 1e3 for r in runs]
    if other_always or any(rest):
        data.append({"type": "bar", "name": "other", "x": labels, "y": rest,
                     "marker": {"color": OTHER_COLOUR, "pattern": {"shape": "/"}}})
    return figure(data, {"barmode": "stack", "xaxis": {"title": "variant · compile mode"},
                         "yaxis": {"title": "GPU time, ms"}, "legend": {"font": {"size": 9}}, "height": height})


def kernel_breakdown(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
    """GPU time of the group's top kernels per run, stacked, the rest as a hatched grey "other"."""
    return _stacked(runs, lambda r: r.analysis.kernels, "name", "total_us", TOP_KERNELS,
                    lambda name: kernel_label(name, 60), other_always=True, height=520,
                    unknown=lambda r: gpu_unrecorded(r.analysis))


def phase_breakdown(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
    """GPU time per phase (the innermost profiler range of each kernel, layers folded: ``phase_kinds``) per
    run, stacked; the group's top phases by name, the rest as "other". Each bar sums to the run's phase
    table; a run whose phases are unknown (``phase_coverage_pct`` None: no CPU ops or launch links) has none."""
    return _stacked(runs, lambda r: r.analysis.phase_kinds, "phase", "gpu_us", TOP_PHASES,
                    lambda name: shorten(name, 60), other_always=False, height=480, unknown=_phases_unknown)


def _phases_unknown(run: Any) -> bool:
    """Whether the run's phases are unknown: GPU work (recorded or not) with no CPU ops or launch links."""
    s = run.analysis.summary
    return s.get("phase_coverage_pct") is None and s.get("platform") != "cpu"


def module_breakdown(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
    """GPU time per nn.Module path (instance numbers folded: ``module_kinds``) per run, stacked, as
    :func:`phase_breakdown`; ``None`` when no run recorded module calls."""
    return _stacked(runs, lambda r: r.analysis.module_kinds, "module", "gpu_us", TOP_PHASES,
                    lambda name: shorten(name, 60), other_always=False, height=480)


def ssd_breakdown(runs: Sequence[Any]) -> Optional[Dict[str, Any]]:
    """GPU time per SSD step (kernels recognised by name, ``ssd``; the implementation in the legend) per run,
    stacked; ``None`` when no run has SSD kernels."""
    def rows(r: Any) -> List[Dict[str, Any]]:
        return [{**x, "label": f"{x['step']} ({x['implementation']})"} for x in r.analysis.ssd]

    return _stacked(runs, rows, "label", "gpu_us", TOP_PHASES, lambda name: shorten(name, 60),
                    other_always=False, height=420)


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
        for dtype, tflops in ceilings_of(rows).items():
            ceilings.setdefault(dtype, tflops)
        data.append({"type": "scatter", "mode": "markers", "name": esc(r.short),
                     "x": [k["intensity_flop_per_byte"] for k in rows], "y": [k["achieved_tflops"] for k in rows],
                     "text": [esc(kernel_label(k["name"], 60)) for k in rows], "hoverinfo": "text+x+y",
                     "marker": {"size": 9}})
    if not data:
        return None
    data.extend(roofline_lines(peak, ceilings, 0.1, 10000.0))
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

