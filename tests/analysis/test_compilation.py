"""torch.compile's compilation inside the profiled window: the compile ranges, the steps holding frame compiles,
the GPU idle inside them, and the compilation-in-trace finding."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.compilation import COMPILE_RANGE, FRAME_COMPILE
from tests.analysis.synth import _op, base_trace, write

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_ranges_torch_compile_records():
    assert COMPILE_RANGE.match(FRAME_COMPILE) and COMPILE_RANGE.match("GraphLowering.codegen (dynamo_timed)")
    for other in ("Torch-Compiled Region: 0/0", "TorchDynamo Cache Lookup", "GraphLowering.codegen_data: compile_id=0/0",
                  " (dynamo_timed)", "## Call CompiledFxGraph abc ##"):
        assert not COMPILE_RANGE.match(other), other


def test_a_real_cpu_trace_with_a_compile_and_a_recompile():
    """benchmarks/compilation_trace.py on the CPU (torch 2.13): four profiled steps of a compiled function, the
    batch growing at the third: one frame compiled in the first step (1.88 s), one recompiled in the third."""
    a = analyze(DATA / "cpu-compile-in-trace.json.gz")
    s = a.summary
    assert (s["compile_frames"], s["compile_steps"], s["compile_frames_after_first_step"]) == (2, 2, 1)
    assert s["compile_us"] == pytest.approx(1932760.3, abs=0.1) and s["compile_gpu_idle_us"] is None  # no GPU
    f = next(f for f in a.findings if f["id"] == "compilation-in-trace")
    assert "2 frame(s) compiled, in 2 of 4 profiled steps" in f["message"] and "94% of the trace's" in f["message"]
    assert "missing warm-up" in f["suggestion"] and "TORCH_LOGS=recompiles" in f["suggestion"]
    assert f["time_us"] is None and f["severity"] == "high"


def test_a_real_gpu_trace_with_a_compile_and_a_recompile():
    """The same script on an H100 (torch 2.11 + CUDA 13): the GPU sits idle 3.89 s of its 4.16 s window while Dynamo
    and inductor compile (94% of the idle time by cause). host-bound fires too (the GPU waited on the host), but its
    advice starts with taking the compilation out, not CUDA graphs; uneven-steps names the slow steps and leaves the
    time to compilation-in-trace."""
    a = analyze(DATA / "h100-compile-in-trace.json.gz")
    s = a.summary
    assert (s["compile_frames"], s["compile_steps"], s["compile_frames_after_first_step"]) == (2, 2, 1)
    assert round(s["compile_gpu_idle_us"] / 1e6, 2) == 3.89
    assert s["idle_by_cause"]["compilation"] / s["idle_by_cause"]["idle"] > 0.9
    found = {f["id"]: f for f in a.findings}
    assert found["compilation-in-trace"]["severity"] == "high"
    assert found["host-bound"]["suggestion"].startswith("First take compilation out of the profiled steps: 3,886.84 ms")
    assert found["uneven-steps"]["time_us"] is None
    assert found["uneven-steps"]["suggestion"] == "Most of it was compiling (torch.compile): see compilation-in-trace."


def test_compilation_while_the_gpu_waits(tmp_path):
    """A frame compiled between two kernels (base_trace's GPU gap [45, 106)): its idle time is at stake, and the
    idle split gives it to compilation before the rest."""
    t = base_trace()
    t["traceEvents"] += [_op(FRAME_COMPILE, 50, 40, -1, cat="user_annotation"),
                         _op("GraphLowering.codegen (dynamo_timed)", 60, 20, -1, cat="user_annotation")]
    a = analyze(write(tmp_path / "c.json.gz", t))
    s = a.summary
    assert (s["compile_frames"], s["compile_us"], s["compile_gpu_idle_us"]) == (1, 40.0, 40.0)
    assert s["compile_steps"] is None and s["compile_frames_after_first_step"] is None  # no steps
    assert s["idle_by_cause"]["compilation"] == 40.0
    f = next(f for f in a.findings if f["id"] == "compilation-in-trace")
    assert f["time_us"] == 40.0 and "Warm up before recording" in f["suggestion"]
    plain = analyze(write(tmp_path / "p.json.gz", base_trace()))
    assert plain.summary["compile_frames"] == 0 and not any(f["id"] == "compilation-in-trace" for f in plain.findings)
