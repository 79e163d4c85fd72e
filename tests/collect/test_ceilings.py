"""Measured ceilings: measured once per device and cached; analyze judges against them."""

import json

import pytest

from bambaprof.analysis import analyze
from bambaprof.collect.ceilings import device_ceilings
from bambaprof.run import Ceilings
from tests.analysis.synth import base_trace, write


def test_measured_once_then_read_from_the_cache(tmp_path):
    calls = []

    def fake(device):
        calls.append(device)
        return Ceilings(copy_gbps=4200.0, bf16_tflops=700.0, fp32_tflops=50.0, measured="2026-12-03", method="fake")

    cache = tmp_path / "ceilings.json"
    first = device_ceilings("cuda", "NVIDIA H200|GPU-1|torch 2.11", fake, cache)
    again = device_ceilings("cuda", "NVIDIA H200|GPU-1|torch 2.11", fake, cache)
    other = device_ceilings("cuda", "NVIDIA H200|GPU-2|torch 2.11", fake, cache)
    assert first == again == other and calls == ["cuda", "cuda"]  # one measurement per device key
    assert set(json.loads(cache.read_text())) == {"NVIDIA H200|GPU-1|torch 2.11", "NVIDIA H200|GPU-2|torch 2.11"}
    assert device_ceilings("cpu", "x", fake, cache) is None and calls == ["cuda", "cuda"]


def test_a_failed_measurement_is_unknown_not_an_error(tmp_path):
    def boom(device):
        raise RuntimeError("CUDA out of memory")

    assert device_ceilings("cuda", "k", boom, tmp_path / "c.json") is None


def test_analyze_judges_against_the_runs_measured_ceilings(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write(run / "trace.json.gz", base_trace())
    (run / "manifest.json").write_text(json.dumps({"schema_version": 2, "run_id": "run", "name": "run", "device": {
        "kind": "cuda", "name": "NVIDIA H200", "peak_bandwidth_gbps": 4814.3, "peak_bandwidth_source": "nvml",
        "ceilings": {"copy_gbps": 4000.0, "bf16_tflops": 600.0, "fp32_tflops": 50.0, "measured": "2026-12-03"}}}))
    a = analyze(run)
    gemm = next(k for k in a.kernels if k["name"] == "gemm_kernel")
    assert a.summary["peak_bandwidth_gbps"] == 4000.0 and a.summary["peak_bandwidth_source"] == "measured"
    assert gemm["floor_bytes_us"] == pytest.approx(114688 / 4.0e6)
    assert gemm["floor_flops_us"] == pytest.approx(2 * 64 * 256 * 128 / 600e6) and gemm["peak_tflops"] == 600.0
    assert a.summary["peak_compute_source"].startswith("measured 2026-12-03")
