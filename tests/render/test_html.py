"""The HTML report: self-contained, escaped, small."""

import copy
import json
import re
from pathlib import Path

import pytest

from bambaprof.cli import main
from bambaprof.render.figure import unpack_figure
from bambaprof.render.html import build_report
from tests.analysis.synth import base_trace, write

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "traces" / "examples").iterdir())
EVIL = "<script>alert(1)</script>"


def evil_trace(tmp_path):
    t = copy.deepcopy(base_trace())
    for e in t["traceEvents"]:
        if e.get("name") in ("gemm_kernel", "outer"):  # a kernel and a profiler range (a phase) named in script
            e["name"] = EVIL
    return write(tmp_path / "evil.json.gz", t)


def test_untrusted_names_are_escaped(tmp_path):
    page = build_report([evil_trace(tmp_path)])
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the tables, as text
    # inside the figure JSON the name is escaped for plotly and '<' never appears raw
    figures = re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)
    texts = [json.dumps(unpack_figure(block), ensure_ascii=False) for block in figures]
    assert all("<" not in block and "<" not in text for block, text in zip(figures, texts))
    assert sum("&lt;script&gt;" in text for text in texts) >= 3  # the kernel and the phase, in several charts


def test_untrusted_module_names_are_escaped(tmp_path):
    t = base_trace()
    t["traceEvents"].append({"ph": "X", "cat": "python_function", "name": "nn.Module: " + EVIL + "_0", "pid": 1,
                             "tid": 1, "ts": 0, "dur": 120, "args": {}})
    page = build_report([write(tmp_path / "evil-module.json.gz", t)])
    assert EVIL not in page and "Modules: evil-module.json.gz" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.split("Modules: evil-module.json.gz")[1]  # the table
    figures = re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)
    texts = [json.dumps(unpack_figure(block), ensure_ascii=False) for block in figures]
    assert all("<" not in text for text in texts) and any("&lt;script&gt;" in text for text in texts)  # the chart


def test_untrusted_callers_of_the_op_tables_are_escaped(tmp_path):
    """The projections table names the op or range that called the products: a range named in script is text."""
    from tests.analysis.test_projections import _qkv, _trace

    t = _trace(*_qkv(0, 10))
    for e in t["traceEvents"]:
        if e["name"] == "attention":
            e["name"] = EVIL
    page = build_report([write(tmp_path / "evil-caller.json.gz", t)])
    section = page.split("Matrix products of one activation shape, one after another: evil-caller.json.gz")[1]
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in section.split("</table>")[0]


