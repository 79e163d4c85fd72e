"""Attention calls by backend: the calls and their backends, hand-written attention, shapes and arguments, forward
and backward time, floors, kernels found by name, the summary, the unfused-attention finding and the table's CLI;
on real CPU traces (tests/data/attention/) and a synthetic GPU trace with hand-computed figures."""

import gzip
import json
from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.attention import (
    CALL,
    KERNEL_NAME,
    _causal_pairs,
    attention_summary,
    attention_table,
    kernel_backend,
)
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data" / "attention"
BF16, FP32 = "c10::BFloat16", "float"
PEAKS = {"bf16": 100.0, "fp32": 50.0}  # TFLOP/s, with 1000 GB/s: round figures for the hand computations


def _sdpa(ts, dur, ext, q, k, v, dtype, mask=None, dropout="0.", causal="False", seq=-1):
    dims = [q, k, v, mask[0] if mask else [], [], [], [], []]
    types = [dtype] * 3 + [mask[1] if mask else "", "Scalar", "Scalar", "", "Scalar"]
    event = _op("aten::scaled_dot_product_attention", ts, dur, ext, dims, types)
    event["args"]["Concrete Inputs"] = ["", "", "", "", dropout, causal, "", "False"]
    if seq >= 0:
        event["args"].update({"Sequence number": seq, "Fwd thread id": 0})
    return event


def _at(event, tid=None, seq=None, fwd=None):
    if tid is not None:
        event["tid"] = tid
    if seq is not None:
        event["args"]["Sequence number"] = seq
        event["args"]["Fwd thread id"] = fwd if fwd is not None else 0
    return event


def _gpu_trace(tmp_path):
    return write(tmp_path / "attention.json.gz", gpu_attention_doc())


def gpu_attention_doc():
    """Three calls on thread 1 and a backward pass on thread 2 (us):

    A  flash, bf16 q=k=v [1, 8, 1024, 64], is_causal: entry [0, 50), its flash op launches a 200 us kernel;
    B  math, fp32 q=k=v [2, 4, 512, 64], a [512, 512] bool mask: entry [60, 160), its bmm (seq 11), softmax (seq 12)
       and bmm (seq 13) launch 50, 20 and 40 us; backward: BmmBackward0 (seq 13, [1000, 1020)) launches 80 us,
       SoftmaxBackward0 (seq 12, [1030, 1040)) 30 us;
    C  by hand, bf16 [1, 8, 256, 64]: matmul [200, 210) 30 us, mul [212, 214) 5 us, softmax [215, 225) 10 us,
       matmul [230, 240) 25 us;
    and a memory-efficient kernel of 40 us that no op launched."""
    q1, q2, q3 = [1, 8, 1024, 64], [2, 4, 512, 64], [1, 8, 256, 64]
    events = [
        _sdpa(0, 50, 1, q1, q1, q1, BF16, causal="True"),
        _op("aten::_scaled_dot_product_flash_attention", 2, 46, 2, [q1, q1, q1, [], [], [], []], [BF16] * 3 + [""] * 4),
        _kernel("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4> >(Flash_fwd_params)",
                100, 200, 10, 2, grid=(8, 8, 1)),
        _sdpa(60, 100, 3, q2, q2, q2, FP32, mask=([512, 512], "bool")),
        _op("aten::_scaled_dot_product_attention_math", 62, 96, 4),
        _at(_op("aten::bmm", 70, 10, 5, [[8, 512, 64], [8, 64, 512]], [FP32, FP32]), seq=11),
        _kernel("ampere_sgemm_128x64_nn", 400, 50, 11, 5),
        _at(_op("aten::_softmax", 90, 10, 6, [[2, 4, 512, 512], [], []], [FP32, "Scalar", "Scalar"]), seq=12),
        _kernel("void softmax_warp_forward<float>", 450, 20, 12, 6),
        _at(_op("aten::bmm", 110, 10, 7, [[8, 512, 512], [8, 512, 64]], [FP32, FP32]), seq=13),
        _kernel("ampere_sgemm_128x64_nn", 470, 40, 13, 7),
        _op("aten::matmul", 200, 10, 8, [q3, [1, 8, 64, 256]], [BF16, BF16]),
        _kernel("sm90_xmma_gemm_bf16bf16_bf16f32", 520, 30, 14, 8),
        _op("aten::mul", 212, 2, 9, [[1, 8, 256, 256], []], [BF16, "Scalar"]),
        _kernel("vectorized_elementwise_kernel", 550, 5, 15, 9),
        _op("aten::softmax", 215, 10, 10, [[1, 8, 256, 256], [], []], [BF16, "Scalar", ""]),
        _kernel("void softmax_warp_forward<bf16>", 555, 10, 16, 10),
        _op("aten::matmul", 230, 10, 11, [[1, 8, 256, 256], q3], [BF16, BF16]),
        _kernel("sm90_xmma_gemm_bf16bf16_bf16f32", 565, 25, 17, 11),
        # backward, on autograd's thread
        _at(_op("autograd::engine::evaluate_function: BmmBackward0", 1000, 20, 20), tid=2, seq=13, fwd=1),
        _at(_op("BmmBackward0", 1001, 18, 21), tid=2, seq=13, fwd=1),
        _at(_op("aten::bmm", 1002, 8, 22, [[8, 512, 512], [8, 512, 64]], [FP32, FP32]), tid=2),
        _kernel("ampere_sgemm_128x64_nn", 1100, 80, 18, 22),
        _at(_op("autograd::engine::evaluate_function: SoftmaxBackward0", 1030, 10, 23), tid=2, seq=12, fwd=1),
        _at(_op("aten::_softmax_backward_data", 1031, 8, 24, [[2, 4, 512, 512]] * 2, [FP32] * 2), tid=2),
        _kernel("void softmax_warp_backward<float>", 1180, 30, 19, 24),
        # no op: a replayed graph's, say
        _kernel("fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<bf16>::Params)",
                1300, 40, 99, -1),
    ]
    events += [_rt("cudaLaunchKernel", 1 + i, 1, corr) for i, corr in enumerate((10, 11, 12, 13, 14, 15, 16, 17))]
    return {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}


