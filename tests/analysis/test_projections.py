"""Runs of matrix products of one activation shape (``--table projections``): found, grouped and bounded by hand on
synthetic traces, and on a real H100 trace of the tiny model's attention."""

import copy
from pathlib import Path

import pytest

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.projections import product_operands, projection_table
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"
BF16 = "c10::BFloat16"
HIDDEN = [2, 8, 256]  # an activation of 16 rows of 256


def _linear(ts, ext, n, k=256, shape=HIDDEN, dur_us=4.0, gpu=True):
    """An aten::linear of ``shape`` by an ``n x k`` weight at ``ts`` (20 us on the host), and its kernel."""
    events = [_op("aten::linear", ts, 20, ext, [shape, [n, k], []], [BF16, BF16, ""])]
    if gpu:
        events += [_rt("cudaLaunchKernel", ts + 5, 3, 9000 + ext, ext),
                   _kernel("gemv_kernel", 1000 + ts, dur_us, 9000 + ext, ext)]
    return events


def _trace(*events, gpu=True):
    out = {"schemaVersion": 1, "traceEvents": [e for group in events for e in group]}
    if gpu:
        out["deviceProperties"] = [copy.deepcopy(H200)]
    return out


def _table(tmp_path, trace, gbps=4800.0, tflops=989.0):
    t = load_trace(write(tmp_path / "t.json.gz", trace))
    return projection_table(t, gbps, lambda dtype: tflops)


def _qkv(t0, ext, gpu=True, after_q=None, after_k=None):
    """q, k and v projections (256 -> 256, 64, 64) under an ``attention`` range, views between them, and ``after_q``,
    ``after_k`` (ops at 32 and 70 us) where given."""
    events = [[_op("attention", t0, 200, ext, cat="user_annotation")],
              _linear(t0 + 10, ext + 1, 256, gpu=gpu, dur_us=6.0), [_op("aten::view", t0 + 35, 2, ext + 2)],
              *([after_q] if after_q else []),
              _linear(t0 + 40, ext + 3, 64, gpu=gpu), [_op("aten::view", t0 + 65, 2, ext + 4)],
              *([after_k] if after_k else []),
              _linear(t0 + 100, ext + 5, 64, gpu=gpu), [_op("aten::transpose", t0 + 125, 2, ext + 6)]]
    return events


def _add(ts, gpu=True):
    """An aten::add at ``ts`` (us), with its kernel on a GPU."""
    ext = 900 + ts
    return [_op("aten::add", ts, 2, ext, [[2, 8, 64], [2, 8, 64], []], [BF16, BF16, "Scalar"])] + \
        ([_rt("cudaLaunchKernel", ts, 1, 9000 + ext, ext), _kernel("add_kernel", 1000 + ts, 2.0, 9000 + ext, ext)]
         if gpu else [])


def test_operands():
    assert product_operands("aten::linear", [[2, 8, 256], [64, 256], []]) == ([2, 8, 256], 256, 64)
    assert product_operands("aten::addmm", [[64], [16, 256], [256, 64], [], []]) == ([16, 256], 256, 64)
    assert product_operands("aten::mm", [[16, 256], [256, 64]]) == ([16, 256], 256, 64)
    assert product_operands("aten::matmul", [[2, 8, 256], [2, 256, 64]]) is None  # a batched B: no weight
    assert product_operands("aten::linear", [[2, 8, 128], [64, 256], []]) is None  # the inner sizes disagree
    assert product_operands("aten::mm", "not dims") is None


