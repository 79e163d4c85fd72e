"""The fused mixer kernels (conv1d + SiLU, gated RMSNorm) against float64 references, in the Triton
interpreter on the CPU (TRITON_INTERPRET=1, small shapes) and on a GPU for real."""

import os

import pytest
import torch
from torch.nn import functional as F

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"),
                                reason="needs a CUDA GPU or TRITON_INTERPRET=1")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _conv_reference(x, weight, bias):
    b, L, C = x.shape
    out = F.conv1d(x.double().transpose(1, 2), weight.double(), bias.double() if bias is not None else None,
                   padding=weight.shape[-1] - 1, groups=C)[..., :L]
    return F.silu(out).transpose(1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("b, L, C, K, bias", [(1, 5, 7, 4, True), (2, 70, 136, 4, False), (1, 1, 3, 2, True)])
def test_conv1d_silu_matches_float64_on_a_strided_slice(dtype, b, L, C, K, bias):
    from bambaprof.ssm.kernels.mixer import conv1d_silu_op

    g = torch.Generator().manual_seed(0)
    wide = torch.randn(b, L, C + 9, generator=g).to(DEVICE, dtype)
    x = wide[..., 4:4 + C]  # a slice of in_proj's output: row stride C + 9
    weight = torch.randn(C, 1, K, generator=g).to(DEVICE, dtype)
    bias_t = torch.randn(C, generator=g).to(DEVICE, dtype) if bias else None
    out = conv1d_silu_op(x, weight, bias_t)
    assert out.shape == (b, L, C) and out.dtype == dtype and out.is_contiguous()
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(out.double(), _conv_reference(x, weight, bias_t), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows, N", [(3, 64), (5, 100), (1, 1)])
def test_gated_rmsnorm_matches_the_models_norm(dtype, rows, N):
    from bambaprof.model.norm import RMSNormGated
    from bambaprof.ssm.kernels.mixer import gated_rmsnorm_op

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, rows, N, generator=g).to(DEVICE, dtype)
    z = torch.randn(2, rows, N + 6, generator=g).to(DEVICE, dtype)[..., 3:3 + N]  # the gate: a strided slice
    norm = RMSNormGated(N, eps=1e-5).to(DEVICE, dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(N, generator=g) + 0.5)
        want = norm(x, z)
    got = gated_rmsnorm_op(x, z, norm.weight, norm.eps, dtype)
    assert got.shape == x.shape and got.dtype == dtype
    if dtype == torch.float32:
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    else:  # both round twice (the normalised value, then the product): a flip in the first is 2 ulps at most
        torch.testing.assert_close(got.float(), want.float(), atol=2 ** -6, rtol=2 ** -6)
        if DEVICE == "cuda":  # round-to-nearest as torch rounds: flips are rare (the interpreter truncates)
            assert (got != want).float().mean() < 0.02


def test_the_triton_mixer_uses_them_and_matches_the_unfused_mixer():
    from bambaprof.model import build_model, preset

    cfg = preset("tiny")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    mixers = [m for m in model.modules() if type(m).__name__ == "Mamba2Mixer"]
    assert mixers and all(m.fused for m in mixers)
    ids = torch.randint(0, cfg.vocab_size, (1, 24), generator=torch.Generator().manual_seed(2)).to(DEVICE)
    with torch.no_grad():
        fused = model(ids)
        for m in mixers:
            m.fused = False
        unfused = model(ids)
    torch.testing.assert_close(fused, unfused, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv1d_silu_step_shifts_the_state_in_place_and_matches_float64(dtype):
    from bambaprof.ssm.kernels.mixer import conv1d_silu_step_op

    g = torch.Generator().manual_seed(3)
    b, C, K = 2, 300, 4
    state = torch.randn(b, C, K, generator=g).to(DEVICE, dtype)
    before = state.clone()
    x = torch.randn(b, C + 5, generator=g).to(DEVICE, dtype)[:, 2:2 + C]  # a slice of in_proj's output
    weight = torch.randn(C, 1, K, generator=g).to(DEVICE, dtype)
    bias = torch.randn(C, generator=g).to(DEVICE, dtype)
    storage = state.data_ptr()
    out = conv1d_silu_step_op(state, x, weight, bias)
    want_state = torch.cat([before[..., 1:], x[..., None]], dim=-1)
    assert state.data_ptr() == storage and torch.equal(state, want_state)  # shifted in place, exactly
    want = F.silu((want_state.double() * weight[:, 0, :].double()).sum(-1) + bias.double())
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(out.double(), want, atol=tol, rtol=tol)


def test_cached_generation_with_the_fused_mixer_matches_the_unfused_one():
    from bambaprof.model import build_model, generate, preset

    cfg = preset("tiny")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    mixers = [m for m in model.modules() if type(m).__name__ == "Mamba2Mixer"]
    ids = torch.randint(0, cfg.vocab_size, (2, 12), generator=torch.Generator().manual_seed(4)).to(DEVICE)
    with torch.no_grad():
        fused = generate(model, ids, 6, keep_logits=True)
        for m in mixers:
            m.fused = False
        unfused = generate(model, ids, 6, keep_logits=True)
    assert torch.equal(fused.tokens, unfused.tokens)
    for a, b in zip(fused.step_logits, unfused.step_logits):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_fused_mixer_traces_into_one_graph_through_its_ops():
    """Under torch.compile the mixer calls the library ops (fake shapes under the interpreter): one graph, no
    break, the eager result."""
    from bambaprof.collect.compile import reset_compiler
    from bambaprof.model import build_mixer, preset

    cfg = preset("tiny")
    mixer = build_mixer(cfg, "triton", seed=0, device=DEVICE)
    assert mixer.fused
    x = torch.randn(1, 16, cfg.hidden_size, generator=torch.Generator().manual_seed(5)).to(DEVICE, mixer.D.dtype)
    reset_compiler()
    try:
        with torch.no_grad():
            eager = mixer(x)
            compiled = torch.compile(mixer, backend="aot_eager", fullgraph=True)(x)
    finally:
        reset_compiler()
    torch.testing.assert_close(compiled, eager)
