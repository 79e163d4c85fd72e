"""Depthwise convolutions on ATen's generic kernels: the calls (causal conv1d or not), their floor, and the
depthwise-conv finding; on the real H200 traces of Bamba-9B mixers (their causal conv1d through
aten::_conv_depthwise2d) and synthetic traces with hand-computed figures."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"
BF16 = "c10::BFloat16"
GENERIC = "void at::native::(anonymous namespace)::conv_depthwise2d_forward_kernel_generic<c10::BFloat16, int>(...)"


def test_the_mamba_mixers_causal_conv1d_on_the_h200():
    """mamba_ssm's SSD under a Bamba-9B mixer (b1, L512): the causal conv1d (8448 channels, kernel 4, padding 3) ran
    ATen's generic depthwise kernel, 149.7 us in 3 calls, 13.7x the floor of its 52.3 MB (13% of kernel time; low: the
    window is mostly host-bound). At L2048 (the models trace), 188.3 us, 13.0x, 22% of kernel time: medium."""
    a = analyze(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    (row,) = a.depthwise_convs
    assert (row["op"], row["kind"], row["input"], row["weight"], row["dtype"], row["padding"], row["count"]) == \
        ("aten::_conv_depthwise2d", "causal conv1d", "[1, 8448, 1, 512]", "[8448, 1, 1, 4]", "bf16", "[0, 3]", 3)
    per_call = 8448 * 512 * 2 + 8448 * 4 * 2 + 8448 * 2 + 8448 * 515 * 2  # input, weight, bias, output (L + 3)
    assert row["floor_us"] == pytest.approx(3 * per_call / (a.summary["peak_bandwidth_gbps"] * 1e3))
    assert round(row["gpu_us"], 1) == 149.7 and row["kernels"] == "conv_depthwise2d_forward_kernel_generic"
    (f,) = [f for f in a.findings if f["id"] == "depthwise-conv"]
    assert f["time_us"] == pytest.approx(row["excess_us"]) and "13.7x their floor" in f["message"]
    assert "causal_conv1d_fn(x, weight, bias, activation='silu')" in f["suggestion"]
    models = analyze(DATA / "h200-models-trace.json.gz")
    (f,) = [f for f in models.findings if f["id"] == "depthwise-conv"]
    assert f["severity"] == "medium" and "22% of kernel time" in f["message"] and "13.0x" in f["message"]


def _depthwise(tmp_path, dur=100.0, name="t.json.gz"):
    """A 3x3 depthwise convolution of [8, 64, 56, 56] bf16 (padding 1) through aten::_conv_depthwise2d launching
    ATen's generic kernel for ``dur`` us, a 100 us GEMM beside it, a backward call, and a kernel no op launched."""
    dims = [[8, 64, 56, 56], [64, 1, 3, 3], [], [64], [], [], []]
    types = [BF16, BF16, "ScalarList", BF16, "ScalarList", "ScalarList", "ScalarList"]
    conv = _op("aten::_conv_depthwise2d", 0, 5, 1, dims, types)
    conv["args"]["Concrete Inputs"] = ["", "", "[3, 3]", "", "[1, 1]", "[1, 1]", "[1, 1]"]
    events = [conv, _rt("cudaLaunchKernel", 1, 1, 10, 1), _kernel(GENERIC, 10, dur, 10, 1),
              _op("aten::mm", 200, 5, 2), _rt("cudaLaunchKernel", 201, 1, 11, 2), _kernel("gemm", 210, 100, 11, 2),
              _op("aten::_conv_depthwise2d_backward", 400, 5, 3), _rt("cudaLaunchKernel", 401, 1, 12, 3),
              _kernel("conv_depthwise2d_backward_kernel<c10::BFloat16>", 410, 20, 12, 3),
              _kernel(GENERIC, 500, 10, 13, -1)]
    return write(tmp_path / name, {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events})


def test_a_depthwise_2d_convolution_by_hand(tmp_path):
    a = analyze(_depthwise(tmp_path))
    rows = {r["kind"]: r for r in a.depthwise_convs}
    fwd = rows["depthwise"]
    assert (fwd["input"], fwd["weight"], fwd["padding"], fwd["count"], fwd["gpu_us"]) == \
        ("[8, 64, 56, 56]", "[64, 1, 3, 3]", "[1, 1]", 1, 100.0)
    moved = (8 * 64 * 56 * 56 * 2) * 2 + 64 * 9 * 2 + 64 * 2  # input, output (same size), weight, bias
    assert fwd["floor_us"] == pytest.approx(moved / (a.summary["peak_bandwidth_gbps"] * 1e3))
    assert (rows["backward"]["gpu_us"], rows["backward"]["floor_us"]) == (20.0, None)
    assert (rows["unknown"]["op"], rows["unknown"]["gpu_us"], rows["unknown"]["count"]) == (None, 10.0, 1)
    (f,) = [f for f in a.findings if f["id"] == "depthwise-conv"]
    assert f["time_us"] == pytest.approx(100.0 - fwd["floor_us"])
    assert "torch.compile" in f["suggestion"] and "causal_conv1d" not in f["suggestion"]


def test_near_its_floor_or_a_small_share_is_no_finding(tmp_path):
    near = analyze(_depthwise(tmp_path, dur=2.0))  # 1.5x its 1.34 us floor
    assert near.depthwise_convs and not [f for f in near.findings if f["id"] == "depthwise-conv"]
    cpu = analyze(write(tmp_path / "c.json.gz", {"schemaVersion": 1, "traceEvents": [_op("aten::mm", 0, 1, 1)]}))
    assert cpu.depthwise_convs is None and not can_judge(cpu, "depthwise-conv")


def test_cli_table(capsys):
    assert main(["analyze", str(DATA / "h200-models-trace.json.gz"), "--table", "convs"]) == 0
    assert "causal conv1d" in capsys.readouterr().out
