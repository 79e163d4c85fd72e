"""``bench ssd --scan``: the triton variant's chunk scans as cores of their own, timed side by side."""

import dataclasses
import json

import pytest
import torch

from bambaprof.bench.scans import parse_scans, scan_variant
from bambaprof.cli import main
from bambaprof.errors import UsageError
from bambaprof.ssm import get_variant
from bambaprof.ssm.kernels import ssd, ssd_sm90

SMALL = ["--shape", "1x32", "--heads", "4", "--head-dim", "16", "--state", "16", "--groups", "2", "--chunk-size", "16",
         "--dtype", "float32", "--rep-ms", "1", "--rounds", "1", "--device", "cpu", "--format", "json"]


def test_the_names_are_the_scans_and_are_normalised_once_each():
    assert ssd.scan_names()[:2] == ["auto", "triton"] and set(ssd.scan_names()[2:]) == set(ssd_sm90.FORMS)
    assert parse_scans([" Gluon_Slim ", "auto", "gluon_slim"]) == ["gluon_slim", "auto"]
    assert parse_scans(["gluon_late:128", "GLUON_LATE : 128", "gluon_late"]) == ["gluon_late:128", "gluon_late"]
    with pytest.raises(UsageError, match=r"--scan 'fast' is not a chunk scan: use auto, triton or one of gluon"):
        parse_scans(["auto", "fast"])
    with pytest.raises(UsageError, match=r"--scan 'auto:100' names a kernel chunk that is not a positive multiple"):
        parse_scans(["auto:100"])


def test_a_scan_variant_sets_the_scan_for_its_calls_only(monkeypatch, scan_env):
    """Inside the call the launch options are the inputs' dtype's with the scan named (fp32 keeps its smaller
    tiles); after it, and after a call that raised, the setting is what it was."""
    monkeypatch.setattr(ssd, "scan_override", None)
    monkeypatch.setattr(ssd, "config_override", None)
    scan_env(None)
    seen = []

    def forward(*args, **kwargs):
        seen.append((ssd.launch_config(torch.float32, 256, 64), ssd.launch_config(torch.bfloat16, 256, 64)))
        if kwargs.get("fail"):
            raise RuntimeError("boom")
        return "out"

    base = get_variant("triton")
    variant = scan_variant(dataclasses.replace(base, forward=forward), "gluon_late")
    assert variant.name == "triton[gluon_late]" and variant.extra == base.extra and variant.step is base.step
    assert variant.forward() == "out"
    fp32, bf16 = seen[-1]
    assert fp32.scan_kernel == bf16.scan_kernel == "gluon_late"
    assert fp32.scan_bm == 32 and bf16.scan_bm == 64  # each dtype's own options
    with pytest.raises(RuntimeError):
        variant.forward(fail=True)
    assert ssd.scan_override is None and ssd.launch_config(torch.bfloat16, 256, 64).scan_kernel == "auto"
    chunked = scan_variant(dataclasses.replace(base, forward=forward), "gluon_late:128")
    assert chunked.name == "triton[gluon_late:128]" and chunked.forward() == "out"
    fp32, bf16 = seen[-1]
    assert bf16.scan_kernel == "gluon_late" and bf16.chunk == fp32.chunk == 128
    assert ssd.launch_config(torch.bfloat16, 256, 64).chunk == 256  # the model's again after the call


def test_bench_times_each_scan_as_a_core(capsys):
    code = main(["bench", "ssd", "--variant", "default", "--variant", "triton", "--scan", "auto", "--scan", "triton",
                 "--baseline", "triton[triton]", *SMALL])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["baseline"] == "triton[triton]"
    assert [r["variant"] for r in data["rows"]] == ["default", "triton[auto]", "triton[triton]"]
    assert all(r["status"] == "ok" and r["median_ms"] > 0 for r in data["rows"])
    assert ssd.scan_override is None


def test_bench_times_a_kernel_chunk_beside_the_models(capsys):
    """A model chunk of 32 tiled by 16 (1 x 32 tokens: one chunk, or two of the kernels')."""
    small = [*SMALL[:SMALL.index("--chunk-size")], "--chunk-size", "32", *SMALL[SMALL.index("--chunk-size") + 2:]]
    code = main(["bench", "ssd", "--variant", "triton", "--scan", "triton", "--scan", "triton:16", *small])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["variant"] for r in data["rows"]] == ["triton[triton]", "triton[triton:16]"]
    assert all(r["status"] == "ok" and r["median_ms"] > 0 for r in data["rows"])


def test_mixers_take_the_scans_too(capsys):
    code = main(["bench", "ssd", "--mixer", "--variant", "triton", "--scan", "triton", "--scan", "gluon_slim", *SMALL])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["variant"] for r in data["rows"]] == ["mixer:triton[triton]", "mixer:triton[gluon_slim]"]
    assert all(r["status"] == "ok" for r in data["rows"])


@pytest.mark.parametrize("args, message", [
    (["--variant", "triton", "--scan", "gluon_fast"], "--scan 'gluon_fast' is not a chunk scan"),
    (["--variant", "triton", "--scan", "gluon_late:100"], "--scan 'gluon_late:100' names a kernel chunk that is "
                                                         "not a positive multiple of 16"),
    (["--variant", "default", "--scan", "auto"], "--scan picks the chunk scan of the triton variant, which is not "
                                                 "among the cores timed (default): add --variant triton"),
])
def test_a_scan_that_cannot_run_is_a_usage_error(args, message, capsys):
    assert main(["bench", "ssd", *args, "--shape", "1x8"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
