"""The profiled steps' split by host-side cause (compiling, DataLoader, allocation calls, synchronisations) and their
GPU idle time: each instant once, in order; unknown where the trace cannot show a cause; on synthetic traces with
hand-computed figures and on real ones, with the uneven-steps finding they feed."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.cli import main
from tests.analysis.synth import _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"


def _step(name, ts, dur):
    return _op(name, ts, dur, -1, cat="user_annotation")


def test_causes_split_each_step_once_in_order(tmp_path):
    """Step 0 [0, 100): a DataLoader fetch [10, 50) holding a cudaMalloc [20, 30) (the fetch claims it first), a
    cudaStreamSynchronize [60, 70); a kernel [0, 5) and [55, 80) on the GPU. Step 1 [100, 150): a compile range
    [100, 140) overlapping the fetch [130, 145) (compiling first: the fetch keeps [140, 145))."""
    events = [_step("ProfilerStep#0", 0, 100), _step("ProfilerStep#1", 100, 50),
              _op("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 10, 40, -1, cat="user_annotation"),
              _rt("cudaMalloc", 20, 10, 1), _rt("cudaStreamSynchronize", 60, 10, 2),
              _rt("cudaLaunchKernel", 0, 1, 3), _kernel("k", 0, 5, 3, -1), _rt("cudaLaunchKernel", 54, 1, 4),
              _kernel("k", 55, 25, 4, -1),
              _op("_compile.compile_inner (dynamo_timed)", 100, 40, -1, cat="user_annotation"),
              _op("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 130, 15, -1, cat="user_annotation")]
    a = analyze(write(tmp_path / "t.json", {"schemaVersion": 1, "traceEvents": events}))
    first, second = a.steps
    assert (first["compile_us"], first["data_loader_us"], first["allocation_us"], first["sync_us"]) == \
        (0.0, 40.0, 0.0, 10.0)
    assert (second["compile_us"], second["data_loader_us"], second["allocation_us"], second["sync_us"]) == \
        (40.0, 5.0, 0.0, 0.0)
    assert first["gpu_idle_us"] == pytest.approx(70.0) and second["gpu_idle_us"] == pytest.approx(50.0)


def test_causes_a_trace_cannot_show_are_unknown(tmp_path):
    events = [_step("ProfilerStep#0", 0, 100), _op("aten::mm", 0, 50, 1)]  # CPU ops only: no runtime calls, no GPU
    (row,) = analyze(write(tmp_path / "cpu.json", {"traceEvents": events})).steps
    assert (row["compile_us"], row["data_loader_us"], row["allocation_us"], row["sync_us"], row["gpu_idle_us"]) == \
        (0.0, 0.0, None, None, None)


def test_real_steps_by_cause(capsys):
    """Real traces: the CPU compile trace (torch 2.13) compiles in its first and third steps; the H100 loop that pins
    a new host buffer each step spends longer in cudaHostAlloc every step; the H100 DataLoader loop without workers
    waits in every step's fetch."""
    compiled = analyze(DATA / "cpu-compile-in-trace.json.gz")
    assert [round(r["compile_us"] / 1e3, 1) for r in compiled.steps] == [1880.0, 0.0, 52.7, 0.0]
    assert compiled.steps[0]["allocation_us"] is None and compiled.steps[0]["gpu_idle_us"] is None
    f = next(f for f in compiled.findings if f["id"] == "uneven-steps")
    assert f["message"].startswith("2 of 4 profiled steps took at least 1.5x the median step (55.89 ms)")
    assert f["suggestion"] == "Most of it was compiling (torch.compile): see compilation-in-trace."
    pinned = analyze(DATA / "allocations" / "pinned.json.gz")
    growth = [r["allocation_us"] for r in pinned.steps]
    assert growth == sorted(growth) and round(growth[-1] / 1e3, 1) == 22.3
    f = next(f for f in pinned.findings if f["id"] == "uneven-steps")
    assert f["suggestion"].startswith("Each step took longer than the one before")
    loader = analyze(DATA / "data-loading" / "workers0.json.gz")
    assert all(r["data_loader_us"] > 0.8 * r["dur_us"] for r in loader.steps)
    assert not any(f["id"] == "uneven-steps" for f in loader.findings)  # even steps, each waiting alike
    assert main(["analyze", str(DATA / "data-loading" / "workers0.json.gz"), "--table", "steps"]) == 0
    assert "DataLoader us" in capsys.readouterr().out
