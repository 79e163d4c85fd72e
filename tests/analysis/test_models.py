"""Bytes and FLOPs models: convolutions, split-K GEMMs, datasheet peaks."""

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.peaks import datasheet
from bambaprof.analysis.traffic import op_traffic
from tests.analysis.synth import _kernel, _op, _rt, base_trace, write

BF16 = "c10::BFloat16"


def test_depthwise_conv_as_the_bamba_mixer_records_it():
    # F.conv1d(groups=C, padding=3) on (1, 8448, 512) lands in aten::_conv_depthwise2d as 2-D (1, 8448, 1, 512)
    t = op_traffic("aten::_conv_depthwise2d", [[1, 8448, 1, 512], [8448, 1, 1, 4], [], [8448], [], [], []],
                   [BF16, BF16, "ScalarList", BF16, "ScalarList", "ScalarList", "ScalarList"],
                   ["", "", "[1, 4]", "", "[1, 1]", "[0, 3]", "[1, 1]"])
    out = 512 + 2 * 3 - 3  # 515 positions
    assert t.bytes == 2 * (8448 * 512 + 8448 * 4 + 8448 * out + 8448) and t.flops == 2 * 8448 * out * 4


def test_strided_grouped_convolution():
    # aten::convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    dims = [[2, 16, 32, 32], [32, 8, 3, 3], [32], [], [], [], [], [], []]
    types = ["float", "float", "float", "ScalarList", "ScalarList", "ScalarList", "Scalar", "ScalarList", "Scalar"]
    t = op_traffic("aten::convolution", dims, types, ["", "", "", "[2, 2]", "[1, 1]", "[1, 1]", "False", "[0, 0]", "2"])
    assert t.flops == 2 * 2 * 32 * 16 * 16 * 8 * 9  # out 16x16 (stride 2), C_in / groups = 8
    assert t.bytes == 4 * (2 * 16 * 32 * 32 + 32 * 8 * 9 + 2 * 32 * 16 * 16 + 32)
    transposed = ["", "", "", "[2, 2]", "[1, 1]", "[1, 1]", "True", "[0, 0]", "2"]
    assert op_traffic("aten::convolution", dims, types, transposed) is None  # not modelled: unknown
    assert op_traffic("aten::convolution", dims, types, ["", ""]) is None  # no recorded stride: unknown


def test_a_split_k_gemm_gets_the_ops_bytes_and_its_reduction_stays_unknown(tmp_path):
    trace = base_trace()
    trace["traceEvents"] += [
        _op("aten::mm", 150, 10, 9, [[8, 4096], [4096, 4096]], [BF16, BF16]),
        _rt("cudaLaunchKernel", 151, 1, 90, 9), _rt("cudaLaunchKernel", 153, 1, 91, 9),
        _kernel("nvjet_splitK_TNT", 160, 20, 90, 9, grid=(2, 64, 1)),
        _kernel("cublasLt::splitKreduce_kernel<32, 16>", 181, 2, 91, 9),
    ]
    k = {r["name"]: r for r in analyze(write(tmp_path / "t.json.gz", trace)).kernels}
    assert k["nvjet_splitK_TNT"]["bytes"] == 2 * (8 * 4096 + 4096 * 4096 + 8 * 4096)
    assert k["nvjet_splitK_TNT"]["flops"] == 2 * 8 * 4096 * 4096
    assert k["cublasLt::splitKreduce_kernel<32, 16>"]["bytes"] is None


