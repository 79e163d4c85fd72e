"""Optimizer steps: the implementation each ran, their host time, launches and the GPU's idle time inside their
windows, the summary, the unfused-optimizer finding and the table's CLI; on real CPU traces of AdamW's three
implementations (tests/data/optimizer/), real H100 traces of foreach Adam and SGD, and synthetic GPU traces with
hand-computed figures."""

import gzip
import json
from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.optimizer import optimizer_summary, optimizer_table
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"
REAL = DATA / "optimizer"


def _range(name, ts, dur, ext):
    return _op(name, ts, dur, ext, cat="user_annotation")


def _for_loop_sgd(tmp_path, gap=20.0, name="t.json.gz"):
    """Before the step, a 100 us kernel [0, 100). Then an SGD step [100, 200) on the host running the for-loop
    implementation: 4 parameters, one aten::add_ each at 110 + 20 i (gap apart), each launching a 5 us kernel as it
    is called (at 112 + 20 i): the GPU window of the step's kernels [112, 177) holds 20 us of kernels and 45 us idle."""
    events = [_kernel("k", 0, 100, 1, 1), _op("aten::mm", 0, 2, 1), _rt("cudaLaunchKernel", 0, 1, 1),
              _range("Optimizer.step#SGD.step", 100, 100, 50)]
    for i in range(4):
        t = 110 + gap * i
        events += [_op("aten::add_", t, 3, 10 + i), _rt("cudaLaunchKernel", t + 1, 1, 20 + i, 10 + i),
                   _kernel("void at::native::vectorized_elementwise_kernel<add>", t + 2, 5, 20 + i, 10 + i)]
    return write(tmp_path / name, {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events})


def test_for_loop_steps_on_the_gpu(tmp_path):
    a = analyze(_for_loop_sgd(tmp_path))
    (row,) = a.optimizer
    assert (row["optimizer"], row["implementation"], row["steps"], row["ops_per_step"], row["launches_per_step"]) == \
        ("SGD", "for-loop", 1, 4.0, 4.0)
    assert (row["host_us"], row["gpu_us"], row["gpu_window_us"], row["gpu_idle_us"]) == (100.0, 20.0, 65.0, 45.0)
    s = a.summary
    assert (s["optimizer_steps"], s["optimizer_us"], s["optimizer_gpu_us"], s["optimizer_gpu_idle_us"]) == \
        (1, 100.0, 20.0, 45.0)
    (f,) = [f for f in a.findings if f["id"] == "unfused-optimizer"]
    assert f["time_us"] == 45.0 and f["severity"] == "high"  # 45 of the 177 us GPU window
    assert "1 SGD step ran the for-loop implementation" in f["message"] and "4 launches a step" in f["message"]
    assert "SGD with fused=True" in f["suggestion"] and "foreach=False or differentiable=True" in f["suggestion"]
    assert can_judge(a, "unfused-optimizer")


def test_kernels_back_to_back_idle_nothing(tmp_path):
    """The same step with its launches 1 us apart: its kernels queue and run back to back, no idle, no finding."""
    a = analyze(_for_loop_sgd(tmp_path, gap=1.0))
    assert a.optimizer[0]["gpu_idle_us"] == 0.0
    assert not [f for f in a.findings if f["id"] == "unfused-optimizer"]


def test_implementations_wrappers_and_unknown(tmp_path):
    events = [_range("Optimizer.step#Lookahead.step", 0, 100, 1),  # a wrapper: its inner optimizer holds the work
              _range("Optimizer.step#AdamW.step", 5, 90, 2),
              _op("aten::_foreach_add_", 10, 5, 3), _op("aten::_fused_adamw_", 20, 50, 4),
              _range("Optimizer.step#RMSprop.step", 200, 50, 5), _op("aten::_foreach_mul_", 210, 10, 6),
              _range("Optimizer.step#Custom.step", 300, 10, 7)]  # no op recorded inside it
    rows = optimizer_table(load_trace(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events})))
    got = {(r["optimizer"], r["implementation"]): (r["steps"], r["ops_per_step"], r["host_us"]) for r in rows}
    assert got == {("AdamW", "fused"): (1, 2.0, 90.0), ("RMSprop", "foreach"): (1, 1.0, 50.0),
                   ("Custom", "unknown"): (1, 0.0, 10.0)}
    assert all(r["gpu_us"] is None and r["launches_per_step"] is None for r in rows)  # no GPU activity


