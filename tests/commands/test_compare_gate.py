"""The regression gate never passes silently: absent or zero metrics and non-finite thresholds are usage errors."""

import pytest

from bambaprof.analysis import analyze
from bambaprof.cli import main
from tests.analysis.synth import base_trace, write
from tests.analysis.test_compare import make_run


def cpu_only(trace):
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("cat") not in ("kernel", "gpu_memcpy")]
    return trace


def test_a_gate_on_gpu_time_of_cpu_runs_is_a_usage_error_naming_what_exists(tmp_path, capsys):
    a = make_run(tmp_path, "a", cpu_only(base_trace()), [2.5, 2.6, 2.4])
    b = make_run(tmp_path, "b", cpu_only(base_trace()), [24.0, 25.0, 26.0])  # 9.7x slower
    assert main(["compare", str(a), str(b), "--fail-on-regression", "5"]) == 2
    err = capsys.readouterr().err
    assert "metric 'gpu_time' is not available" in err and "latency" in err  # a CPU run has no GPU time
    assert len(err.strip().splitlines()) == 1
    assert main(["compare", str(a), str(b), "--fail-on-regression", "5", "--metric", "latency"]) == 1  # the slowdown


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_non_finite_or_negative_thresholds_are_refused(tmp_path, capsys, value):
    t = write(tmp_path / "t.json.gz", base_trace())
    assert main(["compare", str(t), str(t), "--fail-on-regression", value]) == 2
    assert "--fail-on-regression must be a finite percentage" in capsys.readouterr().err


def test_profiler_steps_and_the_clock_marker_are_not_ops(tmp_path):
    from tests.analysis.synth import _op

    trace = base_trace()
    trace["traceEvents"] += [_op("ProfilerStep#4", 0, 130, 300, cat="user_annotation"),
                             _op("bambaprof::clock_sync", 0, 0.5, 301, cat="user_annotation")]
    names = {o["name"] for o in analyze(write(tmp_path / "t.json.gz", trace)).ops}
    assert "ProfilerStep#4" not in names and "bambaprof::clock_sync" not in names and "aten::mm" in names


@pytest.mark.parametrize("argv", [["analyze", "{fifo}"], ["compare", "{fifo}", "{fifo}"], ["report", "{fifo}", "-o", "{out}"],
                                  ["sweep", "run", "{fifo}"]])
def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path, capsys, argv):
    import os

    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    code = main([a.format(fifo=fifo, out=tmp_path / "r.html") for a in argv])
    err = capsys.readouterr().err
    assert code in (1, 2) and "not a regular file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
