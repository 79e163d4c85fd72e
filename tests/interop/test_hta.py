"""HolisticTraceAnalysis loads bambaprof's run directories as they are (the trace alone at the top, with a
rank; the run's own files in ``bambaprof/``). Needs ``holistictraceanalysis`` (``tox -e hta``); skipped
without it."""

from pathlib import Path

import pytest

hta = pytest.importorskip("hta.trace_analysis")

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "traces" / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("run", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_hta_loads_a_run_directory(run):
    from bambaprof.analysis import analyze

    analysis = hta.TraceAnalysis(trace_dir=str(run))
    kernels, _ = analysis.get_gpu_kernel_breakdown(visualize=False)
    assert list(analysis.t.get_all_traces()) == [0]  # one rank, from distributedInfo
    ours = analyze(run).summary["kernel_us"]
    # HTA rounds each event's start and end to whole microseconds (sub-us kernels can come out negative) and
    # buckets small kernels as "others": its totals are close to ours, not equal (see the README)
    assert 0.8 * ours <= float(kernels["sum"].sum()) <= 1.01 * ours
