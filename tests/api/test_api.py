"""The public Python surface: profile, analyze, compare, report, re-exported from ``bambaprof``."""

import pytest

import bambaprof
from bambaprof.errors import UsageError

FAST = dict(warmup=1, iters=2, profile_warmup=0, profile_active=1)


def test_the_public_names_are_the_documented_ones():
    for name in ("profile", "record", "analyze", "compare", "report", "RunRecord", "Manifest", "RunConfig",
                 "read_manifest", "iter_runs", "Analysis", "Comparison", "get_variant"):
        assert name in bambaprof.__all__ and getattr(bambaprof, name) is not None
    import importlib

    importlib.import_module("bambaprof.analysis")  # importing the packages keeps the functions (no name clash)
    importlib.import_module("bambaprof.render")

    assert callable(bambaprof.analyze) and callable(bambaprof.report)


def test_dir_lists_the_public_names_and_each_one_resolves():
    import subprocess
    import sys

    # in a fresh interpreter: dir() before any lazy name was loaded
    code = "import bambaprof, sys; print(sorted(dir(bambaprof)) == sorted(bambaprof.__all__), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]  # listed, and listing imports nothing heavy
    assert all(getattr(bambaprof, name) is not None for name in bambaprof.__all__)


def test_profile_returns_run_records_that_the_readers_take(tmp_path):
    records = bambaprof.profile(["default", "independent"], workloads=["mixer"], seq_lens=[32], out=tmp_path,
                                **FAST)
    assert [r.status for r in records] == ["ok", "ok"] and [r.config.variant for r in records] == [
        "default", "independent"]
    assert all(r.manifest.timings.latency_ms.median > 0 for r in records)
    comp = bambaprof.compare(records[0].path, [records[1].path])
    assert comp.metric("latency") is not None
    page = bambaprof.report(tmp_path, tmp_path / "report.html")  # a folder of runs stands for its runs
    assert page.is_file() and records[1].run_id in page.read_text()
    again = bambaprof.profile(["default"], workloads=["mixer"], seq_lens=[32], out=tmp_path, resume=True, **FAST)
    assert again[0].status == "skipped (done)"


@pytest.mark.parametrize("kwargs,message", [
    (dict(iters=0), "iters must be at least 1"), (dict(colour="red"), "unknown profile setting"),
    (dict(warmup=0), "warmup must be at least 1, not 0"), (dict(seed=-1), "seed must be at least 0"),
    (dict(variants=["nope"]), "unknown variant 'nope'"), (dict(device="cuda:0"), "no CUDA GPU"),
    (dict(device="tpu"), "device 'tpu' is not a device here: give auto, cpu, cuda or cuda:N"),
])
def test_bad_arguments_are_usage_errors(tmp_path, kwargs, message):
    if "cuda" in str(kwargs) and __import__("torch").cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(UsageError, match=message):
        bambaprof.profile(out=tmp_path, workloads=["mixer"], **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call, message", [
    (lambda: bambaprof.analyze(None), "analyze takes a path"),
    (lambda: bambaprof.analyze(7), "analyze takes a path .* not int"),
    (lambda: bambaprof.analyze_ranks([None]), "analyze_ranks takes a path"),
    (lambda: bambaprof.analyze_ranks("x", workers=0), "workers must be a positive int"),
    (lambda: bambaprof.compare(None, "x"), "compare takes a path"),
    (lambda: bambaprof.compare(["x"], [3]), "compare takes a path"),
    (lambda: bambaprof.report("x", None), "report takes a path"),
    (lambda: bambaprof.analyze_ranks(None), "analyze_ranks takes a path .* not NoneType"),
])
def test_arguments_of_the_wrong_type_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_a_process_of_a_kineto_trace_and_ranks_none_can_read(tmp_path):
    from tests.analysis.synth import base_trace, write

    trace = write(tmp_path / "t.json.gz", base_trace())
    with pytest.raises(bambaprof.BambaprofError, match=r"picks one process of an Nsight Systems export, and this "):
        bambaprof.analyze(trace, process=1)
    with pytest.raises(UsageError, match="process must be a pid"):
        bambaprof.analyze(trace, process="1")
    with pytest.raises(bambaprof.BambaprofError, match=r"none of the 1 traces could be read \(.*no such file"):
        bambaprof.analyze_ranks(tmp_path / "missing.json")
