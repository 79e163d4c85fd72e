"""NVML/GPM series as counter tracks in the trace: one per sampled series, invisible to analyze."""

import gzip
import json

from bambaprof.analysis import analyze
from bambaprof.analysis.source import resolve
from bambaprof.run import iter_run_dirs, read_manifest, read_telemetry
from bambaprof.run.counters import CATEGORY, TRACKS, counter_events, embed_counters
from tests.analysis.synth import base_trace, write

TELEMETRY = {"schema": 1, "clock": "trace_us",
             "nvml": {"t_us": [10.0, 60.0, 110.0], "power_w": [300.0, float("nan"), 320.0],
                      "sm_clock_mhz": [1980, 1980, 1755], "clock_event_reasons": [0, 0, 4]},
             "gpm": {"t_us": [60.0], "span_us": [100.0], "dram_bw_util_pct": [41.5], "sm_occupancy_pct": [None]}}


def test_one_track_per_sampled_series_with_its_unit():
    events = counter_events(TELEMETRY, pid=0)
    tracks = {e["name"]: [] for e in events}
    for e in events:
        tracks[e["name"]].append((e["ts"], e["args"]["value"]))
    assert tracks == {"NVML power (W)": [(10.0, 300.0), (110.0, 320.0)],  # NaN left out
                      "NVML SM clock (MHz)": [(10.0, 1980), (60.0, 1980), (110.0, 1755)],
                      "GPM DRAM bandwidth (% of peak)": [(60.0, 41.5)]}
    assert all(e["ph"] == "C" and e["cat"] == CATEGORY for e in events)
    assert counter_events({**TELEMETRY, "clock": "monotonic_us"}) == []  # not on the trace's clock


def test_embedding_changes_no_figure_and_replaces_old_tracks(tmp_path):
    path = write(tmp_path / "t.json.gz", base_trace())
    before = analyze(path)
    assert embed_counters(path, TELEMETRY) == 6
    assert embed_counters(path, TELEMETRY) == 6  # again: replaced, not doubled
    doc = json.loads(gzip.decompress(path.read_bytes()))
    assert sum(1 for e in doc["traceEvents"] if e.get("cat") == CATEGORY) == 6
    after = analyze(path)
    same = {k: v for k, v in after.summary.items() if k != "events"}  # events counts the file's lines
    assert same == {k: v for k, v in before.summary.items() if k != "events"}
    assert after.kernels == before.kernels


def test_the_examples_hold_a_track_for_every_sampled_series():
    for run in iter_run_dirs("traces/examples"):
        tel = read_telemetry(run, read_manifest(run))
        sampled = {TRACKS[(g, k)] for (g, k) in TRACKS
                   if any(isinstance(v, (int, float)) for v in (tel.get(g) or {}).get(k) or [])}
        doc = json.loads(gzip.decompress(resolve(run).trace_path.read_bytes()))
        tracks = {e["name"] for e in doc["traceEvents"] if e.get("cat") == CATEGORY}
        assert sampled and tracks == sampled, run.name


def test_tracks_keep_the_trace_span_and_one_sample_either_side():
    tel = {"clock": "trace_us", "nvml": {"t_us": [0.0, 10.0, 60.0, 80.0, 110.0, 500.0],
                                         "power_w": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}}
    kept = [e["ts"] for e in counter_events(tel, window=(50.0, 100.0))]
    assert kept == [10.0, 60.0, 80.0, 110.0]
    assert [e["ts"] for e in counter_events(tel, window=(600.0, 700.0))] == [500.0]  # the last one before
    assert [e["ts"] for e in counter_events(tel, window=(-9.0, -1.0))] == [0.0]  # the first one after


def test_trace_window_spans_complete_events_only():
    from bambaprof.run.counters import trace_window
    events = [{"ph": "X", "ts": 100, "dur": 50}, {"ph": "X", "ts": 40, "dur": 5}, {"ph": "i", "ts": 1},
              {"ph": "C", "ts": 900, "cat": CATEGORY}, {"ph": "X", "ts": "bad"}, "junk"]
    assert trace_window(events) == (40, 150)
    assert trace_window([{"ph": "M"}]) is None
