"""Per-run figures: their data, checked against the trace and the analysis they come from."""

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.memory import memory_peaks
from bambaprof.analysis.trace import load_trace
from bambaprof.render import run_charts
from bambaprof.render.run_charts import memory_timeline, run_roofline, step_timeline
from tests.analysis.synth import base_trace, write
from tests.render.test_html import EXAMPLES

MIXER = next(p for p in EXAMPLES if "default-none-mixer" in p.name)
GENERATE = next(p for p in EXAMPLES if "default-none-generate" in p.name)


def _bars(fig):
    return [t for t in fig["data"] if t["type"] == "bar" and t["name"] != "GPU idle"]


def test_timeline_of_a_small_trace_draws_every_activity_and_the_idle_gap(tmp_path):
    trace = load_trace(write(tmp_path / "t.json.gz", base_trace()))
    fig = step_timeline(trace)
    bars = _bars(fig)
    assert sum(len(t["x"]) for t in bars) == len(trace.gpu)  # one bar each: no merging this small
    assert sum(sum(t["x"]) for t in bars) == pytest.approx(float(trace.gpu.dur.sum()) / 1e3)
    idle = next(t for t in fig["data"] if t["name"] == "GPU idle")
    assert idle["x"] == [pytest.approx(0.061)]  # busy [30, 45) then [106, 110): 61 us idle between
    assert {y for t in bars for y in t["y"]} == {"stream 7", "stream 8"}


def test_timeline_of_a_long_step_merges_runs_of_a_phase_and_keeps_the_longest_gaps(monkeypatch):
    trace = load_trace(GENERATE)
    fig = step_timeline(trace)
    bars = _bars(fig)
    assert sum(len(t["x"]) for t in bars) < len(trace.gpu)
    busy = sum(float(h.split("activities, ")[1].split(" us")[0]) if "activities" in h else
               float(h.rsplit("| ", 1)[1].split(" us")[0]) for t in bars for h in t["hovertext"])
    step = run_charts.step_window(trace)
    assert step is not None
    assert busy == pytest.approx(float(trace.gpu.dur.sum()), rel=0.01)  # one step profiled: all of it, merged
    idle = next(t for t in fig["data"] if t["name"] == "GPU idle")
    assert len(idle["x"]) <= run_charts.MAX_IDLE_BARS
    assert "merged" in fig["layout"]["xaxis"]["title"]


def test_memory_timeline_keeps_each_devices_peak_in_gb():
    trace = load_trace(MIXER)
    fig = memory_timeline(trace)
    peaks = {row["device"]: row for row in memory_peaks(trace)}
    cuda = next(k for k in peaks if k.startswith("cuda"))
    allocated = next(t for t in fig["data"] if t["name"] == f"{cuda} allocated")
    assert max(allocated["y"]) == pytest.approx(peaks[cuda]["peak_allocated_bytes"] / 1e9)
    assert len(allocated["x"]) <= run_charts.MAX_MEMORY_POINTS + 1
    assert all(not t["name"].startswith("cpu") for t in fig["data"])  # the CPU side held nothing


def test_memory_timeline_marks_where_each_peak_was_reached():
    """The naive chunked scan on the H200: its 13.5 GB peak is the intra-chunk decay matrix (aten::sum)."""
    trace = load_trace(MIXER)
    peaks = memory_peaks(trace)
    cuda = next(row for row in peaks if row["device"].startswith("cuda"))
    assert (cuda["peak_op"], cuda["peak_phase"], cuda["peak_module"]) == ("aten::sum", "ssd/intra_chunk", None)
    assert cuda["peak_allocated_bytes"] == pytest.approx(13.54e9, rel=1e-3)
    fig = memory_timeline(trace, peaks)
    mark = next(t for t in fig["data"] if t["name"] == f"{cuda['device']} peak allocated")
    assert mark["y"] == [pytest.approx(cuda["peak_allocated_bytes"] / 1e9)]
    assert mark["x"] == [pytest.approx(cuda["peak_at_us"] / 1e3)]
    assert mark["hovertext"] == ["peak 13.54 GB | op aten::sum | phase ssd/intra_chunk"]
    allocated = next(t for t in fig["data"] if t["name"] == f"{cuda['device']} allocated")
    at = max(i for i, x in enumerate(allocated["x"]) if x <= mark["x"][0] + 1e-9)
    assert allocated["y"][at] == pytest.approx(mark["y"][0])  # the step line is at its peak there


def test_run_roofline_ceilings_are_the_peaks_the_kernels_were_judged_by():
    a = analyze(MIXER)
    fig = run_roofline(a)
    placed = [k for k in a.kernels if k.get("intensity_flop_per_byte") and k.get("achieved_tflops")]
    points = [t for t in fig["data"] if t["mode"] == "markers"]
    assert sum(len(t["x"]) for t in points) == len(placed)
    ceilings = {t["name"].split()[0]: t["y"][0] for t in fig["data"] if "ceiling" in t["name"]}
    assert ceilings == {k["dtype"]: k["peak_tflops"] for k in placed if k.get("peak_tflops")}
    roof = next(t for t in fig["data"] if t["name"].startswith("bandwidth roof"))
    peak = placed[0]["peak_gbps"]
    assert all(y == pytest.approx(x * peak / 1e3) for x, y in zip(roof["x"], roof["y"]))
    for t in points:  # larger markers for longer kernels
        by_time = sorted(zip([h for h in t["hovertext"]], t["marker"]["size"]), key=lambda p: p[1])
        assert all("phase " in h and "-bound" in h for h, _ in by_time)
    assert run_roofline(analyze(write_empty())) is None


def write_empty():
    import tempfile
    from pathlib import Path

    doc = base_trace()
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") != "kernel"]
    return write(Path(tempfile.mkdtemp()) / "empty.json.gz", doc)
