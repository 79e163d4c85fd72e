"""``float32-matmul`` on real GPU work: a float32 product recorded at torch's default precision ("highest") runs on
the CUDA cores and is named; the same product with TF32 allowed ("high") is not, and each run records the setting."""

import pytest
import torch

import bambaprof
from bambaprof.analysis import analyze
from bambaprof.analysis.gemm_units import CUDA_CORES, TENSOR_CORES, float32_gemm_units
from bambaprof.run import read_manifest


def _recorded(tmp_path, precision):
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        a = torch.randn(4096, 4096, device="cuda")
        b = torch.randn(4096, 4096, device="cuda")
        with bambaprof.record(f"fp32 mm {precision}", out=tmp_path, device="cuda", telemetry=False) as run:
            for _ in range(5):
                a @ b
                run.step()
    finally:
        torch.set_float32_matmul_precision(before)
    return run.path


@pytest.mark.gpu
def test_a_float32_product_on_the_cuda_cores_is_named_and_tf32_is_not(tmp_path):
    if torch.cuda.get_device_capability(0)[0] < 8:
        pytest.skip("TF32 needs compute capability 8.0")
    slow = _recorded(tmp_path, "highest")
    assert read_manifest(slow).versions.matmul_tf32 == "off"
    a = analyze(slow)
    gemms = [k for k in a.kernels if k["kind"] == "kernel" and k.get("launched_by") == "aten::mm"]
    assert gemms and all(k["dtype"] == "fp32" for k in gemms)
    units = {float32_gemm_units(k["name"]) for k in gemms}
    print("highest:", [(k["name"], k["total_us"], k.get("achieved_tflops")) for k in gemms])
    assert CUDA_CORES in units and TENSOR_CORES not in units, [k["name"] for k in gemms]  # (a split-K partner: None)
    f = next(f for f in a.findings if f["id"] == "float32-matmul")
    assert f["time_us"] > 0 and "set_float32_matmul_precision('high')" in f["suggestion"]

    fast = _recorded(tmp_path, "high")
    assert read_manifest(fast).versions.matmul_tf32 == "on"
    b = analyze(fast)
    gemms = [k for k in b.kernels if k["kind"] == "kernel" and k.get("launched_by") == "aten::mm"]
    print("high:", [(k["name"], k["total_us"], k.get("achieved_tflops")) for k in gemms])
    assert {float32_gemm_units(k["name"]) for k in gemms} <= {TENSOR_CORES, None}
    assert not any(f["id"] == "float32-matmul" for f in b.findings)
