"""Calls of torch.compile'd code: their frames, graphs and breaks, the host's time outside the graphs and what ran
eagerly there, the GPU's idle time meanwhile, the summary and the graph-breaks finding; on real CPU traces of a
function with two graph breaks and of the same work in one graph (tests/data/compiled/), and synthetic traces with
hand-computed figures."""

import gzip
import json
from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import _kernel, _op, _rt, write

REAL = Path(__file__).resolve().parents[1] / "data" / "compiled"


def _graph(ts, dur, name="a"):
    return _op(f"## Call CompiledFxGraph {name} ##", ts, dur, -1, cat="user_annotation")


def test_real_graph_breaks_on_the_cpu():
    """The broken function runs three frames a call, .item() eagerly between the first two; the host spends 448.8 us
    of three calls outside the graphs (19% of the span: graph-breaks, medium); in one graph, 105.0 us, no finding."""
    broken = analyze(REAL / "broken.json.gz")
    (row,) = broken.compiled_calls
    assert (row["frames"], row["graphs"], row["breaks"], row["calls"], row["eager_op_names"]) == \
        ("0, 1, 2", 3, 2, 3, "aten::item x3")
    events = json.load(gzip.open(REAL / "broken.json.gz"))["traceEvents"]
    top = [e for e in events if e.get("name") == "Torch-Compiled Region: 0/0"]
    graphs = [e for e in events if str(e.get("name")).startswith("## Call CompiledFxGraph")]
    assert len(top) == 3 and len(graphs) == 9
    assert row["host_us"] == pytest.approx(sum(e["dur"] for e in top))
    # (timestamps near 5.8e12 us resolve to about 1 ns in float64)
    assert row["outside_us"] == pytest.approx(sum(e["dur"] for e in top) - sum(e["dur"] for e in graphs), abs=0.01)
    assert row["gap_gpu_idle_us"] is None and row["eager_gpu_us"] is None  # a CPU-only profile
    s = broken.summary
    assert (s["compiled_calls"], s["compiled_breaks"], s["compiled_gap_gpu_idle_us"]) == (3, 6, None)
    (f,) = [f for f in broken.findings if f["id"] == "graph-breaks"]
    assert f["severity"] == "medium" and f["time_us"] is None
    assert "3 graphs a call (frames 0, 1, 2: 2 graph breaks), 6 breaks over 3 calls" in f["message"]
    assert "aten::item x3" in f["message"] and "capture_scalar_outputs" in f["suggestion"]
    whole = analyze(REAL / "whole.json.gz")
    (row,) = whole.compiled_calls
    assert (row["frames"], row["graphs"], row["breaks"], row["calls"]) == ("0", 1, 0, 3)
    assert round(row["outside_us"], 1) == 105.0 and round(broken.compiled_calls[0]["outside_us"], 1) == 448.8
    assert not [f for f in whole.findings if f["id"] == "graph-breaks"] and can_judge(whole, "graph-breaks")


def _gpu_calls(tmp_path):
    return write(tmp_path / "c.json.gz", gpu_compiled_doc())


def gpu_compiled_doc():
    """Region 0/0 [0, 100): a graph [10, 30) whose mm launches [20, 50); eager aten::item [35, 45) and aten::add
    [46, 50) launching [60, 65); region 1/0 [55, 95) nested, its graph [60, 90) launching [70, 120). Then a second
    compiled function, region 2/0 [130, 150), its graph [132, 148) launching [150, 160): a call of its own.
    Graphs cover 50 of the first call's 100 us; its gaps in the GPU window [20, 160): [30, 60) (idle [50, 60): 10 us)
    and [90, 100) (busy)."""
    events = [_op("Torch-Compiled Region: 0/0", 0, 100, -1), _graph(10, 20), _op("aten::mm", 12, 2, 1),
              _rt("cudaLaunchKernel", 13, 1, 11, 1), _kernel("mm_kernel", 20, 30, 11, 1),
              _op("aten::item", 35, 10, 2), _op("aten::add", 46, 4, 3), _rt("cudaLaunchKernel", 47, 1, 12, 3),
              _kernel("add_kernel", 60, 5, 12, 3),
              _op("Torch-Compiled Region: 1/0", 55, 40, -1), _graph(60, 30, "b"), _op("aten::mm", 62, 2, 4),
              _rt("cudaLaunchKernel", 63, 1, 13, 4), _kernel("mm_kernel", 70, 50, 13, 4),
              _op("Torch-Compiled Region: 2/0", 130, 20, -1), _graph(132, 16, "c"), _op("aten::mm", 133, 2, 5),
              _rt("cudaLaunchKernel", 134, 1, 14, 5), _kernel("mm_kernel", 150, 10, 14, 5)]
    return {"schemaVersion": 1, "traceEvents": events}


def test_gpu_calls_by_hand(tmp_path):
    a = analyze(_gpu_calls(tmp_path))
    broken, alone = a.compiled_calls
    assert (broken["frames"], broken["graphs"], broken["breaks"], broken["calls"]) == ("0, 1", 2, 1, 1)
    assert (broken["host_us"], broken["graph_us"], broken["outside_us"]) == (100.0, 50.0, 50.0)
    assert (broken["eager_op_names"], broken["eager_us"], broken["eager_gpu_us"]) == ("aten::item x1, aten::add x1",
                                                                                       14.0, 5.0)
    assert broken["gap_gpu_idle_us"] == 10.0
    # its gaps [130, 132) and [148, 150): nothing ran on the GPU then
    assert (alone["frames"], alone["breaks"], alone["outside_us"], alone["gap_gpu_idle_us"]) == ("2", 0, 4.0, 4.0)
    assert (a.summary["compiled_calls"], a.summary["compiled_breaks"]) == (2, 1)
    (f,) = [f for f in a.findings if f["id"] == "graph-breaks"]
    assert f["time_us"] == 10.0 and "the GPU sat idle 10.0 us meanwhile" in f["message"]
    assert "capture_scalar_outputs" in f["suggestion"]


def test_without_ops_unknown(tmp_path):
    a = analyze(write(tmp_path / "k.json.gz", {"schemaVersion": 1, "traceEvents": [_kernel("k", 0, 5, 1, -1)]}))
    assert a.compiled_calls is None and a.summary["compiled_calls"] is None
    assert not can_judge(a, "graph-breaks")


def test_cli_table(tmp_path, capsys):
    assert main(["analyze", str(REAL / "broken.json.gz"), "--table", "compiled"]) == 0
    assert "0, 1, 2" in capsys.readouterr().out
    empty = write(tmp_path / "none.json.gz", {"schemaVersion": 1, "traceEvents": [_op("aten::mm", 0, 1, 1)]})
    assert main(["analyze", str(empty), "--table", "compiled"]) == 0
    assert "no torch.compile'd code ran" in capsys.readouterr().out


def test_real_h100_graph_breaks():
    """The real H100 trace (torch 2.11, benchmarks/graph_break_traces.py): three frames a call, the GPU idle while
    the host runs outside the graphs is the time at stake."""
    a = analyze(REAL / "h100-broken.json.gz")
    (row,) = a.compiled_calls
    assert (row["graphs"], row["breaks"], row["calls"], row["eager_op_names"]) == (3, 2, 3, "aten::item x3")
    assert 0 < row["gap_gpu_idle_us"] <= row["outside_us"]
    (f,) = [f for f in a.findings if f["id"] == "graph-breaks"]
    assert f["time_us"] == pytest.approx(row["gap_gpu_idle_us"])