@pytest.mark.parametrize("name,props,key", [
    ("NVIDIA H200", {}, "H200"), ("NVIDIA H100 80GB HBM3", {}, "H100"), ("NVIDIA H100 PCIe", {}, "H100 PCIe"),
    ("NVIDIA B200", {}, "B200"), ("Tesla V100-SXM2-32GB", {}, "V100"), ("NVIDIA A100-SXM4-80GB", {}, "A100-SXM4-80GB"),
    ("NVIDIA L4", {}, "L4"), ("NVIDIA L40S", {}, "L40S"), ("NVIDIA H800", {}, "H800"),
    ("AMD Instinct MI300X", {}, "MI300X"), ("AMD Instinct MI250X", {}, "MI250X"), ("AMD Instinct MI210", {}, "MI210"),
    ("", dict(major=9, minor=0, sms=132, memory_bytes=150_109_880_320), "H200"),
    ("", dict(major=9, minor=0, sms=132, memory_bytes=85_045_346_304), "H100"),
    ("", dict(major=8, minor=0, sms=108, memory_bytes=42_000_000_000), "A100"),
    ("", dict(major=9, minor=4, sms=304, memory_bytes=205_000_000_000), "MI300X"),
])
def test_datasheets_by_name_or_properties(name, props, key):
    spec = datasheet(name, **props)
    assert spec is not None and spec.key == key and spec.gbps > 0 and spec.source


def test_an_unknown_device_has_no_datasheet():
    assert datasheet("Some Future GPU") is None and datasheet("", 12, 0, 200, 1) is None


def test_a_kernel_without_a_register_count_has_unknown_occupancy_with_the_reason(tmp_path):
    trace = base_trace()
    for e in trace["traceEvents"]:
        if e.get("name") == "gemm_kernel":
            del e["args"]["registers per thread"]
    a = analyze(write(tmp_path / "t.json.gz", trace))
    gemm = next(k for k in a.kernels if k["name"] == "gemm_kernel")
    assert gemm["theoretical_occupancy_pct"] is None and gemm["waves_per_sm"] is None
    assert gemm["occupancy_unknown_because"] == "the trace records no register count for this kernel"
    assert any("unknown for 1 kernel(s): the trace records no register count" in n for n in a.notes)


def test_flop_and_byte_models_against_nsight_compute():
    """The Bamba-9B mixer's kernels at 1x2048 bf16 on the H200 (benchmarks/ncu_models.py): modelled FLOPs
    equal ncu's counted ones (tensor-core ops for the GEMMs, FFMA/FADD/FMUL for the conv) within 1%, and
    compulsory bytes stay within the band DRAM traffic leaves them: below it for the GEMMs (operands re-read
    past the L2), within 35% of it for the rest (inputs or outputs still in the 50 MB L2)."""
    from tests.scripts import load_script

    rows = {r["workload"]: r for r in load_script("validate_models_against_ncu").compare()}
    assert len(rows) == 7 and all(r["bytes_source"] == "shape model" for r in rows.values())
    for name in ("in_proj GEMM", "out_proj GEMM", "depthwise conv1d"):
        assert abs(rows[name]["flops_ratio"] - 1) < 0.01, name
    for name in ("in_proj GEMM", "out_proj GEMM"):
        assert rows[name]["bytes_ratio"] < 1, name
    for name in ("depthwise conv1d", "bf16->fp32 copy", "silu", "broadcast mul", "sum"):
        assert 0.9 < rows[name]["bytes_ratio"] < 1.35, name


def test_attention_model_against_nsight_compute():
    """Fused attention forwards on an H100 (benchmarks/ncu_attention.py: bf16 [4, 16, 4096, 128], FlashAttention,
    the memory-efficient kernel and cuDNN, not causal and causal): each kernel's bytes and FLOPs come from the
    attention model through the op that launched it; the FLOPs equal the tensor cores' count where every pair is
    attended and stay a lower bound within 4% when causal (the diagonal's tiles run whole); the bytes are within 4%
    of DRAM traffic except where FlashAttention re-reads k and v past the L2 (more traffic, not less)."""
    from tests.scripts import load_script

    rows = {r["workload"]: r for r in load_script("validate_models_against_ncu").compare("attention")}
    assert len(rows) == 6 and all(r["bytes_source"] == "shape model" for r in rows.values())
    for name, r in rows.items():
        if name.endswith("causal"):
            assert 0.96 < r["flops_ratio"] < 1, name
        else:
            assert r["flops_ratio"] == pytest.approx(1, abs=1e-6), name
    for name in ("efficient", "efficient causal", "cudnn", "cudnn causal"):
        assert 0.96 < rows[name]["bytes_ratio"] < 1.04, name
    assert 0.7 < rows["flash causal"]["bytes_ratio"] < rows["flash"]["bytes_ratio"] < 1
