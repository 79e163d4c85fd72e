"""SSD kernels recognised by name: mamba_ssm's on a real H200 trace, bambaprof's on a profiled run."""

from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.ssd_kernels import minimum_bytes, minimum_flops, ssd_step

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"


def test_kernel_names_map_to_implementation_and_step():
    assert ssd_step("_chunk_scan_fwd_kernel") == ("mamba_ssm", "chunk scan")
    assert ssd_step("_chunk_scan_chunk_state_bwd_dx_kernel") == ("mamba_ssm", "chunk scan (backward)")
    assert ssd_step("_state_passing_bwd_kernel") == ("mamba_ssm", "state passing (backward)")
    assert ssd_step("_bmm_chunk_fwd_kernel") == ("mamba_ssm", "C.B")
    assert ssd_step("_selective_scan_update_kernel") == ("mamba_ssm", "decode step")
    assert ssd_step("void causal_conv1d_fwd_kernel<Causal_conv1d_fwd_kernel_traits<128, 4, true, c10::BFloat16, "
                    "c10::BFloat16> >(ConvParamsBase)") == ("causal_conv1d", "conv")
    assert ssd_step("_chunk_scan") == ("bambaprof triton", "chunk scan")
    assert ssd_step("_chunk_scan_sm90") == ("bambaprof triton", "chunk scan")  # the Hopper (Gluon) scan
    assert ssd_step("_chunk_scan_sm90_slim") == ("bambaprof triton", "chunk scan")  # its 74 KB form
    for form in ("pair", "wide", "stay"):  # two heads a program, eight warps a head, resident programs
        assert ssd_step(f"_chunk_scan_sm90_{form}") == ("bambaprof triton", "chunk scan")
    assert ssd_step("_chunk_scan_sm90_fwd") is None
    for other in ("triton_poi_fused_add_0", "_chunk_scan_fwd", "my_chunk_scan_fwd_kernel", "nvjet_sm90_tst"):
        assert ssd_step(other) is None


def test_mamba_ssm_core_on_the_h200():
    """mamba_ssm 2.2.4's Triton SSD under a Bamba-9B mixer (b1, L512, three calls): its five kernels, three
    launches each."""
    a = analyze(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    rows = {r["step"]: r for r in a.ssd}
    assert set(rows) == {"dt cumsum", "chunk states", "state passing", "C.B", "chunk scan"}
    assert all(r["implementation"] == "mamba_ssm" and r["launches"] == 3 and r["core"] for r in rows.values())
    by_name = {k["name"]: k["total_us"] for k in a.kernels}
    assert rows["chunk scan"]["gpu_us"] == pytest.approx(by_name["_chunk_scan_fwd_kernel"])
    s = a.summary
    assert s["ssd_implementation"] == "mamba_ssm"
    assert s["ssd_core_us"] == pytest.approx(sum(r["gpu_us"] for r in rows.values()))
    assert s["ssd_core_pct"] == pytest.approx(100 * s["ssd_core_us"] / s["kernel_us"])
    assert "ssd-core" in {f["id"] for f in a.findings}
    # the core's floor from MambaChunkScanCombinedFn's shapes: x (1, 512, 128, 64) bf16, B (1, 512, 1, 128),
    # chunk 256, three calls; memory-bound at this shape (21.4 MB against 3.2 GFLOP)
    flops, nbytes = minimum_flops(1, 512, 128, 64, 1, 128, 256), minimum_bytes(1, 512, 128, 64, 1, 128, 2)
    assert nbytes == 21_366_272 and flops == 3_238_002_688
    per_call = max(nbytes / (s["peak_bandwidth_gbps"] * 1e3), flops / (989.4 * 1e6))
    assert s["ssd_core_floor_us"] == pytest.approx(3 * per_call)
    assert s["ssd_core_above_floor_x"] == pytest.approx(s["ssd_core_us"] / s["ssd_core_floor_us"])
    found = next(f for f in a.findings if f["id"] == "ssd-core")
    assert f"{s['ssd_core_above_floor_x']:.1f}x the roofline floor of its calls' shapes" in found["message"]
    assert found["time_us"] == pytest.approx(s["ssd_core_us"] - s["ssd_core_floor_us"])


def test_bambaprof_triton_core_and_a_run_without_ssd_kernels():
    a = analyze(EXAMPLES / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a")
    assert [(r["implementation"], r["step"]) for r in a.ssd] == [
        ("bambaprof triton", "chunk scan"), ("bambaprof triton", "chunk states"), ("bambaprof triton", "prep")]
    assert all(r["floor_us"] is not None and r["excess_us"] > 0 for r in a.ssd)  # its kernels carry their bytes
    naive = analyze(EXAMPLES / "bamba-9b-default-none-mixer-b1-L512-e73025ce")  # the chunked scan in torch ops
    assert naive.ssd == [] and naive.summary["ssd_core_us"] is None
    assert "ssd-core" not in {f["id"] for f in naive.findings}


def test_table_ssd(capsys):
    from bambaprof.cli import main

    assert main(["analyze", str(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz"), "--table", "ssd"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["implementation", "step"] and "_chunk_scan_fwd_kernel" in out
    assert main(["analyze", str(EXAMPLES / "bamba-9b-default-none-mixer-b1-L512-e73025ce"), "--table", "ssd"]) == 0
    assert "no SSD kernels recognised" in capsys.readouterr().out