def _table(path):
    return attention_table(load_trace(path), 1000.0, PEAKS.get)


def test_kernel_backends_by_name():
    assert kernel_backend("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64> >(Flash_fwd_params)") \
        == "flash"
    assert kernel_backend("void flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<...>") == "flash"
    assert kernel_backend("cutlass::device_kernel<flash::FlashAttnFwdSm90<...> >") == "flash"
    assert kernel_backend("fmha_cutlassB_f16_aligned_64x64_k64_sm80(PyTorchMemEffAttention::AttentionBackwardKernel)") \
        == "efficient"
    assert kernel_backend("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x128x64") == "cudnn"
    assert kernel_backend("ck_tile::kentry<ck_tile::FmhaFwdKernel<...> >") == "ck"
    assert kernel_backend("BatchPrefillWithPagedKVCacheKernel<...>") == "flashinfer"
    assert kernel_backend("void vllm::paged_attention_v2_kernel<__nv_bfloat16>") == "paged"
    assert kernel_backend("kernel_unified_attention_2d") == "paged"  # vLLM's Triton attention
    assert kernel_backend("void paged_attention_ll4mi_QKV_mfma16_kernel<...>") == "paged"  # vLLM on ROCm
    assert kernel_backend("triton_tem_fused_flex_attention_0") == "flex"
    assert kernel_backend("triton_tem_fused_flex_attention_backward_zeros_1") == "flex"
    assert kernel_backend("triton_tem_fused_flex_decoding_2") == "flex"
    for other in ("void softmax_warp_forward<float>", "ampere_bf16_s16816gemm_bf16_128x64", "triton_poi_fused_add_0",
                  "flashlight_kernel", "Memcpy HtoD (Pinned -> Device)"):
        assert kernel_backend(other) is None, other


