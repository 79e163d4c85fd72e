"""Attention, optimizer steps, a growing cache and checkpointing on real GPU work (``gpu`` marker): bf16 attention
through PyTorch's choice (a fused kernel, found by its op and its name, with a roofline), pinned to the math fallback
(unfused-attention), and written by hand; flex_attention eagerly and compiled; AdamW's three implementations on
CUDA (the for-loop one launches per parameter); a KV cache grown by torch.cat (bytes from the cat kernel's name);
checkpointed training."""

import pytest
import torch

from bambaprof.analysis import analyze
from tests.scripts import load_script


@pytest.mark.gpu
def test_attention_backends_on_the_gpu(tmp_path):
    rec = load_script("attention_traces")
    found = {}
    for mode in ("sdpa", "math", "eager"):
        path = rec.record(mode, tmp_path, "cuda", torch.bfloat16, heads=8, tokens=1024, head_dim=64)
        a = analyze(path)
        print(mode, [(r["backend"], r["count"], r["gpu_us"], r["backward_us"], r["floor_us"]) for r in a.attention])
        found[mode] = a
    sdpa = found["sdpa"].attention
    assert sdpa[0]["backend"] in ("flash", "efficient", "cudnn") and sdpa[0]["count"] == 3
    assert sdpa[0]["gpu_us"] > 0 and sdpa[0]["backward_us"] > 0 and sdpa[0]["floor_us"] > 0
    assert not [f for f in found["sdpa"].findings if f["id"] == "unfused-attention"]
    fused_kernels = [k for k in found["sdpa"].kernels if k["kind"] == "kernel" and k.get("flops")
                     and k.get("launched_by", "").startswith(("aten::_scaled_dot_product_", "aten::_cudnn_attention",
                                                              "aten::_flash_attention", "aten::_efficient_attention"))]
    assert fused_kernels, "the fused forward kernel has its op's bytes and FLOPs"
    for mode, backend in (("math", "math"), ("eager", "unfused")):
        (row,) = [r for r in found[mode].attention if r["found_by"] == "call"]
        assert row["backend"] == backend and row["count"] == 3 and row["backward_us"] > 0
        f = next(f for f in found[mode].findings if f["id"] == "unfused-attention")
        assert f["time_us"] > 0


@pytest.mark.gpu
def test_flex_attention_eager_and_compiled_on_the_gpu(tmp_path):
    """flex_attention eagerly (its unfused implementation: a flex-eager call with a backward, the finding) and
    through torch.compile (inductor's fused Triton kernel, found by its name, no finding)."""
    rec = load_script("attention_traces")
    found = {}
    for mode in ("flex", "flex-compiled"):
        a = analyze(rec.record(mode, tmp_path, "cuda", torch.bfloat16, heads=8, tokens=1024, head_dim=64))
        print(mode, [(r["backend"], r["op"], r["found_by"], r["count"], r["gpu_us"], r["backward_us"])
                     for r in a.attention])
        found[mode] = a
    (row,) = [r for r in found["flex"].attention if r["found_by"] == "call"]
    assert (row["backend"], row["count"]) == ("flex-eager", 3) and row["gpu_us"] > 0 and row["backward_us"] > 0
    assert any(f["id"] == "unfused-attention" for f in found["flex"].findings)
    compiled = found["flex-compiled"]
    assert {r["backend"] for r in compiled.attention} == {"flex"}
    assert sum(r["count"] for r in compiled.attention) >= 6  # a forward and a backward kernel a step
    assert not any(f["id"] == "unfused-attention" for f in compiled.findings)


@pytest.mark.gpu
def test_optimizer_implementations_on_the_gpu(tmp_path):
    rec = load_script("optimizer_traces")
    rows = {}
    for name in ("for-loop", "foreach", "fused"):
        path, ms = rec.record(name, tmp_path, "cuda", layers=8, width=256)
        (row,) = analyze(path).optimizer
        print(name, f"{ms:.3f} ms a step", row)
        rows[name] = row
    for name, row in rows.items():
        assert (row["optimizer"], row["implementation"], row["steps"]) == ("AdamW", name, 3)
        assert row["launches_per_step"] > 0 and row["gpu_us"] > 0
    assert rows["for-loop"]["launches_per_step"] > rows["foreach"]["launches_per_step"] \
        > rows["fused"]["launches_per_step"]


@pytest.mark.gpu
def test_growing_cache_and_checkpointing_on_the_gpu(tmp_path):
    """A KV cache grown by torch.cat on the GPU: CUDA's cat kernel names the element size (bf16: 2 bytes), so the
    table has bytes and a floor; checkpointed training recomputes GPU work in the backward pass."""
    kv = load_script("kv_cache_traces")
    kv.decode("cat", tmp_path / "cat.json.gz", "cuda", prompt=1024, tokens=16)
    (row,) = analyze(tmp_path / "cat.json.gz").growing_cats
    print("growing:", row)
    assert row["element_bytes"] == 2 and row["bytes_written"] == 2 * row["elements_written"]
    assert row["gpu_us"] > 0 and 0 < row["floor_us"] < row["gpu_us"]
    ck = load_script("checkpoint_traces")
    ck.record(True, tmp_path / "checkpointed.json.gz", "cuda")
    a = analyze(tmp_path / "checkpointed.json.gz")
    print("checkpoint:", a.checkpointing, {k: a.summary[k] for k in ("recompute_gpu_us", "backward_gpu_us")})
    assert a.summary["recompute_calls"] == 72 and 0 < a.summary["recompute_gpu_us"] < a.summary["backward_gpu_us"]
