"""Matrix products that ran cuBLAS's under-aligned tensor-op kernels: the table (kernel, op, shapes, the dimensions
that are not multiples of 16 bytes) and the misaligned-gemm finding; on synthetic traces that carry the kernel
cuBLAS chose on an H100 for a bf16 product with N = 50257 (benchmarks/gemm_alignment.py)."""

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.misaligned_gemms import gemm_dims, leading_dims
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import _kernel, _op, _rt, write
from tests.analysis.test_gemm_units import H100_ALIGN1

BF16 = "c10::BFloat16"


def _products(tmp_path, misaligned_us=1250.0):
    """Two aten::mm calls: [4096, 4096] x [4096, 50257] (bf16) launching the align1 fallback for misaligned_us each,
    and [4096, 4096] x [4096, 50264] launching an aligned nvjet kernel for 225 us each; an aten::linear of a
    [2, 1001, 4096] input by a [4096, 4096] weight launching the fallback too (M = 2002 is not a leading dim here,
    but without strides it is named)."""
    events, t = [], 0.0
    calls = [("aten::mm", [[4096, 4096], [4096, 50257]], H100_ALIGN1, misaligned_us),
             ("aten::mm", [[4096, 4096], [4096, 50264]], "nvjet_sm90_tst_160x256_64x3_2x1_v_bz_coopA_NNN", 225.0)] * 2
    calls.append(("aten::linear", [[2, 1001, 4096], [4096, 4096], []], H100_ALIGN1, 100.0))
    for i, (op, dims, kernel, dur) in enumerate(calls):
        events += [_op(op, t, 5.0, 100 + i, dims, [BF16] * len(dims)),
                   _rt("cudaLaunchKernel", t + 1.0, 2.0, 200 + i, 100 + i), _kernel(kernel, t + 10.0, dur, 200 + i, 100 + i)]
        t += dur + 20.0
    return write(tmp_path / "g.json", {"schemaVersion": 1, "traceEvents": events})


def test_dims_of_each_kind_of_product():
    assert gemm_dims("aten::mm", [[8, 16], [16, 32]]) == (8, 16, 32)
    assert gemm_dims("aten::addmm", [[32], [8, 16], [16, 32], [], []]) == (8, 16, 32)
    assert gemm_dims("aten::bmm", [[4, 8, 16], [4, 16, 32]]) == (8, 16, 32)
    assert gemm_dims("aten::linear", [[2, 3, 16], [32, 16], [32]]) == (6, 16, 32)
    assert gemm_dims("aten::mm", [[8, 16]]) is None and gemm_dims("aten::mm", None) is None


def test_the_fallback_kernels_are_grouped_by_shape_with_their_odd_dims(tmp_path):
    a = analyze(_products(tmp_path))
    rows = a.misaligned_gemms
    assert [(r["op"], r["odd"], r["count"], r["gpu_us"], r["align_bytes"]) for r in rows] == [
        ("aten::mm", "N=50257", 2, 2500.0, 2), ("aten::linear", "M=2002", 1, 100.0, 2)]
    assert rows[0]["shapes"] == "[4096, 4096] x [4096, 50257]" and rows[0]["dtype"] == BF16
    assert (a.summary["misaligned_gemm_count"], a.summary["misaligned_gemm_us"]) == (3, 2600.0)
    (f,) = [f for f in a.findings if f["id"] == "misaligned-gemm"]
    assert f["severity"] == "high" and f["time_us"] is None  # 2,600 of 3,050 us of kernel time
    assert "(2-byte loads) under aten::mm [4096, 4096] x [4096, 50257] (bf16), N=50257 not a multiple of 8 elements " \
           "(16 bytes): 2x, 2.50 ms" in f["message"]
    assert f["suggestion"].startswith("Pad N=50257 to a multiple of 8 elements") and "5.5x" in f["suggestion"]


def test_dims_skip_a_two_dimensional_bias():
    assert gemm_dims("aten::addmm", [[8, 32], [8, 16], [16, 32], [], []]) == (8, 16, 32)
    assert gemm_dims("aten::baddbmm", [[4, 8, 32], [4, 8, 16], [4, 16, 32], [], []]) == (8, 16, 32)