def test_real_eager_flex_attention():
    """flex_attention called without torch.compile (CPU, no_grad: FlexAttention has no CPU backward): each call is
    a flex-eager row from FlexAttentionAutogradOp's inputs; the ops of its unfused implementation (matmul,
    logsumexp, exp, matmul) are its own, not hand-written attention; the finding says to compile it."""
    events = json.load(gzip.open(DATA / "flex.json.gz"))["traceEvents"]
    (row,) = _table(DATA / "flex.json.gz")
    shape = "[2, 4, 256, 32]"
    assert (row["backend"], row["op"], row["count"], row["query"], row["key"], row["value"], row["dtype"]) == \
        ("flex-eager", "FlexAttentionAutogradOp", 3, shape, shape, shape, "fp32")
    assert (row["mask"], row["causal"], row["dropout"]) == (None, None, None)  # score_mod, block mask: functions
    assert row["score_bytes"] == 2 * 4 * 256 * 256 * 4
    assert row["cpu_us"] == pytest.approx(sum(e["dur"] for e in events if e.get("name") == "FlexAttentionAutogradOp"))
    a = analyze(DATA / "flex.json.gz")
    (finding,) = [f for f in a.findings if f["id"] == "unfused-attention"]
    assert finding["severity"] == "high" and "flex_attention called without torch.compile" in finding["message"]
    assert "torch.compile(flex_attention)" in finding["suggestion"]
    assert "scaled_dot_product_attention(q, k, v" not in finding["suggestion"]  # not hand-written attention's advice
    assert a.summary["attention_unfused_calls"] == 3


def test_logsumexp_attention_by_hand(tmp_path):
    """``exp(s - logsumexp(s, -1)) @ v``: a log-sum-exp over the scores' last dimension marks attention by hand as
    a softmax does (recorded ``dim`` ``[-1]``); a nested logsumexp is one chain; over another dimension, none."""
    q, s = [1, 2, 64, 16], [1, 2, 64, 64]
    def events(dim):
        lse = _op("aten::logsumexp", 6, 6, 2, [s, [], []], [FP32, "", "Scalar"])
        lse["args"]["Concrete Inputs"] = ["", dim, "True"]
        inner = _op("aten::logsumexp", 7, 4, 3, [s, [], [], []], [FP32, "", "Scalar", ""])
        inner["args"]["Concrete Inputs"] = ["", dim, "True", ""]
        return [_op("aten::matmul", 0, 5, 1, [q, [1, 2, 16, 64]], [FP32, FP32]), lse, inner,
                _op("aten::sub", 13, 2, 4, [s, [1, 2, 64, 1], []], [FP32, FP32, "Scalar"]),
                _op("aten::exp", 16, 2, 5, [s], [FP32]),
                _op("aten::matmul", 19, 5, 6, [s, q], [FP32, FP32])]
    (row,) = _table(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events("[-1]")}))
    assert (row["backend"], row["count"], row["query"], row["cpu_us"]) == ("unfused", 1, str(q), 5 + 6 + 2 + 2 + 5)
    assert "aten::logsumexp" in row["op"]
    assert _table(write(tmp_path / "u.json.gz", {"schemaVersion": 1, "traceEvents": events("[2]")})) == []


def test_causal_pairs():
    assert _causal_pairs(4, 4) == 10  # 1 + 2 + 3 + 4
    assert _causal_pairs(2, 5) == 3  # top-left: queries 0 and 1 see 1 and 2 keys
    assert _causal_pairs(5, 2) == 1 + 2 + 2 + 2 + 2


