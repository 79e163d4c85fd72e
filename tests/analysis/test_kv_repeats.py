"""Keys and values copied to the query's heads before attention (``--table repeats``, ``repeated-kv``): real CPU traces
of grouped-query decode steps three ways (``benchmarks/kv_repeat_traces.py``), the real H100 trace of the tiny model,
and the math backend's own repeat, which is not the caller's."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile, record_function

from bambaprof.analysis import analyze
from bambaprof.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
# 8 decode steps of 32 query heads over 8 key and value heads of 128, bf16, caches of 2,049 to 2,056 tokens
LENGTHS = range(2049, 2057)


@pytest.mark.parametrize("name, form", [("repeat-interleave", "aten::repeat_interleave"),
                                        ("repeat-kv", "aten::reshape")])
def test_real_cpu_decode_steps(name, form):
    a = analyze(DATA / "kv-repeats" / f"{name}.json.gz")
    (row,) = a.kv_repeats
    assert (row["caller"], row["form"], row["kv_heads"], row["repeats"], row["head_dim"], row["dtype"]) == \
        ("attention", form, 8, 4, 128, "bf16")
    assert (row["calls"], row["copies"], row["min_length"], row["max_length"]) == (8, 16, 2049, 2056)
    assert row["elements"] == sum(2 * 8 * 4 * s * 128 for s in LENGTHS) and row["bytes"] == 2 * row["elements"]
    assert row["backend"] == "flash" and row["masked"] is False and row["gpu_us"] is None and row["cpu_us"] > 0
    assert a.summary["kv_repeat_copies"] == 16 and a.summary["kv_repeat_us"] is None
    (f,) = [f for f in a.findings if f["id"] == "repeated-kv"]
    assert f["severity"] == "high" and f["time_us"] is None  # about half of the span, on the host
    assert "8 attention calls read keys and values copied to the query's heads first: 16 copies (269.03 MB" in \
        f["message"] and f"repeated 4x by {form}" in f["message"] and "2,049 to 2,056 tokens" in f["message"]
    assert "enable_gqa=True" in f["suggestion"] and "on the CPU its flash backend takes any dtype" in f["suggestion"]


def test_enable_gqa_copies_nothing():
    a = analyze(DATA / "kv-repeats" / "enable-gqa.json.gz")
    assert a.kv_repeats == [] and a.summary["kv_repeat_copies"] == 0
    assert not [f for f in a.findings if f["id"] == "repeated-kv"]


def test_real_h100_tiny_model():
    """The tiny model's attention on an H100 (fp32, 2 key and value heads repeated 2x): 19 us of copies, 2% of kernel
    time, below the rule's 5%."""
    a = analyze(DATA / "generation" / "h100-run-no-cache")
    (row,) = a.kv_repeats
    assert (row["form"], row["kv_heads"], row["repeats"], row["dtype"], row["backend"]) == \
        ("aten::repeat_interleave", 2, 2, "fp32", "efficient")
    assert (row["calls"], row["copies"], row["min_length"], row["max_length"]) == (6, 12, 16, 21)
    assert row["gpu_us"] == pytest.approx(a.summary["kv_repeat_us"]) and 0 < row["gpu_us"] < 30
    assert not [f for f in a.findings if f["id"] == "repeated-kv"]


def test_the_math_backends_own_repeat_is_not_the_callers(tmp_path):
    """SDPA's math backend with enable_gqa=True repeats k and v itself, inside the call ([1, 2, 4, 32, 16] copies):
    no row, though the next call (multi-head, 8 heads of 32 x 16) reads keys of the repeat's shape."""
    q, k, k8 = torch.randn(1, 8, 4, 16), torch.randn(1, 2, 32, 16), torch.randn(1, 8, 32, 16)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("attention"), sdpa_kernel(SDPBackend.MATH):
            F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
            F.scaled_dot_product_attention(q, k8, k8)
    path = tmp_path / "math.json"
    prof.export_chrome_trace(str(path))
    a = analyze(path)
    assert a.kv_repeats == []
    assert any(r["backend"] == "math" for r in a.attention)


def test_cli_table(capsys):
    assert main(["analyze", str(DATA / "kv-repeats" / "repeat-kv.json.gz"), "--table", "repeats"]) == 0
    assert "aten::reshape" in capsys.readouterr().out
    assert main(["analyze", str(DATA / "kv-repeats" / "enable-gqa.json.gz"), "--table", "repeats"]) == 0
    assert "no keys or values copied to the query's heads" in capsys.readouterr().out
