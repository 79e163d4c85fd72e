"""CUDA graphs recorded inside the profiled window: CUDA graph trees' recording ranges and stream captures by their
runtime calls (counted once where one holds the other), the steps holding them, the GPU idle inside them, the idle
split's cause, the replays, and the cudagraph-recording finding; on synthetic traces with hand-computed figures."""

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.compilation import COMPILE_RANGE
from bambaprof.analysis.cuda_graphs import TREE_RECORD
from tests.analysis.synth import H200, _kernel, _op, _rt, write


def _steps_doc(captures=((1, "tree"), (2, "tree"), (3, "capture"))):
    """Four profiled steps of 1000 us; each runs a kernel at [s+100, s+200) and replays a graph (cudaGraphLaunch at
    s+850, its kernel [s+860, s+900)). A tree recording is a range [s+300, s+800) holding a capture's calls
    (begin s+320, end s+600, instantiate [s+650, s+750)); a capture by hand is its calls alone: begin s+300, end
    s+500, instantiate [s+520, s+720)."""
    events, corr = [], 100
    for i in range(4):
        s = 1000 * i
        events += [_op(f"ProfilerStep#{i + 1}", s, 1000, -1, cat="user_annotation"),
                   _op("aten::mm", s + 10, 20, corr), _rt("cudaLaunchKernel", s + 12, 5, corr, corr),
                   _kernel("gemm", s + 100, 100, corr, corr),
                   _rt("cudaGraphLaunch", s + 850, 5, corr + 1), _kernel("graph_gemm", s + 860, 40, corr + 1, -1)]
        corr += 2
    for i, kind in captures:
        s = 1000 * i
        if kind == "tree":
            events += [_op(TREE_RECORD, s + 300, 500, -1, cat="user_annotation"),
                       _rt("cudaStreamBeginCapture", s + 320, 2, corr), _rt("cudaStreamEndCapture", s + 600, 2, corr + 1),
                       _rt("cudaGraphInstantiateWithFlags", s + 650, 100, corr + 2)]
        else:
            events += [_rt("cudaStreamBeginCapture", s + 300, 2, corr), _rt("cudaStreamEndCapture", s + 500, 2, corr + 1),
                       _rt("cudaGraphInstantiate", s + 520, 200, corr + 2)]
        corr += 3
    return {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}


def test_tree_ranges_are_not_compilation():
    assert not COMPILE_RANGE.match(TREE_RECORD) and not COMPILE_RANGE.match("cudagraphify.get_container (dynamo_timed)")
    assert COMPILE_RANGE.match("GraphLowering.codegen (dynamo_timed)")


def test_recordings_in_later_steps(tmp_path):
    """Two tree recordings (steps 2 and 3, their captures inside counted once) and a capture by hand (step 4): 1420 us
    of host time, all of it GPU idle, after the first step; four replays; the finding's time at stake."""
    a = analyze(write(tmp_path / "t.json.gz", _steps_doc()))
    s = a.summary
    assert (s["cudagraph_records"], s["cudagraph_record_us"], s["cudagraph_record_gpu_idle_us"]) == (3, 1420.0, 1420.0)
    assert (s["cudagraph_record_steps"], s["cudagraph_records_after_first_step"], s["cudagraph_replays"]) == (3, 3, 4)
    assert s["cudagraph_record_kinds"] == "capture, cudagraph trees"
    assert s["compile_us"] == 0.0 and s["idle_by_cause"]["CUDA graph recording"] == 1420.0
    assert [r.get("cudagraph_record_us") for r in a.steps] == [0.0, 500.0, 500.0, 420.0]
    (f,) = [f for f in a.findings if f["id"] == "cudagraph-recording"]
    assert f["time_us"] == 1420.0 and f["severity"] == "high"
    assert "torch.compile's CUDA graph trees and stream captures" in f["message"] and "in 3 of 4" in f["message"]
    assert "cudagraph_skip_dynamic_graphs" in f["suggestion"]


def test_first_step_recordings_are_a_warm_up(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", _steps_doc(((0, "tree"),))))
    s = a.summary
    assert (s["cudagraph_records"], s["cudagraph_record_steps"], s["cudagraph_records_after_first_step"]) == (1, 1, 0)
    (f,) = [f for f in a.findings if f["id"] == "cudagraph-recording"]
    assert "a warm-up the profiler recorded" in f["suggestion"]


def test_replays_alone_and_unfinished_captures(tmp_path):
    """Steps that only replay: no recording, no finding; a capture begun and never ended counts to its begin call's
    end; an end or an instantiation with no capture begun on its thread counts nothing."""
    a = analyze(write(tmp_path / "t.json.gz", _steps_doc(())))
    assert (a.summary["cudagraph_records"], a.summary["cudagraph_replays"]) == (0, 4)
    assert not any(f["id"] == "cudagraph-recording" for f in a.findings)
    doc = _steps_doc(())
    doc["traceEvents"] += [_rt("cudaStreamBeginCapture", 2300, 4, 900), _rt("cudaStreamEndCapture", 2400, 2, 901),
                           _rt("cudaGraphInstantiate", 2410, 50, 902)]
    doc["traceEvents"][-3]["tid"] = 5  # begun on another thread than its end
    a = analyze(write(tmp_path / "u.json.gz", doc))
    assert (a.summary["cudagraph_records"], a.summary["cudagraph_record_us"]) == (1, 4.0)


def test_a_trace_without_host_activity(tmp_path):
    doc = {"schemaVersion": 1, "traceEvents": [_kernel("gemm", 0, 10, 1, -1)]}
    s = analyze(write(tmp_path / "t.json.gz", doc)).summary
    assert s["cudagraph_records"] is None and s["cudagraph_replays"] is None
    assert s["idle_by_cause"] is None or s["idle_by_cause"].get("CUDA graph recording") is None


def test_real_h100_traces():
    """benchmarks/cudagraph_traces.py on an H100 (torch 2.11): a reduce-overhead MLP warmed up on its one size only
    replays (8 graph launches, no recording); fed a new batch size every step, CUDA graph trees record a graph in
    each of the four steps (medium: 8% of a window the host holds); captured by hand every step, four captures, 52%
    of the window (high)."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "cuda-graphs"
    replayed = analyze(data / "replayed.json.gz")
    assert (replayed.summary["cudagraph_records"], replayed.summary["cudagraph_replays"]) == (0, 8)
    assert not any(f["id"] == "cudagraph-recording" for f in replayed.findings)
    for name, kind, severity in (("new-shapes", "cudagraph trees", "medium"), ("captured", "capture", "high")):
        a = analyze(data / f"{name}.json.gz")
        s = a.summary
        assert (s["cudagraph_records"], s["cudagraph_record_steps"], s["cudagraph_records_after_first_step"],
                s["cudagraph_replays"], s["cudagraph_record_kinds"]) == (4, 4, 3, 4, kind), name
        assert 0 < s["cudagraph_record_gpu_idle_us"] <= s["cudagraph_record_us"] and s["compile_us"] == 0.0
        assert s["idle_by_cause"]["CUDA graph recording"] == s["cudagraph_record_gpu_idle_us"]
        (f,) = [f for f in a.findings if f["id"] == "cudagraph-recording"]
        assert f["severity"] == severity and f["time_us"] == s["cudagraph_record_gpu_idle_us"], name
    found = {f["id"]: f for f in analyze(data / "new-shapes.json.gz").findings}
    assert "cudagraph_skip_dynamic_graphs" in found["cudagraph-recording"]["suggestion"]
    assert found["host-bound"]["suggestion"].startswith("First stop recording CUDA graphs inside the steps: 4.70 ms")