def test_gpu_calls_backends_times_and_floors(tmp_path):
    rows = _table(_gpu_trace(tmp_path))
    by = {r["backend"]: r for r in rows}
    assert [r["backend"] for r in rows] == ["math", "flash", "unfused", "efficient"]  # most GPU time first
    flash, math_, hand, named = by["flash"], by["math"], by["unfused"], by["efficient"]

    assert (flash["op"], flash["found_by"], flash["count"], flash["dtype"], flash["mask"], flash["causal"],
            flash["dropout"]) == ("aten::_scaled_dot_product_flash_attention", CALL, 1, "bf16", "none", True, 0.0)
    flops = 2 * 8 * (1024 * 1025 // 2) * 128
    assert flash["flops"] == flops and flash["gpu_us"] == 200.0 and flash["backward_us"] == 0.0
    assert flash["floor_us"] == pytest.approx(flops / 100e6)  # compute-bound: above 4 * 1 MiB at 1000 GB/s
    assert flash["excess_us"] == pytest.approx(200.0 - flops / 100e6)
    assert flash["tflops"] == pytest.approx(flops / 200e-6 / 1e12)
    assert flash["score_bytes"] == 8 * 1024 * 1024 * 2

    assert (math_["op"], math_["dtype"], math_["mask"], math_["causal"]) == \
        ("aten::_scaled_dot_product_attention_math", "fp32", "[512, 512] bool", False)
    assert (math_["gpu_us"], math_["backward_us"], math_["cpu_us"]) == (110.0, 110.0, 100.0 + 20.0 + 10.0)
    fwd_flops = 2 * 8 * 512 * 512 * 128
    fwd_bytes = 4 * (8 * 512 * 64 * 4) + 512 * 512
    bwd_bytes = 2 * 3 * (8 * 512 * 64 * 4) + 2 * (8 * 512 * 64 * 4) + 512 * 512
    floor = max(fwd_bytes / 1e6, fwd_flops / 50e6) + max(bwd_bytes / 1e6, 2 * fwd_flops / 50e6)
    assert math_["floor_us"] == pytest.approx(floor)
    assert math_["excess_us"] == pytest.approx(220.0 - floor)

    assert hand["op"] == "aten::matmul -> aten::softmax -> aten::matmul"
    assert (hand["query"], hand["key"], hand["value"], hand["dtype"]) == \
        ("[1, 8, 256, 64]", "[1, 8, 256, 64]", "[1, 8, 256, 64]", "bf16")
    assert (hand["mask"], hand["causal"], hand["dropout"]) == (None, None, None)  # ops, not arguments
    assert (hand["gpu_us"], hand["cpu_us"], hand["backward_us"]) == (70.0, 32.0, 0.0)  # the scale's kernel counts
    # is_causal unknown (a mask built by ops): the causal count, a lower bound
    assert hand["flops"] == 2 * 8 * (256 * 257 // 2) * 128
    assert hand["floor_us"] == pytest.approx(max(4 * 8 * 256 * 64 * 2 / 1e6, 2 * 8 * (256 * 257 // 2) * 128 / 100e6))

    assert (named["found_by"], named["op"], named["count"], named["gpu_us"], named["query"]) == \
        (KERNEL_NAME, None, 1, 40.0, None)


def test_gpu_summary_and_finding(tmp_path):
    a = analyze(_gpu_trace(tmp_path))
    s = a.summary
    assert (s["attention_calls"], s["attention_unfused_calls"]) == (3, 2)
    assert s["attention_us"] == pytest.approx(200 + 220 + 70 + 40)
    assert s["attention_unfused_us"] == pytest.approx(290.0)
    (f,) = [f for f in a.findings if f["id"] == "unfused-attention"]
    assert f["time_us"] == pytest.approx(sum(r["gpu_us"] + r["backward_us"] - r["floor_us"] for r in a.attention
                                             if r["backend"] in ("math", "unfused")))
    assert "2 attention calls stored the whole score matrix" in f["message"]
    assert "1 through PyTorch's math fallback" in f["message"] and "1 through separate matmul" in f["message"]
    assert "55% of kernel time" in f["message"]  # 290 of 530 us
    assert "fp32: FlashAttention takes only fp16 and bf16" in f["suggestion"]
    assert "an attn_mask" in f["suggestion"] and "scaled_dot_product_attention(q, k, v" in f["suggestion"]
    assert "sdpa_kernel([SDPBackend.FLASH_ATTENTION" in f["suggestion"]
    assert can_judge(a, "unfused-attention")
    # the flash kernel's traffic: its op's shapes (is_causal not recorded on the backend op: the causal count)
    (flash,) = [k for k in a.kernels if "flash_fwd_kernel" in k["name"]]
    assert (flash["bytes"], flash["flops"]) == (4 * 8 * 1024 * 64 * 2, 2 * 8 * (1024 * 1025 // 2) * 128)


def test_real_cpu_traces():
    sdpa, math_, eager = (_table(DATA / f"{m}.json.gz") for m in ("sdpa", "math", "eager"))
    shapes = ("[2, 4, 256, 32]",) * 3
    for rows, backend in ((sdpa, "flash"), (math_, "math"), (eager, "unfused")):
        (row,) = rows
        assert (row["backend"], row["count"], (row["query"], row["key"], row["value"]), row["dtype"]) == \
            (backend, 3, shapes, "fp32")
        assert row["gpu_us"] is None and row["floor_us"] is None  # a CPU-only profile
        assert row["flops"] == 2 * 8 * (256 * 257 // 2) * 64  # causal, or (by hand) not recorded: a lower bound
    assert (sdpa[0]["causal"], math_[0]["causal"], eager[0]["causal"]) == (True, True, None)
    assert sdpa[0]["op"] == "aten::_scaled_dot_product_flash_attention_for_cpu"

    def durations(name, path):
        events = json.load(gzip.open(DATA / path))["traceEvents"]
        return sum(e["dur"] for e in events if e.get("name") == name)

    # host time: the calls, and the backward nodes autograd ran for them
    node = "autograd::engine::evaluate_function: ScaledDotProductFlashAttentionForCpuBackward0"
    assert sdpa[0]["cpu_us"] == pytest.approx(durations("aten::scaled_dot_product_attention", "sdpa.json.gz")
                                              + durations(node, "sdpa.json.gz"))
    forward = durations("aten::scaled_dot_product_attention", "math.json.gz")
    some = forward + sum(durations(f"autograd::engine::evaluate_function: {n}", "math.json.gz")
                         for n in ("SafeSoftmaxBackward0", "BmmBackward0"))
    assert math_[0]["cpu_us"] > some > forward


def test_real_cpu_findings_and_summary():
    math_ = analyze(DATA / "math.json.gz")
    (f,) = [f for f in math_.findings if f["id"] == "unfused-attention"]
    assert f["severity"] == "high" and f["time_us"] is None  # host time: no GPU time at stake
    assert "PyTorch's math fallback" in f["message"] and "of the trace's span on the host" in f["message"]
    assert "sdpa_kernel(SDPBackend.MATH)" in f["suggestion"]  # nothing in its inputs rules the fused kernel out
    assert "torch.backends.cuda" not in f["suggestion"]  # a CPU profile
    eager = analyze(DATA / "eager.json.gz")
    (f,) = [f for f in eager.findings if f["id"] == "unfused-attention"]
    assert "written by hand" in f["message"] and "attn_implementation" in f["suggestion"]
    sdpa = analyze(DATA / "sdpa.json.gz")
    assert not [f for f in sdpa.findings if f["id"] == "unfused-attention"]
    assert (sdpa.summary["attention_calls"], sdpa.summary["attention_unfused_calls"], sdpa.summary["attention_us"]) \
        == (3, 0, None)
    assert can_judge(sdpa, "unfused-attention")


def test_cpu_dropout_is_a_visible_reason(tmp_path):
    q = [2, 4, 64, 32]
    events = [_sdpa(0, 100, 1, q, q, [2, 4, 64, 16], FP32, dropout="0.10000000000000001"),
              _op("aten::_scaled_dot_product_attention_math", 1, 98, 2)]
    a = analyze(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events}))
    (f,) = [f for f in a.findings if f["id"] == "unfused-attention"]
    assert "dropout_p=0.1" in f["message"] and "fused CPU kernel takes no dropout" in f["suggestion"]
    assert "different last dimensions" in f["suggestion"]


def test_without_shapes_calls_are_found_but_not_measured(tmp_path):
    events = [_op("aten::scaled_dot_product_attention", 0, 50, 1),
              _op("aten::_scaled_dot_product_efficient_attention", 1, 48, 2),
              _kernel("fmha_cutlassF_f32_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel)", 60, 30, 5, 2),
              _rt("cudaLaunchKernel", 3, 1, 5),
              _op("aten::softmax", 60, 10, 3)]  # no shapes: no hand-written attention can be told
    (row,) = attention_table(load_trace(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events})),
                             1000.0, PEAKS.get)
    assert (row["backend"], row["gpu_us"], row["query"], row["floor_us"], row["flops"]) == \
        ("efficient", 30.0, None, None, None)


def test_softmax_over_another_dim_is_not_attention(tmp_path):
    q = [1, 2, 16, 8]
    events = [_op("aten::matmul", 0, 5, 1, [q, [1, 2, 8, 16]], [FP32, FP32]),
              _op("aten::softmax", 6, 5, 2, [[1, 2, 16, 16], [], []], [FP32, "Scalar", ""]),
              _op("aten::matmul", 12, 5, 3, [[1, 2, 16, 16], q], [FP32, FP32])]
    events[1]["args"]["Concrete Inputs"] = ["", "1", ""]
    path = write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events})
    assert _table(path) == []
    events[1]["args"]["Concrete Inputs"] = ["", "-1", ""]
    (row,) = _table(write(tmp_path / "u.json.gz", {"schemaVersion": 1, "traceEvents": events}))
    assert (row["backend"], row["count"], row["cpu_us"]) == ("unfused", 1, 15.0)


def test_malformed_shapes_are_unknown_not_errors(tmp_path):
    q = [2, 4, 64, 32]
    events = [_sdpa(0, 100, 1, q, q, q, BF16, mask=([["x"], -1], "bool")),
              _op("aten::_scaled_dot_product_efficient_attention", 1, 98, 2),
              _sdpa(200, 100, 3, [2, 4, True, 32], q, q, BF16),
              _op("aten::_scaled_dot_product_efficient_attention", 201, 98, 4)]
    rows = _table(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events}))
    good = next(r for r in rows if r["query"] is not None)
    assert good["mask"] is None and good["flops"] == 2 * 8 * 64 * 64 * 64  # the mask's shape: unknown
    bad = next(r for r in rows if r["query"] is None)  # a bool for a length: no figures
    assert bad["flops"] is None and bad["count"] == 1