def test_qkv_run_by_hand(tmp_path):
    rows = _table(tmp_path, _trace(*_qkv(0, 10), *_qkv(1000, 30)))
    assert len(rows) == 1
    r = rows[0]
    assert (r["caller"], r["shape"], r["dtype"], r["weights"]) == ("attention", "2x8x256", "bf16",
                                                                    "256x256, 64x256, 64x256")
    assert (r["products"], r["runs"], r["launches"]) == (3, 2, 6)
    assert r["gpu_us"] == pytest.approx(2 * (6 + 4 + 4)) and r["mean_us"] == pytest.approx(28 / 6)
    assert r["cpu_us"] == pytest.approx(2 * 3 * 20)
    # bytes: 16 x 256 read, 256 x N read, 16 x N written, bf16; at 4800 GB/s (the FLOPs are shorter)
    floor = sum(2 * (16 * 256 + 256 * n + 16 * n) for n in (256, 64, 64)) / 4.8e6
    stacked = 2 * (16 * 256 + 256 * 384 + 16 * 384) / 4.8e6
    assert r["floor_us"] == pytest.approx(2 * floor) and r["stacked_floor_us"] == pytest.approx(2 * stacked)
    assert r["at_stake_us"] == pytest.approx(2 * (14 - 6))  # each run: 14 us less its longest product


def test_a_kernel_between_breaks_the_run(tmp_path):
    rows = _table(tmp_path, _trace(*_qkv(0, 10, after_q=_add(32))))
    assert [(r["weights"], r["products"]) for r in rows] == [("64x256, 64x256", 2)]  # k and v; q alone before it
    # q then k alone: q's output has the shape of k's input, so the two may be layers of a chain; left out
    assert _table(tmp_path, _trace(*_qkv(0, 10, after_k=_add(70)))) == []


def test_square_chains_and_backward_are_left_out(tmp_path):
    chain = [_linear(10 + 30 * i, 10 + i, 256) for i in range(3)]  # 256 -> 256 three times: may be layers
    assert _table(tmp_path, _trace(*chain)) == []
    grads = [[_op("autograd::engine::evaluate_function: AddmmBackward0", 0, 300, 5, cat="user_annotation")],
             [_op("AddmmBackward0", 1, 290, 6)], _linear(10, 11, 64), _linear(40, 12, 64)]
    assert _table(tmp_path, _trace(*grads)) == []


def test_cpu_only_and_without_shapes(tmp_path):
    rows = _table(tmp_path, _trace(*_qkv(0, 10, gpu=False), gpu=False))
    assert [(r["products"], r["runs"], r["gpu_us"], r["at_stake_us"]) for r in rows] == [(3, 1, None, None)]
    rows = _table(tmp_path, _trace(*_qkv(0, 10, gpu=False, after_q=_add(32, gpu=False)), gpu=False))
    assert [r["products"] for r in rows] == [2]  # not a view: it computes
    bare = _trace(*_qkv(0, 10))
    for e in bare["traceEvents"]:
        e["args"].pop("Input Dims", None)
    assert _table(tmp_path, bare) is None


def test_real_h100_attention():
    """The tiny model generating without a cache on an H100 (fp32): its attention's q, k and v projections (64 -> 64,
    32, 32), one run a forward, six forwards of 16 to 21 tokens."""
    a = analyze(DATA / "generation" / "h100-run-no-cache")
    rows = a.projections
    assert {(r["caller"], r["weights"], r["products"]) for r in rows} == {("attention", "64x64, 32x64, 32x64", 3)}
    assert sorted(r["shape"] for r in rows) == [f"1x{n}x64" for n in range(16, 22)]
    assert sum(r["runs"] for r in rows) == 6 and a.summary["projection_runs"] == 6
    assert a.summary["projection_at_stake_us"] == pytest.approx(sum(r["at_stake_us"] for r in rows))
    for r in rows:
        assert 0 < r["at_stake_us"] < r["gpu_us"] and r["mean_us"] < 20


def test_cli_table(capsys, tmp_path):
    from bambaprof.cli import main

    assert main(["analyze", str(DATA / "generation" / "h100-run-no-cache"), "--table", "projections"]) == 0
    assert "64x64, 32x64, 32x64" in capsys.readouterr().out
    plain = write(tmp_path / "plain.json.gz", _trace(*_qkv(0, 10, after_q=_add(32), after_k=_add(70))))
    assert main(["analyze", str(plain), "--table", "projections"]) == 0
    assert "no two matrix products of one activation shape ran one after another" in capsys.readouterr().out
    assert main(["analyze", str(plain), "--table", "projections", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("caller,shape,dtype,weights,products")