def test_leading_dims_from_strides():
    row = [[4096, 1], [50257, 1]]
    assert leading_dims("aten::mm", [[4096, 4096], [4096, 50257]], row) == [
        ("A", "K", 4096, False), ("B", "N", 50257, False), ("output", "N", 50257, False)]
    # A = X.t() of X [4096, 4097]: its stride between columns spans M
    assert leading_dims("aten::mm", [[4097, 4096], [4096, 64]], [[1, 4097], [64, 1]])[0] == ("A", "M", 4097, False)
    # a view of every row's first 4096 of 4100 elements
    assert leading_dims("aten::mm", [[64, 4096], [4096, 64]], [[4100, 1], [64, 1]])[0] == ("A", "K", 4100, True)
    assert leading_dims("aten::linear", [[2, 1001, 4096], [4096, 4096], []], [[4100096, 4096, 1], [4096, 1], []]) \
        == [("A", "K", 4096, False), ("B", "K", 4096, False), ("output", "N", 4096, False)]
    assert leading_dims("aten::mm", [[64, 64], [64, 64]], None) is None  # PyTorch before 2.3: no strides
    assert leading_dims("aten::mm", [[64, 64], [64, 64]], [[2, 128], [64, 1]]) is None  # no unit stride


def _strided(tmp_path):
    """The fallback kernel under three bf16 products recorded with strides: [4096, 4096] x [4096, 50257] (N the
    leading dimension of B and the output), a transposed A of [4097, 4096] (M=4097 its leading dimension), and a
    linear whose every leading dimension is a multiple of 8 (M = 2002 is not one)."""
    calls = [("aten::mm", [[4096, 4096], [4096, 50257]], [[4096, 1], [50257, 1]]),
             ("aten::mm", [[4097, 4096], [4096, 4096]], [[1, 4097], [4096, 1]]),
             ("aten::linear", [[2, 1001, 4096], [4096, 4096], []], [[4100096, 4096, 1], [4096, 1], []])]
    events, t = [], 0.0
    for i, (op, dims, strides) in enumerate(calls):
        events += [_op(op, t, 5.0, 100 + i, dims, [BF16] * len(dims), **{"Input Strides": strides}),
                   _rt("cudaLaunchKernel", t + 1.0, 2.0, 200 + i, 100 + i),
                   _kernel(H100_ALIGN1, t + 10.0, 1000.0 - 100 * i, 200 + i, 100 + i)]
        t += 1100.0
    return write(tmp_path / "s.json", {"schemaVersion": 1, "traceEvents": events})


def test_strides_name_only_the_leading_dims(tmp_path):
    a = analyze(_strided(tmp_path))
    assert [(r["op"], r["odd"], r["leading_known"]) for r in a.misaligned_gemms] == [
        ("aten::mm", "N=50257 (B, output)", True), ("aten::mm", "M=4097 (A)", True), ("aten::linear", "", True)]
    (f,) = [f for f in a.findings if f["id"] == "misaligned-gemm"]
    assert "N=50257 (B, output) not a multiple of 8 elements" in f["message"]
    assert "every leading dimension a multiple of 16 bytes" in f["message"]  # the linear: M=2002 is not named
    assert f["suggestion"].startswith("Pad N=50257 (B, output) to a multiple")
    only_aligned = [r for r in a.misaligned_gemms if r["odd"] == ""]
    a.misaligned_gemms = only_aligned  # the linear alone: its start, not its dims
    from bambaprof.diagnose.kernels import misaligned_gemm
    f = misaligned_gemm(a)
    assert "an input that starts at an address that is not" in f.suggestion and ".contiguous()" in f.suggestion


def test_a_small_share_or_no_gpu_is_no_finding(tmp_path):
    events = [_kernel("nvjet_sm90_tst_160x256_64x3_2x1_v_bz_coopA_NNN", 0.0, 5000.0, 1, -1),
              _kernel(H100_ALIGN1, 5000.0, 100.0, 2, -1)]  # 2% of kernel time, launched by no known op
    a = analyze(write(tmp_path / "k.json", {"schemaVersion": 1, "traceEvents": events}))
    (row,) = a.misaligned_gemms
    assert (row["op"], row["shapes"], row["odd"]) == (None, None, None)
    assert not any(f["id"] == "misaligned-gemm" for f in a.findings) and can_judge(a, "misaligned-gemm")
    cpu = analyze(write(tmp_path / "c.json", {"traceEvents": [_op("aten::mm", 0, 10, 1)]}))
    assert cpu.summary["misaligned_gemm_us"] is None and not can_judge(cpu, "misaligned-gemm")


def test_strides_of_a_real_trace():
    """The H100 float32 product (torch 2.11) records its inputs' strides: both row-major, leading dims K and N."""
    from pathlib import Path

    from bambaprof.analysis.trace import load_trace

    trace = load_trace(Path(__file__).resolve().parents[1] / "data" / "h100-fp32-mm-tf32.json.gz")
    i = trace.ops.name.index("aten::mm")
    assert trace.ops.input_strides[i] == [[1024, 1], [1024, 1]]
    assert leading_dims("aten::mm", trace.ops.input_dims[i], trace.ops.input_strides[i]) == [
        ("A", "K", 1024, False), ("B", "N", 1024, False), ("output", "N", 1024, False)]