def test_self_contained(tmp_path):
    page = build_report([evil_trace(tmp_path)])
    assert page.count("<script src") == 0 and "<link" not in page
    assert page.count("plotly.js (cartesian - minified) v") == 1  # the partial bundle, inlined once
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_report_of_the_h200_examples(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", *map(str, EXAMPLES), "-o", str(out), "--title", "H200 examples"]) == 0
    page = out.read_text()
    assert len(page.encode()) < 10_000_000
    for section in ("id=\"runs\"", "id=\"kernels\"", "id=\"bandwidth\"", "id=\"occupancy\"", "id=\"telemetry\"",
                    "id=\"comparison\"", "NVIDIA H200"):
        assert section in page
    assert page.count('class="plot"') >= 8


def test_bad_inputs(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.json")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["report"]) == 2


def test_page_size_does_not_grow_with_events(tmp_path):
    t = base_trace()
    events = [e for e in t["traceEvents"] if e.get("ph") != "M"]
    big = copy.deepcopy(t)
    for i in range(1, 200):  # 200 copies shifted in time, ids offset
        for e in copy.deepcopy(events):
            e["ts"] = e["ts"] + i * 200
            if isinstance(e.get("args"), dict):
                for key in ("correlation", "External id"):
                    if isinstance(e["args"].get(key), int) and e["args"][key] >= 0:
                        e["args"][key] += i * 1000
            if "id" in e:
                e["id"] += i * 1000
            big["traceEvents"].append(e)
    small_page = build_report([write(tmp_path / "small.json.gz", t)])
    big_page = build_report([write(tmp_path / "big.json.gz", big)])
    assert abs(len(big_page) - len(small_page)) < 50_000


def test_chart_data_other_colour_and_telemetry_window():
    from bambaprof.render.figure import OTHER_COLOUR
    from bambaprof.render.group_charts import kernel_breakdown, telemetry_chart
    from bambaprof.render.html import ReportRun

    runs = [ReportRun(p, None) for p in EXAMPLES[:2]]
    bars = kernel_breakdown(runs)["data"]
    other = [b for b in bars if b["name"] == "other"]
    assert len(other) == 1 and other[0]["marker"]["color"] == OTHER_COLOUR
    assert all("marker" not in b for b in bars if b["name"] != "other")  # plotly's colourway: never grey
    # each run's bars add up to its kernel time (top kernels + other), in ms
    for i, r in enumerate(runs):
        total = sum(b["y"][i] for b in bars)
        assert abs(total - sum(k["total_us"] for k in r.analysis.kernels) / 1e3) < 1e-6
    figs = [(r, telemetry_chart(r)) for r in runs]
    assert any(f is not None for _, f in figs)  # the examples carry NVML samples
    for r, fig in figs:
        if fig is None:
            continue
        span_ms = r.busy["span_us"] / 1e3
        for series in fig["data"][1:]:
            assert all(0 <= x <= span_ms for x in series["x"]), series["name"]  # the profiled window only
        assert all(ax["title"]["text"] for k, ax in fig["layout"].items() if k.startswith(("xaxis", "yaxis")))


def test_roofline_ceilings_are_the_device_peaks():
    from bambaprof.render.group_charts import roofline_chart
    from bambaprof.render.html import ReportRun

    runs = [ReportRun(p, None) for p in EXAMPLES[:3]]
    fig = roofline_chart(runs)
    assert fig is not None
    lines = {t["name"]: t for t in fig["data"] if t.get("mode") == "lines"}
    kernels = [k for r in runs for k in r.analysis.kernels if k.get("achieved_tflops")]
    peak_gbps = next(k["peak_gbps"] for r in runs for k in r.analysis.kernels if k.get("peak_gbps"))
    roof = next(t for n, t in lines.items() if n.startswith("bandwidth roof"))
    assert all(abs(y - x * peak_gbps / 1e3) < 1e-9 * max(y, 1) for x, y in zip(roof["x"], roof["y"]))
    peaks = {k["dtype"]: k["peak_tflops"] for k in kernels if k.get("peak_tflops")}
    ceilings = {n.split()[0]: t["y"][0] for n, t in lines.items() if "compute ceiling" in n}
    assert ceilings == peaks and ceilings  # one per dtype the kernels ran in, at the peak they were judged by
    assert max(roof["y"]) == pytest.approx(max(ceilings.values()), rel=1e-12)  # the roof stops at the top ceiling


def _figures(page: str):
    return [unpack_figure(block) for block in
            re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)]


def test_every_figure_passes_plotlys_schema_and_uses_only_bundled_trace_types():
    import plotly.graph_objects as go

    from bambaprof.render.figure import BUNDLED_TRACE_TYPES

    figures = _figures(build_report(EXAMPLES))
    assert len(figures) >= 10
    for fig in figures:
        go.Figure(fig)  # raises on any property plotly does not know (a typo renders as nothing)
        assert {t["type"] for t in fig["data"]} <= BUNDLED_TRACE_TYPES


def test_phase_chart_bars_sum_to_each_runs_phase_table():
    from bambaprof.analysis import analyze
    from bambaprof.render.group_charts import phase_breakdown
    from bambaprof.render.html import ReportRun

    runs = [ReportRun(p, None) for p in EXAMPLES if "mixer" in p.name]
    fig = phase_breakdown(runs)
    for i, r in enumerate(runs):
        bars = sum(t["y"][i] for t in fig["data"])
        assert bars == pytest.approx(sum(p["gpu_us"] for p in analyze(r.run_dir).phase_kinds) / 1e3, rel=1e-9)
    assert fig["data"][-1]["name"] == "other" or len(fig["data"]) <= 12


def test_a_run_whose_phases_are_unknown_has_no_phase_bar():
    """The real H100 traces of one workload with the CPU and CUDA activities and with CUDA alone: the second holds
    no range, so its phases are unknown, and the chart gives it no bar (not a full bar of "(no range)"), saying so
    under its name; the kernel chart does the same for a trace without GPU activity."""
    from bambaprof.render.group_charts import phase_breakdown
    from bambaprof.render.html import ReportRun

    data = Path(__file__).resolve().parents[1] / "data" / "activities"
    both, cuda = (ReportRun(data / f"{n}.json.gz", None) for n in ("cpu-cuda", "cuda"))
    fig = phase_breakdown([both, cuda])
    assert sum(t["y"][0] for t in fig["data"]) > 0 and all(t["y"][1] == 0 for t in fig["data"])
    assert "(no range)" not in {t["name"] for t in fig["data"]}
    assert fig["data"][0]["x"] == ["cpu-cuda.json.gz", "cuda.json.gz<br>(unknown)"]  # said under its name
    assert phase_breakdown([cuda]) is None
    from bambaprof.render.group_charts import kernel_breakdown

    kernels = kernel_breakdown([both, ReportRun(data / "cpu.json.gz", None)])
    assert kernels["data"][0]["x"][1] == "cpu.json.gz<br>(unknown)"
    page = build_report([data / "cpu.json.gz", data / "cpu-cuda.json.gz"])
    assert page.count("Top kernels: ") == 1  # no empty table for the run whose kernels are unknown
    assert "kernels: unknown, GPU busy: unknown" in page and "kernels: None" not in page


def test_speedup_chart_shows_each_runs_ratio_to_its_matched_baseline():
    page = build_report(EXAMPLES)
    speedups = [f for f in _figures(page) if f["layout"]["yaxis"]["title"]["text"].startswith("speed-up")]
    assert len(speedups) == 2  # one per group (mixer, generate): never mixed
    latencies = [f for f in _figures(page) if f["layout"]["yaxis"]["title"]["text"] == "latency, ms"]
    assert len(latencies) == 2
    medians = {}
    for p in EXAMPLES:
        m = json.loads((p / "bambaprof" / "manifest.json").read_text())
        medians[f"{m['config']['variant']} · {m['config']['compile']}", m["config"]["workload"]] = \
            m["timings"]["latency_ms"]["median"]
    for fig in latencies:
        bar = fig["data"][0]
        assert any(all(medians.get((x, w)) == pytest.approx(y, rel=1e-4) for x, y in zip(bar["x"], bar["y"]))
                   for w in ("mixer", "generate"))  # each chart: one workload's medians
    for fig in speedups:
        bar = fig["data"][0]
        assert bar["base"] == 1 and fig["layout"]["yaxis"]["type"] == "log"
        for label, y, text in zip(bar["x"], bar["y"], bar["text"]):
            assert text.startswith(f"{1 + y:.2f}x vs ")
            assert "·" in label and "b1-L512" not in label  # variant · compile mode, not a run id


def test_bandwidth_and_occupancy_charts_hold_each_kernels_figures():
    from bambaprof.render.group_charts import MAX_POINTS, bandwidth_chart, occupancy_chart
    from bambaprof.render.html import ReportRun

    runs = [ReportRun(p, None) for p in EXAMPLES[:2]]
    bandwidth = bandwidth_chart(runs)
    for r, series in zip(runs, bandwidth["data"]):
        rows = [k for k in r.analysis.kernels if k.get("achieved_gbps")][:MAX_POINTS]
        assert series["y"] == [k["achieved_gbps"] for k in rows]
        assert series["x"] == [k["total_us"] / 1e3 for k in rows]
    peak = next(k["peak_gbps"] for k in runs[0].analysis.kernels if k.get("peak_gbps"))
    assert bandwidth["layout"]["shapes"][0]["y0"] == peak  # the peak line is the peak the kernels were judged by
    occupancy = occupancy_chart(runs)
    theoretical = [t for t in occupancy["data"] if t["name"].endswith("theoretical")]
    for r, series in zip(runs, theoretical):
        rows = [k for k in r.analysis.kernels
                if k["kind"] == "kernel" and k.get("theoretical_occupancy_pct") is not None][:MAX_POINTS]
        assert series["y"] == [k["theoretical_occupancy_pct"] for k in rows]
        assert all(0 < y <= 100 for y in series["y"])


def test_a_runs_card_shows_the_launch_shortcut_the_host_and_an_unknown_busy_share(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(next(p for p in EXAMPLES if p.name.startswith("bamba-9b-default-none-mixer")), run)
    manifest = run / "bambaprof" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["versions"]["launch_shortcut"] = "on"
    doc["host"] = {"cpu_model": "<b>Xeon</b>", "logical_cpus": 16, "probe_before_us": 1700.0, "probe_after_us": 3300.0}
    doc["device"]["nvml"] = {**(doc["device"].get("nvml") or {}), "pcie_link_generation": 5, "pcie_link_width": 16,
                             "pcie_gbps": 63.015}
    manifest.write_text(json.dumps(doc))
    page = build_report([run])
    assert "launch shortcut on" in page and "PCIe 5.0 x16, 63.0 GB/s each way" in page
    assert "host: &lt;b&gt;Xeon&lt;/b&gt;, 16 CPUs; Python probe 1.70 -&gt; 3.30 ms" in page  # escaped
    cpu_only = copy.deepcopy(base_trace())  # a trace without GPU activity: how busy the GPU was is unknown
    cpu_only["traceEvents"] = [e for e in cpu_only["traceEvents"] if e.get("cat") not in ("kernel", "gpu_memcpy",
                                                                                            "gpu_memset")]
    page = build_report([write(tmp_path / "cpu.json.gz", cpu_only)])
    assert "GPU busy: unknown" in page and "GPU busy: %" not in page


def test_notes_name_the_runs_they_are_about(tmp_path):
    """In a report of several runs, a note that not all of them share says which runs it is about (names
    escaped); a note every run shares, and any note of a one-run report, stands alone."""
    from bambaprof.render.html import run_notes

    plain = write(tmp_path / "plain.json.gz", base_trace())
    bare = copy.deepcopy(base_trace())
    bare.pop("deviceProperties")
    evil = write(tmp_path / "<img src=x onerror=alert(1)>.json.gz", bare)
    page = build_report([plain, evil])
    assert "note: the trace has no deviceProperties: theoretical occupancy and waves are unknown " \
           "(&lt;img src=x onerror=alert(1)&gt;.json.gz)</p>" in page
    assert "<img src=x" not in page
    runs = [SimpleRun(["a", "shared"], "r1"), SimpleRun(["shared"], "r2"), SimpleRun(["shared", "a"], "r3")]
    assert run_notes(runs) == ["a (r1, r3)", "shared"]
    assert run_notes(runs[:1]) == ["a", "shared"]
    many = [SimpleRun(["x"], f"r{i}") for i in range(6)] + [SimpleRun([], "quiet")]
    assert run_notes(many) == ["x (r0, r1, r2, r3 and 2 more)"]


class SimpleRun:
    def __init__(self, notes, label):
        from types import SimpleNamespace

        self.analysis = SimpleNamespace(notes=notes)
        self.label = label


def test_the_summary_says_where_the_memory_peak_was_reached(tmp_path):
    mixer = next(p for p in EXAMPLES if "default-none-mixer" in p.name)
    page = build_report([mixer, write(tmp_path / "bare.json.gz", base_trace())])
    assert "13.54<br><span" in page and ">in ssd/intra_chunk</span>" in page  # the run's naive intra-chunk decay
    assert ">in outer</span>" in page  # a bare trace: its peak (3,000 B) from the trace, under the range outer


def test_the_report_charts_the_ssd_steps_of_each_run():
    from pathlib import Path

    mamba = Path(__file__).resolve().parents[1] / "data" / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz"
    page = build_report([mamba])
    assert "GPU time per SSD step (kernels recognised by name)" in page
    assert "12.6x the 13.35 us floor of its calls' shapes" in page  # the SSD table's summary line
    figures = re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)
    ssd = [f for f in map(unpack_figure, figures) if any("chunk scan (mamba_ssm)" in str(t.get("name")) for t in
                                                         f["data"])]
    assert len(ssd) == 1 and sum(t["y"][0] for t in ssd[0]["data"]) == pytest.approx(0.168, rel=1e-3)  # ms


def test_a_cpu_trace_is_named_cpu_and_shows_its_step_time(tmp_path):
    """A trace without a run has no latency; where it has profiled steps the summary shows their median under
    the unknown latency, and a CPU-only trace's device is the CPU, not an unknown one."""
    from tests.analysis.test_compare import _cpu_steps

    page = build_report([write(tmp_path / "cpu.json.gz", _cpu_steps([2000, 2100, 1900]))])
    assert "CPU · traces (CPU) · 1 run" in page and "unknown device" not in page
    assert re.search(r"unknown<br><span class=\"meta\" title=\"the median profiled step[^\"]*\">step 2(\.0+)?<", page)
    plain = build_report([write(tmp_path / "gpu.json.gz", base_trace())])
    assert ">step " not in plain


NCU_DATA = Path(__file__).resolve().parents[1] / "data" / "ncu"


def test_a_report_with_nsight_compute_shows_its_figures_and_findings(tmp_path, capsys):
    """``report --ncu``: the real H100 mixer capture's kernels beside ncu's figures (busiest unit, warp states from
    the raw page; the details page has no warp states, and those columns go), with the finding that reads them."""
    out = tmp_path / "r.html"
    trace = str(NCU_DATA / "h100-mixer-kernels-trace.json.gz")
    assert main(["report", trace, "--ncu", str(NCU_DATA / "h100-mixer-kernels-raw.csv.gz"), "-o", str(out)]) == 0
    page = out.read_text()
    table = page.split("Nsight Compute beside the trace")[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 7 and ">L2 81%<" in table and ">SM 94%<" in table and ">DRAM 71%<" in table
    assert "top stalls" in table and "long_scoreboard 34.6" in table
    assert "issue-bound" in page.split('id="findings"')[1].split("</table>")[0]
    assert main(["report", trace, "--ncu", str(NCU_DATA / "h100-mixer-kernels-details.csv.gz"), "-o", str(out)]) == 0
    table = out.read_text().split("Nsight Compute beside the trace")[1].split("</table>")[0]
    assert ">L2 81%<" in table and "top stalls" not in table
    assert main(["report", trace, "-o", str(out)]) == 0
    assert "Nsight Compute beside the trace" not in out.read_text()
    capsys.readouterr()


def test_report_ncu_goes_with_one_run(tmp_path, capsys):
    out = tmp_path / "r.html"
    trace = str(NCU_DATA / "h100-mixer-kernels-trace.json.gz")
    assert main(["report", trace, trace, "--ncu", str(NCU_DATA / "h100-mixer-kernels-raw.csv.gz"),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--ncu goes with one run or trace, not 2" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("not a table\n")
    assert main(["report", trace, "--ncu", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not an Nsight Compute CSV" in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_findings_past_the_top_ones_are_named_not_dropped(tmp_path):
    """A run's findings table shows its TOP_FINDINGS first findings in full and names the rest (id and severity),
    with the command that lists them all: the real H200 mamba_ssm mixer's kernels alone have four findings."""
    import gzip

    from bambaprof.analysis import analyze
    from bambaprof.render.html import TOP_FINDINGS

    real = Path(__file__).resolve().parents[1] / "data" / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz"
    trace = json.loads(gzip.decompress(real.read_bytes()))
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("cat") == "kernel" or e.get("ph") == "M"]
    path = write(tmp_path / "gpu-only.json.gz", trace)
    findings = analyze(path).findings
    assert len(findings) > TOP_FINDINGS
    table = build_report([path]).split('id="findings"')[1].split("</table>")[0]
    assert all(f"<td>{f['id']}</td>" in table for f in findings[:TOP_FINDINGS])
    rest = findings[TOP_FINDINGS:]
    assert f"{len(rest)} more: " + ", ".join(f"{f['id']} ({f['severity']})" for f in rest) in table
    assert all(f"<td>{f['id']}</td>" not in table for f in rest)


def test_a_cpu_only_group_draws_no_empty_gpu_charts_and_lists_its_contractions():
    """The tiny preset's default variant on the CPU: no GPU time per kernel or module to chart (the charts were
    empty axes), and its contractions computed elementwise are listed with their host time."""
    from bambaprof.render.group_charts import kernel_breakdown, module_breakdown
    from bambaprof.render.html import ReportRun

    data = Path(__file__).resolve().parents[1] / "data"
    cpu = ReportRun(data / "cpu-tiny-default-prefill-with-stack.json.gz", None)
    assert kernel_breakdown([cpu]) is None and module_breakdown([cpu]) is None
    page = build_report([data / "cpu-tiny-default-prefill-with-stack.json.gz",
                         data / "h200-fms-naive-mixer-eager-b1-L512.json.gz"])
    assert page.count("Contractions computed elementwise: ") == 2
    assert "abde,acde-&gt;abcd" in page or "abde,acde->abcd" in page
    assert "GPU time per kernel (top kernels)" in page and page.count("GPU time per kernel (top kernels)") == 1


def test_a_cpu_only_runs_peak_memory_is_its_cpu_allocators_and_says_so():
    """The first screen's peak memory read "unknown" for every CPU run: its GPU peak is, but the profiler's CPU
    allocator peak is known and is shown, labelled as such."""
    from bambaprof.render.html import ReportRun

    data = Path(__file__).resolve().parents[1] / "data"
    cpu = ReportRun(data / "cpu-tiny-default-prefill-with-stack.json.gz", None)
    row = cpu.row(0)
    assert row.peak_on_host and row.peak_bytes == cpu.analysis.summary["peak_cpu_allocated_bytes"] > 0
    gpu = ReportRun(data / "h200-fms-naive-mixer-eager-b1-L512.json.gz", None).row(0)
    assert not gpu.peak_on_host and gpu.peak_bytes > 1e9
    page = build_report([data / "cpu-tiny-default-prefill-with-stack.json.gz"])
    assert "CPU allocator" in page
    # the GPU's roofline does not apply to a CPU-only run: left blank, as its GPU busy is, not "unknown"
    first = page[page.index("<h2 id=\"summary\"") if "<h2 id=\"summary\"" in page else 0:]
    row = first[first.index(">cpu-tiny-default-prefill"):].split("</tr>")[0]
    assert "unknown</td>" not in row.split("CPU allocator")[1]


def test_run_card_shows_the_allocators_driver_calls(tmp_path):
    """A run that counted its allocator's driver calls shows them on its card; one made before the counters (the
    committed examples) shows no such line."""
    import shutil

    run = tmp_path / EXAMPLES[-1].name
    shutil.copytree(EXAMPLES[-1], run)
    path = run / "bambaprof" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["memory"].update(device_allocs_measured=12, device_frees_measured=9, alloc_retries_measured=0)
    path.write_text(json.dumps(manifest))
    page = build_report([run])
    assert "driver calls while measured: 12 allocations, 9 frees, 0 retries (a steady state makes none)" in page
    assert "driver calls while measured" not in build_report([EXAMPLES[-1]])


def test_steps_table_lists_the_longest_of_a_long_trace(tmp_path):
    """A CPU trace of 50 profiled steps, every tenth one slow: the report's steps table lists 40 of them (the
    longest, in order, the slow ones among them) and says so; a trace of 3 steps lists all three."""
    from bambaprof.render.html import STEP_ROWS

    def stepped(n):
        events, t = [], 0.0
        for i in range(n):
            d = 500.0 if i % 10 == 9 else 100.0 + i
            events += [{"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{i}", "pid": 1, "tid": 1,
                        "ts": t, "dur": d, "args": {}},
                       {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": t, "dur": d,
                        "args": {"External id": i}}]
            t += d + 1.0
        return write(tmp_path / f"steps{n}.json", {"traceEvents": events})

    page = build_report([stepped(50)])
    rows = re.findall(r"<tr><td class=\"text\">ProfilerStep#(\d+)</td>", page)
    assert len(rows) == STEP_ROWS == 40 and [int(r) for r in rows] == sorted(int(r) for r in rows)
    assert {"9", "19", "29", "39", "49"} <= set(rows) and "0" not in rows  # the slow ones kept, the shortest left out
    assert "the 40 longest of 50 steps, in order" in page
    short = build_report([stepped(3)])
    assert len(re.findall(r"<tr><td class=\"text\">ProfilerStep#", short)) == 3 and "longest of" not in short