def test_a_backend_op_called_alone_is_a_call(tmp_path):
    q = [1, 2, 128, 64]
    events = [_op("aten::_scaled_dot_product_flash_attention", 0, 10, 1, [q, q, q, [], [], [], []], [BF16] * 3 + [""] * 4)]
    events[0]["args"]["Concrete Inputs"] = ["", "", "", "0.", "True", "False", ""]
    (row,) = _table(write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events}))
    assert (row["backend"], row["causal"], row["dropout"], row["mask"]) == ("flash", True, 0.0, "none")
    s = attention_summary(load_trace(tmp_path / "t.json.gz"), [row])
    assert s == {"attention_calls": 1, "attention_unfused_calls": 0, "attention_us": None, "attention_unfused_us": None}


def test_no_ops_no_calls(tmp_path):
    events = [_kernel("void pytorch_flash::flash_fwd_kernel<T>(Flash_fwd_params)", 0, 10, 1, -1)]
    path = write(tmp_path / "t.json.gz", {"schemaVersion": 1, "traceEvents": events})
    a = analyze(path)
    assert a.summary["attention_calls"] is None and a.summary["attention_us"] == 10.0
    assert [r["found_by"] for r in a.attention] == [KERNEL_NAME]
    assert not can_judge(a, "unfused-attention")