def test_no_ops_no_table(tmp_path):
    path = write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": [_kernel("k", 0, 10, 1, -1)]})
    a = analyze(path)
    assert a.optimizer is None and a.summary["optimizer_steps"] is None
    assert not can_judge(a, "unfused-optimizer")
    trace = load_trace(path)
    assert optimizer_summary(trace, []) == {"optimizer_steps": 0, "optimizer_us": 0.0, "optimizer_gpu_us": 0.0,
                                            "optimizer_gpu_idle_us": 0.0}


def test_real_cpu_adamw_implementations():
    """AdamW on the CPU (torch 2.13): the for-loop and foreach steps take 42% and 34% of the span (unfused-optimizer,
    high, advising fused=True); the fused step, 692 us a step against 2,753 and 1,695, has no finding."""
    tables = {m: analyze(REAL / f"{m}.json.gz") for m in ("for-loop", "foreach", "fused")}
    for m, a in tables.items():
        (row,) = a.optimizer
        assert (row["optimizer"], row["implementation"], row["steps"]) == ("AdamW", m, 3)
        events = json.load(gzip.open(REAL / f"{m}.json.gz"))["traceEvents"]
        ranges = [e["dur"] for e in events if e.get("name") == "Optimizer.step#AdamW.step"
                  and e.get("cat") == "user_annotation"]
        assert row["host_us"] == pytest.approx(sum(ranges)) and len(ranges) == 3
        assert row["gpu_us"] is None
        found = [f for f in a.findings if f["id"] == "unfused-optimizer"]
        if m == "fused":
            assert not found
        else:
            (f,) = found
            assert f["time_us"] is None and f["severity"] == "high" and "of the trace's span" in f["message"]
            assert "AdamW with fused=True" in f["suggestion"] and "(on the CPU too)" in f["suggestion"]
    assert tables["fused"].optimizer[0]["host_mean_us"] < tables["foreach"].optimizer[0]["host_mean_us"] \
        < tables["for-loop"].optimizer[0]["host_mean_us"]


def test_real_h100_foreach_steps():
    """H100 traces: foreach Adam over four 4096 x 4096 bf16 layers, 28 launches a step, the GPU idle 0.54 ms inside
    their windows over five steps (1.7% of the window: no finding); foreach SGD, one launch a step."""
    adam = analyze(DATA / "syncs" / "item-each-step.json.gz")
    (row,) = adam.optimizer
    assert (row["optimizer"], row["implementation"], row["steps"], row["launches_per_step"]) == \
        ("Adam", "foreach", 5, 28.0)
    assert round(row["gpu_idle_us"]) == 537 and round(row["gpu_us"]) == 5124
    assert not [f for f in adam.findings if f["id"] == "unfused-optimizer"]
    (sgd,) = analyze(DATA / "data-loading" / "workers0.json.gz").optimizer
    assert (sgd["optimizer"], sgd["implementation"], sgd["launches_per_step"], sgd["gpu_idle_us"]) == \
        ("SGD", "foreach", 1.0, 0.0)


def test_cli_table(tmp_path, capsys):
    assert main(["analyze", str(REAL / "for-loop.json.gz"), "--table", "optimizer"]) == 0
    out = capsys.readouterr().out
    assert "AdamW" in out and "for-loop" in out
    empty = write(tmp_path / "none.json.gz", {"schemaVersion": 1, "traceEvents": [_op("aten::mm", 0, 1, 1)]})
    assert main(["analyze", str(empty), "--table", "optimizer"]) == 0
    assert "no optimizer steps in this trace" in capsys.readouterr().out
    assert main(["analyze", str(REAL / "fused.json.gz"), "--table", "optimizer", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("optimizer,implementation,steps,host_us")


def test_real_h100_for_loop_adamw():
    """AdamW's for-loop implementation on an H100 (torch 2.11, 8 blocks, benchmarks/optimizer_traces.py): 256
    launches a step, the GPU idle most of each step's window: high."""
    a = analyze(DATA / "optimizer" / "h100-for-loop.json.gz")
    (row,) = a.optimizer
    assert (row["optimizer"], row["implementation"], row["steps"], row["launches_per_step"]) == \
        ("AdamW", "for-loop", 3, 256.0)
    assert 0 < row["gpu_us"] < row["gpu_idle_us"] < row["gpu_window_us"]
    (f,) = [f for f in a.findings if f["id"] == "unfused-optimizer"]
    assert f["severity"] == "high" and "fused=True" in f["suggestion"]
