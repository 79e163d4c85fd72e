"""Contractions computed elementwise (a stored broadcast product, then a reduction): found from recorded shapes,
their time and floor, the einsum that replaces them, and what a trace without shapes cannot tell."""

import copy
import gzip
import json
import math
from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.contractions import contraction_table
from bambaprof.analysis.trace import load_trace

from .synth import H200, _kernel, _op, _rt

DATA = Path(__file__).resolve().parents[1] / "data"
PEAKS = {"fp32": 494.7, "tf32": 494.7, "bf16": 989.4}


def _table(trace_path, gbps=4800.0):
    return contraction_table(load_trace(trace_path), gbps, lambda dtype: PEAKS.get(dtype or "bf16"))


def test_the_naive_fms_mixer_computes_its_four_contractions_elementwise():
    """The Foundation Model Stack's chunked scan on the H200 (3 forwards at 1 x 512): C B^T, the states, the
    inter-chunk outputs and the intra-chunk outputs, each as aten::mul then aten::sum of a float32 product."""
    rows = _table(DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz")
    assert [r["count"] for r in rows] == [3, 3, 3, 3]
    top = rows[0]
    assert top["operands"] == "[1, 2, 256, 1, 128, 128] x [1, 2, 1, 256, 128, 128]"
    assert top["product"] == "[1, 2, 256, 256, 128, 128]" and top["dtype"] == "float"
    assert top["product_bytes"] == 2 * 256 * 256 * 128 * 128 * 4  # 8.6 GB, one chunk pair of one layer
    assert (top["reduce"], top["reduced_dims"], top["einsum"]) == ("aten::sum", "[5]", "abde,acde->abcd")
    gpu = sum(r["gpu_us"] for r in rows)
    kernel_us = analyze(DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz").summary["kernel_us"]
    assert 0.9 * kernel_us < gpu < kernel_us  # most of the mixer's kernel time
    # the floor of C B^T at once: two [2, 256, 128, 128] operands and a [2, 256, 256, 128] result, float32, at
    # 4.8 TB/s, per call (its 2^32 FLOPs at the TF32 rate take less)
    per_call = (2 * 2 * 256 * 128 * 128 + 2 * 256 * 256 * 128) * 4 / 4.8e6
    assert top["floor_us"] == pytest.approx(3 * per_call)
    assert top["excess_us"] == pytest.approx(top["gpu_us"] - top["floor_us"])


def test_the_einsum_equations_compute_what_the_broadcast_products_did():
    """Each row's equation, run on small tensors of its operands' pattern (every dimension longer than 1 made 2 or
    3 long), gives the reduction of their broadcast product."""
    torch = pytest.importorskip("torch")
    rows = _table(DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz")
    rows += _table(DATA / "ssd-default-eager-b1-L512-h16.json.gz")
    assert len(rows) >= 8
    for r in rows:
        shapes = [json.loads(s) for s in r["operands"].split(" x ")]
        product = json.loads(r["product"])
        sizes = {d: 2 + d % 2 for d in range(len(product))}
        small = [[1 if n == 1 else sizes[d + len(product) - len(s)] for d, n in enumerate(s)] for s in shapes]
        g = torch.Generator().manual_seed(0)
        operands = [torch.randn(s, generator=g, dtype=torch.float64) for s in small]
        dims = json.loads(r["reduced_dims"])
        want = math.prod(operands[1:], start=operands[0]).sum(dims)
        got = torch.einsum(r["einsum"], *[t.squeeze() for t in operands])
        assert torch.allclose(got, want.squeeze()), r


def test_the_mamba_ssm_mixer_has_none_and_a_trace_without_shapes_cannot_tell(tmp_path):
    assert _table(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz") == []
    doc = json.loads(gzip.decompress((DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz").read_bytes()))
    for e in doc["traceEvents"]:
        for key in ("Input Dims", "Input type", "Concrete Inputs", "Input Strides"):
            e.get("args", {}).pop(key, None)
    path = tmp_path / "no-shapes.json"
    path.write_text(json.dumps(doc))
    assert _table(path) is None
    a = analyze(path)
    assert a.contractions is None
    assert not any(f["id"] == "elementwise-contraction" for f in a.findings)


def _doc(ops, kernels=()):
    events = [_op(*o[:3], ext=i + 1, dims=o[3], types=o[4], **({"Concrete Inputs": o[5]} if len(o) > 5 else {}))
              for i, o in enumerate(ops)]
    for k, (name, ts, dur, ext) in enumerate(kernels):
        events += [_rt("cudaLaunchKernel", ts - 5, 2, 100 + k, ext), _kernel(name, ts, dur, 100 + k, ext)]
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "traceEvents": events}


def _write(tmp_path, doc, name="t.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


F = ["float", "float"]


def test_a_chain_of_factors_a_mean_and_a_whole_reduction(tmp_path):
    doc = _doc([
        # (a * b * c).mean(-1): b's factor joins the chain
        ("aten::mul", 0, 5, [[8, 1, 16], [1, 8, 16]], F),
        ("aten::mul", 6, 5, [[8, 8, 16], [16]], F),
        ("aten::mean", 12, 5, [[8, 8, 16], [], [], []], ["float", "ScalarList", "Scalar", ""], ["", "[-1]", "False", ""]),
        # (x * y).sum(): every element
        ("aten::mul", 20, 5, [[32, 1], [1, 32]], F),
        ("aten::sum", 26, 5, [[32, 32], []], ["float", ""]),
    ], kernels=[("mul_k", 100, 10, 1), ("mul_k", 112, 10, 2), ("mean_k", 124, 10, 3), ("mul_k", 140, 4, 4),
                ("sum_k", 146, 4, 5)])
    rows = _table(_write(tmp_path, doc))
    assert len(rows) == 2
    chain, whole = rows
    assert chain["operands"] == "[8, 1, 16] x [1, 8, 16] x [16]" and chain["reduce"] == "aten::mean"
    assert chain["einsum"] == "ac,bc,c->ab" and chain["gpu_us"] == 30 and chain["count"] == 1
    assert chain["cpu_us"] == 15
    assert whole["reduced_dims"] == "all" and whole["einsum"] == "a,b->" and whole["gpu_us"] == 8
    # floor: operands + result once at 4.8 TB/s, or 3 (2 for the pair) FLOPs an element at 494.7 TFLOP/s
    assert chain["floor_us"] == pytest.approx(max((8 * 16 + 8 * 16 + 16 + 8 * 8) * 4 / 4.8e6, 3 * 1024 / 494.7e6))


def test_what_is_not_a_contraction_computed_elementwise(tmp_path):
    doc = _doc([
        ("aten::mul", 0, 5, [[64, 64], [64, 64]], F),  # no broadcast: x * y
        ("aten::sum", 6, 5, [[64, 64], []], ["float", ""]),
        ("aten::mul", 20, 5, [[64, 64], [1, 64]], F),  # a row scale: 1x its larger input
        ("aten::sum", 26, 5, [[64, 64], []], ["float", ""]),
        ("aten::mul", 40, 5, [[8, 1, 16], [1, 8, 16]], F),  # a product, then a reduction of another shape
        ("aten::sum", 46, 5, [[8, 16], []], ["float", ""]),
        ("aten::mul", 60, 5, [[8, 1, 16], [1, 8, 16]], F),  # a product read by something else first
        ("aten::add", 66, 5, [[8, 8, 16], [4, 8, 8, 16]], F),
        ("aten::sum", 72, 5, [[8, 8, 16], []], ["float", ""]),
        ("aten::mul", 80, 5, [[8, 1, 16], [1, 8, 16]], F),  # a product never reduced
    ])
    assert _table(_write(tmp_path, doc)) == []


def test_other_work_between_the_product_and_its_reduction_is_passed_over(tmp_path):
    doc = _doc([
        ("aten::mul", 0, 5, [[8, 1, 16], [1, 8, 16]], F),
        ("aten::exp", 6, 5, [[100]], ["float"]),  # another computation in between
        ("aten::sum", 12, 5, [[8, 8, 16], [], [], []], ["float", "ScalarList", "Scalar", ""], ["", "[2]", "False", ""]),
    ])
    rows = _table(_write(tmp_path, doc))
    assert len(rows) == 1 and rows[0]["einsum"] == "ac,bc->ab"


def test_a_cpu_only_trace_gives_host_time_and_no_gpu_figures(tmp_path):
    doc = _doc([("aten::mul", 0, 40, [[8, 1, 16], [1, 8, 16]], F), ("aten::sum", 50, 30, [[8, 8, 16], []], ["float", ""])])
    doc["deviceProperties"] = []
    rows = _table(_write(tmp_path, doc))
    assert len(rows) == 1
    assert rows[0]["cpu_us"] == 70 and rows[0]["gpu_us"] is None and rows[0]["floor_us"] is None
    a = analyze(_write(tmp_path, doc, "cpu.json"))
    assert a.contractions == rows
    # judged by host time against the trace's span (70 of 80 us), with no GPU time claimed at stake
    f = next(f for f in a.findings if f["id"] == "elementwise-contraction")
    assert f["time_us"] is None and f["severity"] == "high" and "88% of the trace's span on the host" in f["message"]
    assert "tensor cores" not in f["suggestion"] and "triton" not in f["suggestion"]


def test_the_real_cpu_run_of_the_default_variant_holds_them():
    """The tiny preset's default variant on the CPU (no GPU): its multiplies launch no GPU work, and their shapes
    are read all the same."""
    rows = _table(DATA / "cpu-tiny-default-prefill-with-stack.json.gz")
    assert len(rows) == 5 and all(r["gpu_us"] is None and r["cpu_us"] > 0 for r in rows)


def test_odd_shapes_and_arguments_are_no_contraction(tmp_path):
    doc = _doc([
        ("aten::mul", 0, 5, [[8, -1, 16], [1, 8, 16]], F),  # a negative dimension
        ("aten::sum", 6, 5, [[8, 8, 16], []], ["float", ""]),
        ("aten::mul", 20, 5, [[0, 1, 16], [1, 8, 16]], F),  # an empty product
        ("aten::sum", 26, 5, [[0, 8, 16], []], ["float", ""]),
        ("aten::mul", 40, 5, [[8, 1, 16], [1, 8, 16]], F),  # reduced over a dimension the product lacks
        ("aten::sum", 46, 5, [[8, 8, 16], [], [], []], ["float", "ScalarList", "Scalar", ""], ["", "[7]", "False", ""]),
        ("aten::mul", 60, 5, [[8, 1, 16], ["x", 8, 16]], F),  # not a number
        ("aten::sum", 66, 5, [[8, 8, 16], []], ["float", ""]),
    ])
    assert _table(_write(tmp_path, doc)) == []


def test_a_reduction_whose_dims_the_trace_lacks_has_unknown_dims_and_no_einsum(tmp_path):
    """Before PyTorch 2.1 a trace holds no Concrete Inputs: sum(x, dim, keepdim, dtype) is known to reduce some
    dims, not which (it is not a whole reduction)."""
    doc = _doc([("aten::mul", 0, 5, [[8, 1, 16], [1, 8, 16]], F),
                ("aten::sum", 6, 5, [[8, 8, 16], [], [], []], ["float", "ScalarList", "Scalar", ""])],
               kernels=[("mul_k", 100, 10, 1), ("sum_k", 112, 10, 2)])
    for e in doc["traceEvents"]:
        e.get("args", {}).pop("Concrete Inputs", None)
    rows = _table(_write(tmp_path, doc))
    assert len(rows) == 1 and rows[0]["reduced_dims"] == "unknown" and rows[0]["einsum"] is None
    # the floor counts the operands only (the result's size is unknown): still a lower bound
    assert rows[0]["floor_us"] == pytest.approx(max((8 * 16 + 8 * 16) * 4 / 4.8e6, 2 * 8 * 8 * 16 / 494.7e6))


def test_a_trace_this_torch_records_gives_its_contractions_and_not_its_einsum(tmp_path):
    """The PyTorch profiler of the installed torch on the CPU (record_shapes): two contractions written elementwise
    and a whole reduction are found, with the dims their calls recorded; torch.einsum (a bmm) is not one."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    a, b, c = torch.randn(4, 64, 1, 32), torch.randn(4, 1, 64, 32), torch.randn(32)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        (a * b).sum(-1)
        (a * b * c).mean(dim=(-1,))
        torch.einsum("bic,bjc->bij", a.squeeze(2), b.squeeze(1))
        (a * b).sum()
    path = tmp_path / "cpu.json"
    prof.export_chrome_trace(str(path))
    rows = _table(path)
    assert sorted((r["reduce"], r["reduced_dims"], r["einsum"]) for r in rows) == [
        ("aten::mean", "[3]", "abd,acd,d->abc"), ("aten::sum", "[3]", "abd,acd->abc"), ("aten::sum", "all", "abd,acd->")]
    assert all(r["gpu_us"] is None and r["cpu_us"] > 0 for r in rows)


def test_more_dimensions_than_letters_give_no_einsum():
    """A product of more than 52 dimensions longer than 1 has no einsum equation (the letters ran out, and the
    check that says so came after indexing past them)."""
    from bambaprof.analysis.contractions import _einsum

    shape = [2] * 60
    assert _einsum([(shape, "float"), (shape, "float")], shape, [59]) is None
    assert _einsum([([1, 3, 4], "float"), ([2, 1, 4], "float")], [2, 3, 4], [2]) == "bc,ac->ab"
