"""Cached generation's token against its floor: weights read once a step (less the input embedding's table),
the caches' traffic, the peak bandwidth (or matmul rate) of the run; on the real H100 run directory of the tiny
model (tests/data/generation/h100-run-no-cache, its manifest made a cached run's in a copy) and hand-computed
configurations."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.decode_floor import decode_floor_summary
from bambaprof.analysis.peaks import PeakCompute
from bambaprof.model.config import preset

DATA = Path(__file__).resolve().parents[1] / "data" / "generation"


def _manifest(model, token_ms=1.0, batch=1, seq_len=511, new_tokens=3, use_cache=True, workload="generate"):
    config = SimpleNamespace(workload=workload, use_cache=use_cache, batch=batch, seq_len=seq_len,
                             new_tokens=new_tokens)
    return SimpleNamespace(config=config, model=model.to_dict() if hasattr(model, "to_dict") else model,
                           timings=SimpleNamespace(inter_token_ms=SimpleNamespace(median=token_ms)))


def test_hand_computed_floor():
    """Bamba-9B's shapes at 4 layers without attention, bf16: weights (four mixers, their MLPs, the LM head; the input
    table left out) and, a sequence, each mixer's float32 SSM state read and written and its conv state; at 1000
    GB/s (1 GB a ms)."""
    c = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    mixer = 4096 * (2 * 8192 + 2 * 1 * 128 + 128) + 8448 * 5 + 3 * 128 + 8192 + 8192 * 4096
    weights = 2 * (4 * mixer + 4 * 3 * 4096 * 14336 + 128256 * 4096)
    cache = 4 * (2 * 128 * 64 * 128 * 4 + 8448 * 5 * 2)
    s = decode_floor_summary(_manifest(c), 1000.0, None)
    assert (s["decode_weight_bytes"], s["decode_cache_bytes"], s["decode_batch"]) == (weights, cache, 1)
    assert s["decode_floor_ms"] == pytest.approx((weights + cache) / 1e9)
    assert s["decode_floor_x"] == pytest.approx(1.0 / s["decode_floor_ms"]) and s["decode_bound"] == "bandwidth"
    big = decode_floor_summary(_manifest(c, batch=4096), 1000.0, PeakCompute({"bf16": 1.0}))  # 1 TFLOP/s
    assert big["decode_bound"] == "compute"
    assert big["decode_floor_ms"] == pytest.approx(2 * weights / 2 * 4096 / 1e12 * 1e3)


def test_attention_layers_read_their_keys_and_values():
    """An attention layer reads every earlier token's keys and values: the mean context over the new tokens (511 +
    (3 - 1) / 2 = 512), plus the one written."""
    c = preset("tiny")
    with_kv = decode_floor_summary(_manifest(c), 1000.0, None)["decode_cache_bytes"]
    head_dim = c.hidden_size // c.num_attention_heads
    kv = 2 * c.num_key_value_heads * head_dim * 513 * 4
    mamba = 2 * (2 * c.mamba_n_heads * c.mamba_d_head * c.mamba_d_state * 4 + c.conv_dim * 5 * 4)
    assert with_kv == kv + mamba


def test_not_judged():
    """No generate run, no cache, no peak bandwidth (a CPU run), no token time, or a configuration that is not one:
    every figure unknown."""
    c = preset("tiny")
    for manifest, gbps in ((_manifest(c, workload="mixer"), 1000.0), (_manifest(c, use_cache=False), 1000.0),
                           (_manifest(c), None), (_manifest(c, token_ms=None), 1000.0),
                           (_manifest(c, token_ms=float("nan")), 1000.0),
                           (_manifest({"hidden_size": "x"}), 1000.0), (_manifest(["not", "a", "dict"]), 1000.0),
                           (SimpleNamespace(), 1000.0)):
        assert set(decode_floor_summary(manifest, gbps, None).values()) == {None}


def test_a_real_run_directory(tmp_path):
    """The tiny model generating on an H100 (a run profiled with --no-cache: not judged), and the same manifest made
    a cached run's: 4.07 ms a token against a floor of well under a microsecond, the host holding the GPU: high,
    with CUDA graphs first."""
    assert analyze(DATA / "h100-run-no-cache").summary["decode_floor_x"] is None
    run = tmp_path / "run"
    shutil.copytree(DATA / "h100-run-no-cache", run)
    manifest = run / "bambaprof" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["config"]["use_cache"] = True
    manifest.write_text(json.dumps(doc))
    a = analyze(run)
    s = a.summary
    assert s["decode_token_ms"] == pytest.approx(4.069, abs=1e-3) and s["decode_floor_x"] > 1000
    (f,) = [f for f in a.findings if f["id"] == "decode-floor"]
    assert f["severity"] == "high" and f["time_us"] is None
    assert "The host sets the pace" in f["suggestion"] and "--compile reduce-overhead" in f["suggestion"]


def test_the_h200_example_runs():
    """The study's Bamba-9B runs on the H200 (traces/examples/: 4 layers, no attention, bf16, a 512-token prompt, 8
    new tokens): 3.28 GB of weights and 33.9 MB of SSM and conv state a token at the measured 4,227 GB/s, a floor of
    0.78 ms. The `triton` variant eagerly (an early run) took 6.11 ms a token, 7.8x (high); under max-autotune 1.10
    ms, 1.41x (none)."""
    examples = Path(__file__).resolve().parents[2] / "traces" / "examples"
    eager = analyze(examples / "bamba-9b-triton-none-generate-b1-L512-bbe69653")
    s = eager.summary
    assert (s["decode_weight_bytes"], s["decode_cache_bytes"], s["decode_batch"]) == (3278255104.0, 33892352.0, 1)
    assert s["decode_floor_ms"] == pytest.approx(0.7836, abs=1e-4) and s["decode_floor_x"] == pytest.approx(7.80, abs=0.01)
    (f,) = [f for f in eager.findings if f["id"] == "decode-floor"]
    assert f["severity"] == "high"
    graphs = analyze(examples / "bamba-9b-triton-max-autotune-generate-b1-L512-c69c943e").summary
    assert graphs["decode_floor_x"] == pytest.approx(1.41, abs=0.01)
    assert not any(f["id"] == "decode-floor" for f in analyze(examples / "bamba-9b-triton-max-autotune-generate-b1-"
                                                                   "L512-c69c943e").findings)
