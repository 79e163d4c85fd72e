"""Generation that recomputes its prefix: the weight products' token counts growing forward after forward, the
recomputed time, and the no-cache-generation finding; on real CPU generations of bambaprof's tiny model without and
with the cache (tests/data/generation/) and a synthetic GPU trace with hand-computed figures."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.generation import _runs
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data" / "generation"


def test_growth_runs():
    forwards = [(1, 16)] * 3 + [(1, 17)] * 3 + [(1, 18)] * 3 + [(1, 19)] * 3  # three layers a forward
    assert _runs(forwards) == [(0, 11, 1)]
    assert _runs([(1, 32), (1, 1), (1, 1), (1, 1)]) == []  # a prompt, then one token a forward (a cache)
    assert _runs([(1, 100), (1, 101), (1, 102)]) == []  # three forwards: not yet a run
    # a prefix of 4 tokens or more: the run starts at 4
    assert _runs([(1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7)]) == [(2, 5, 1)]
    assert _runs([(8, 100), (8, 101), (8, 102), (8, 103)]) == [(0, 3, 8)]  # batch 8: 8 tokens a forward
    assert _runs([(10,), (11,), (12,), (13,), (10,), (11,), (12,), (13,)]) == [(0, 3, 1), (4, 7, 1)]  # flattened, b 1
    assert _runs([(4096,), (4608,), (5120,), (5632,)]) == []  # a batch growing by 512 rows: no generation
    assert _runs([(1, 16), (2, 17), (3, 18), (4, 19)]) == []  # two dims change


def test_real_generation_without_and_with_the_cache():
    """Without the cache, every weight product of the tiny model ran on 16, 17, ..., 21 tokens: 26.7 ms of their
    28.6 ms on tokens an earlier forward had run, 13% of the span (no-cache-generation, medium; the run recorded
    --no-cache). With the cache: the prompt, then one token a forward: nothing."""
    a = analyze(DATA / "run-no-cache")
    top = next(r for r in a.generation if r["weight"] == "[64, 128]")
    assert (top["op"], top["runs"], top["first_tokens"], top["last_tokens"], top["step"], top["calls"]) == \
        ("aten::linear", 1, 16, 21, 1, 30)
    assert 0 < top["recomputed_cpu_us"] < top["cpu_us"] and top["gpu_us"] is None
    assert {r["first_tokens"] for r in a.generation} == {16} and {r["last_tokens"] for r in a.generation} == {21}
    (f,) = [f for f in a.findings if f["id"] == "no-cache-generation"]
    assert f["severity"] == "medium" and f["time_us"] is None
    assert "16, 17, ..., 21 tokens" in f["message"] and "(this run was profiled with --no-cache)" in f["message"]
    cached = analyze(DATA / "cache.json.gz")
    assert cached.generation == [] and can_judge(cached, "no-cache-generation")
    assert not [f for f in cached.findings if f["id"] == "no-cache-generation"]


def test_a_growing_batch_is_no_generation():
    """The H100 allocation fixture's batch grows by 512 rows a step (4,096 to 5,632): no forward on one token more."""
    a = analyze(DATA.parent / "allocations" / "growing.json.gz")
    assert a.generation == [] and not [f for f in a.findings if f["id"] == "no-cache-generation"]


def test_gpu_figures_by_hand(tmp_path):
    """Four forwards of one linear on 8, 9, 10, 11 tokens, each launching a kernel of 10 x tokens us: 380 us; on
    tokens an earlier forward ran, 0 + 80 + 90 + 100 = 270 us."""
    events, t = [], 0.0
    for i, n in enumerate((8, 9, 10, 11)):
        events += [_op("aten::linear", t, 5, 1 + i, [[1, n, 64], [128, 64], []], ["float", "float", ""]),
                   _rt("cudaLaunchKernel", t + 1, 1, 10 + i, 1 + i), _kernel("gemm", t + 10, 10.0 * n, 10 + i, 1 + i)]
        t += 200
    a = analyze(write(tmp_path / "g.json.gz", {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}))
    (row,) = a.generation
    assert (row["gpu_us"], row["recomputed_gpu_us"]) == (pytest.approx(380.0), pytest.approx(270.0))
    (f,) = [f for f in a.findings if f["id"] == "no-cache-generation"]
    assert f["time_us"] == pytest.approx(270.0) and "71% of kernel time" in f["message"]
    assert "this run was profiled" not in f["message"]


def test_cli_table(capsys):
    assert main(["analyze", str(DATA / "run-no-cache"), "--table", "generation"]) == 0
    assert "[64, 128]" in capsys.readouterr().out


def test_real_h100_generation_without_the_cache():
    """bambaprof's tiny model generating without its cache on an H100 (a run directory): the weight products grow by
    a token a forward; the finding judges GPU time and names the run's --no-cache."""
    a = analyze(DATA / "h100-run-no-cache")
    rows = a.generation
    assert rows and all((r["first_tokens"], r["last_tokens"], r["step"]) == (16, 21, 1) for r in rows)
    assert all(0 < r["recomputed_gpu_us"] < r["gpu_us"] for r in rows)
    (f,) = [f for f in a.findings if f["id"] == "no-cache-generation"]
    assert f["time_us"] == pytest.approx(sum(r["recomputed_gpu_us"] for r in rows))
    assert "of kernel time (this run was profiled with --no-cache)" in f["message"]