def test_cli_table(tmp_path, capsys):
    assert main(["analyze", str(DATA / "math.json.gz"), "--table", "attention"]) == 0
    out = capsys.readouterr().out
    assert "aten::_scaled_dot_product_attention_math" in out and "[2, 4, 256, 32]" in out
    assert main(["analyze", str(DATA / "math.json.gz"), "--table", "attention", "--format", "csv"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith("backend,op,found_by,count,query")
    empty = write(tmp_path / "none.json.gz", {"schemaVersion": 1, "traceEvents": [_op("aten::mm", 0, 1, 1)]})
    assert main(["analyze", str(empty), "--table", "attention"]) == 0
    assert "no attention in this trace" in capsys.readouterr().out


def test_compare_gates_on_attention_time(tmp_path):
    from bambaprof.analysis.compare import compare, regression

    slow = _gpu_trace(tmp_path)  # 530 us of attention
    fast_dir = tmp_path / "fast"
    fast_dir.mkdir()
    doc = json.load(gzip.open(slow))
    for e in doc["traceEvents"]:
        if e.get("cat") == "kernel" and "softmax" in e["name"]:
            e["dur"] /= 2  # the softmaxes twice as fast: 500 us
    fast = write(fast_dir / "attention.json.gz", doc)
    assert regression(compare([fast], [slow]), "attention_time", 5.0) is not None  # +6%
    assert regression(compare([slow], [fast]), "attention_time", 5.0) is None
    # a CPU-only trace has no attention GPU time: nothing to gate on
    with pytest.raises(Exception, match="attention"):
        regression(compare([DATA / "sdpa.json.gz"], [DATA / "math.json.gz"]), "attention_time", 5.0)


def test_real_h100_cudnn_and_flex_attention():
    """Real H100 traces (torch 2.11, bf16, 2 x 8 heads x 1024 x 64, three training steps): PyTorch chose cuDNN,
    whose forward kernel is launched by ``aten::_cudnn_attention_forward`` beneath the backend op and gets its
    traffic model; eager flex_attention is a flex-eager call whose backward node is found although the block
    mask's ops carry its sequence number first; compiled, its Triton kernels are found by name."""
    a = analyze(DATA / "h100-sdpa-cudnn.json.gz")
    (row,) = a.attention
    assert (row["backend"], row["count"], row["causal"]) == ("cudnn", 3, True)
    assert row["gpu_us"] > 0 and row["backward_us"] > row["gpu_us"] and row["floor_us"] > 0
    (fprop,) = [k for k in a.kernels if "native_sdpa" in k["name"] and "fprop" in k["name"]]
    assert fprop["launched_by"] == "aten::_cudnn_attention_forward"
    q_bytes = 2 * 8 * 1024 * 64 * 2
    assert fprop["count"] == 3 and fprop["bytes"] == 3 * 4 * q_bytes  # q, k, v read and the output written once
    assert fprop["flops"] == 3 * 2 * 16 * (1024 * 1025 // 2) * 128  # causal pairs, two products
    assert not [f for f in a.findings if f["id"] == "unfused-attention"]
    flex = analyze(DATA / "h100-flex.json.gz")
    (row,) = flex.attention
    assert (row["backend"], row["count"], row["dtype"]) == ("flex-eager", 3, "bf16")
    assert row["backward_us"] > row["gpu_us"] > 0
    (f,) = [f for f in flex.findings if f["id"] == "unfused-attention"]
    assert f["time_us"] > 0 and "torch.compile(flex_attention)" in f["suggestion"]
    assert "backward runs on GPUs only" not in f["suggestion"]  # a GPU profile
    compiled = analyze(DATA / "h100-flex-compiled.json.gz")
    assert {(r["backend"], r["found_by"]) for r in compiled.attention} == {("flex", KERNEL_NAME)}
    assert {r["op"] for r in compiled.attention} >= {"triton_tem_fused_flex_attention_0",
                                                    "triton_tem_fused_flex_attention_backward_1"}
    assert not [f for f in compiled.findings if f["id"] == "unfused-attention"]


def test_kernel_op_inputs_in_flash_layout():
    """FlashAttention's and the memory-efficient kernel's own ops take [batch, length, heads, dim]: their model
    swaps length and heads back; packed (varlen) inputs have no pairs to count; the efficient kernel's causal flag is
    its custom_mask_type."""
    from bambaprof.analysis.attention import backend_op_traffic

    blhd = [2, 1024, 8, 64]
    dims = [blhd, blhd, blhd, [], [], [], [], [], [], [], []]
    t = backend_op_traffic("aten::_flash_attention_forward", dims, [BF16] * 3 + [""] * 8,
                           ["", "", "", "", "", "1024", "1024", "0.", "True", "False", ""])
    assert t.bytes == 4 * 2 * 1024 * 8 * 64 * 2 and t.flops == 2 * 16 * (1024 * 1025 // 2) * 128
    t = backend_op_traffic("aten::_efficient_attention_forward", dims, [BF16] * 3 + [""] * 8,
                           ["", "", "", "", "", "", "", "", "0.", "0", "False"])
    assert t.flops == 2 * 16 * 1024 * 1024 * 128  # custom_mask_type 0: no mask
    packed = [[2048, 8, 64]] * 3 + [[3], [3], [], [], [], [], [], []]
    assert backend_op_traffic("aten::_flash_attention_forward", packed, [BF16] * 5 + [""] * 6, None) is None


def _flash_attn_package(window=("-1", "-1"), causal="True"):
    """The flash-attn package's training step (synthetic, as flash-attn 2.6+ records it): FlashAttnFunc [0, 100)
    with sequence number 5 around its custom op [2, 96), q, k, v [2, 512, 8, 64] bf16 ([batch, length, heads, dim]),
    which launches a 60 us kernel; the backward node (thread 2) launches 120 us."""
    blhd = [2, 512, 8, 64]
    op = _op("flash_attn::_flash_attn_forward", 2, 94, 2, [blhd, blhd, blhd, [], [], [], [], [], [], [], []],
             [BF16] * 3 + ["Scalar", "Scalar", "Scalar", "Scalar", "Scalar", "Scalar", "", "Scalar"])
    op["args"]["Concrete Inputs"] = ["", "", "", "0.", "0.125", causal, *window, "0.", "", "False"]
    events = [_at(_op("FlashAttnFunc", 0, 100, 1), seq=5), op,
              _kernel("void flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 64, 4, false, false, bf16> >", 200, 60,
                      10, 2),
              _rt("cudaLaunchKernel", 50, 2, 10, 2),
              _at(_op("autograd::engine::evaluate_function: FlashAttnFuncBackward", 400, 50, 20), tid=2, seq=5, fwd=1),
              _at(_op("flash_attn::_flash_attn_backward", 402, 40, 21), tid=2),
              _kernel("void flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<...>", 500, 120, 11, 21),
              _rt("cudaLaunchKernel", 410, 2, 11, 21)]
    events[-2]["args"]["External id"] = 21
    return {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}


def test_flash_attn_package_calls(tmp_path):
    """flash-attn's custom op is a call of backend flash counted from its autograd Function: shapes read in its
    [batch, length, heads, dim] layout, its backward found by the Function's sequence number, its kernel given the
    shape model; a sliding window counts the pairs it keeps; a window not recorded leaves the call unmeasured."""
    a = analyze(write(tmp_path / "t.json.gz", _flash_attn_package()))
    (row,) = a.attention
    assert (row["backend"], row["op"], row["found_by"], row["query"], row["causal"], row["dropout"]) == \
        ("flash", "flash_attn::_flash_attn_forward", CALL, "[2, 8, 512, 64]", True, 0.0)
    assert (row["gpu_us"], row["backward_us"], row["cpu_us"]) == (60.0, 120.0, 150.0)
    assert row["flops"] == 2 * 16 * (512 * 513 // 2) * 128
    (kernel,) = [k for k in a.kernels if k["name"].startswith("flash_fwd")]
    assert kernel["bytes"] == 4 * 2 * 512 * 8 * 64 * 2 and kernel["flops"] == row["flops"]
    (row,) = attention_table(load_trace(write(tmp_path / "w.json.gz", _flash_attn_package(("128", "-1")))),
                             1000.0, PEAKS.get)
    assert row["flops"] == 2 * 16 * (sum(range(1, 129)) + (512 - 128) * 129) * 128  # 128 keys back, causal
    (row,) = attention_table(load_trace(write(tmp_path / "n.json.gz", _flash_attn_package(("", "")))), 1000.0,
                             PEAKS.get)
    assert row["backend"] == "flash" and row["flops"] is None and row["floor_us"] is None
    doc = _flash_attn_package(("4096", "-1"))  # a hostile length: unknown, not a 10^12-entry count
    doc["traceEvents"][1]["args"]["Input Dims"][:3] = [[1, 10 ** 12, 8, 64]] * 3
    (row,) = attention_table(load_trace(write(tmp_path / "h.json.gz", doc)), 1000.0, PEAKS.get)
    assert row["flops"] is None
