"""The kernel table's partial-wave bounds (``partial_wave_us``, ``partial_wave_min_us``), computed by hand over a
kernel's launch configurations."""

import pytest

from bambaprof.analysis import analyze
from tests.analysis.synth import write
from tests.diagnose.test_rules import trace_of

# 256 threads at 128 registers: 2 blocks an SM, waves of 264 on the H200's 132 SMs
TILE = ((256, 1, 1), 128, 0)


def _row(tmp_path, launches, **trace_kw):
    trace = trace_of([("tile", dur, (grid, 1, 1), *TILE) for grid, dur in launches], launch_lead_us=5.0)
    for name, value in trace_kw.items():
        trace[name] = value
    a = analyze(write(tmp_path / "t.json.gz", trace))
    return next(k for k in a.kernels if k["name"] == "tile")


def test_bounds_summed_over_launch_configurations(tmp_path):
    # 300 blocks (1.136 waves, 2.27 blocks an SM) twice, 528 (2 whole waves) once, 200 (under one wave) once
    row = _row(tmp_path, [(300, 100.0), (528, 80.0), (300, 120.0), (200, 50.0)])
    assert row["configs"] == 3 and row["grid"] == "300x1x1"  # the most common launch
    assert row["partial_wave_us"] == pytest.approx(220.0 * (1 - (300 / 264) / 2))
    assert row["partial_wave_min_us"] == pytest.approx(220.0 * (1 - (300 / 132) / 3))
    assert row["partial_wave_min_us"] < row["partial_wave_us"]


def test_one_block_an_sm_gives_one_bound(tmp_path):
    """At one block an SM a wave is the SMs, and the two bounds agree: 140 blocks on 132 SMs take two blocks' time on
    8 of them for 140/132 of the work."""
    trace = trace_of([("big", 100.0, (140, 1, 1), (1024, 1, 1), 64, 0)], launch_lead_us=5.0)
    row = next(k for k in analyze(write(tmp_path / "t.json.gz", trace)).kernels if k["name"] == "big")
    assert row["blocks_per_sm"] == 1
    assert row["partial_wave_us"] == pytest.approx(100.0 * (1 - 140 / 264))
    assert row["partial_wave_min_us"] == pytest.approx(row["partial_wave_us"])


def test_unknown_where_the_occupancy_is(tmp_path):
    """No register count: no occupancy, no bounds; a launch of a device the trace does not describe adds nothing."""
    trace = trace_of([("tile", 100.0, (300, 1, 1), *TILE)], launch_lead_us=5.0)
    del next(e for e in trace["traceEvents"] if e.get("cat") == "kernel")["args"]["registers per thread"]
    row = next(k for k in analyze(write(tmp_path / "t.json.gz", trace)).kernels if k["name"] == "tile")
    assert row["partial_wave_us"] is None and row["partial_wave_min_us"] is None
    trace = trace_of([("tile", 100.0, (300, 1, 1), *TILE)] * 2, launch_lead_us=5.0)
    second = [e for e in trace["traceEvents"] if e.get("cat") == "kernel"][1]
    second["args"]["device"] = second["pid"] = 3  # no deviceProperties entry for device 3
    row = next(k for k in analyze(write(tmp_path / "t.json.gz", trace)).kernels if k["name"] == "tile")
    assert row["partial_wave_us"] == pytest.approx(100.0 * (1 - (300 / 264) / 2))  # device 0's launch alone
