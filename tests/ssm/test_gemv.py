"""The decode GEMVs with the norm or the activation in their launch (:mod:`bambaprof.ssm.kernels.gemv`)
against the ops they replace, in the Triton interpreter on the CPU (TRITON_INTERPRET=1, small shapes) and
on a GPU for real; and the triton model taking them for decode tokens only."""

import os

import pytest
import torch
from torch.nn import functional as F

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"),
                                reason="needs a CUDA GPU or TRITON_INTERPRET=1")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _close(got, want):
    """Within a few 16-bit steps of the largest value: float32 sums in another order, rounded once; under the
    interpreter (which truncates where a GPU rounds) a step or two more."""
    if want.numel() == 0:
        assert got.shape == want.shape
        return
    scale = want.abs().max().item()
    tol = 2 ** -6 if DEVICE == "cuda" else 2 ** -5
    torch.testing.assert_close(got.float(), want.float(), atol=tol * scale, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape, N", [((1, 1, 64), 48), ((3, 1, 100), 70), ((2, 256), 33), ((16, 40), 20),
                                      ((0, 1, 32), 16)])
@pytest.mark.parametrize("with_delta", [True, False])
def test_rmsnorm_linear_is_the_add_the_norm_then_the_linear(dtype, shape, N, with_delta):
    from bambaprof.ssm.kernels.gemv import rmsnorm_linear
    from bambaprof.ssm.kernels.mixer import add_rmsnorm, rmsnorm

    g = torch.Generator().manual_seed(3)
    K = shape[-1]
    x = torch.randn(shape, generator=g).to(DEVICE, dtype)
    delta = torch.randn(shape, generator=g).to(DEVICE, dtype) if with_delta else None
    norm_w = (torch.rand(K, generator=g) + 0.5).to(DEVICE, dtype)
    weight = (torch.randn(N, K, generator=g) / K ** 0.5).to(DEVICE, dtype)
    out, s = rmsnorm_linear(x, delta, norm_w, 1e-5, weight)
    if delta is not None:
        normed, want_s = add_rmsnorm(x, delta, norm_w, 1e-5)
    else:
        normed, want_s = rmsnorm(x, norm_w, 1e-5, dtype), x
    assert out.shape == (*shape[:-1], N) and out.dtype == dtype and out.is_contiguous()
    if delta is None:
        assert s is x
    elif DEVICE == "cuda":
        assert torch.equal(s, want_s)  # the residual sum, rounded as torch's add
    else:
        _close(s, want_s)
    _close(out, F.linear(normed.float(), weight.float()))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape, N", [((1, 1, 128), 40), ((4, 1, 200), 64), ((2, 64), 17)])
def test_silu_mul_linear_is_the_activation_then_the_linear(dtype, shape, N):
    from bambaprof.ssm.kernels.gemv import silu_mul_linear

    g = torch.Generator().manual_seed(4)
    gate_up = torch.randn(shape, generator=g).to(DEVICE, dtype)
    weight = (torch.randn(N, shape[-1] // 2, generator=g) / shape[-1] ** 0.5).to(DEVICE, dtype)
    out = silu_mul_linear(gate_up, weight)
    gate, up = gate_up.chunk(2, dim=-1)
    assert out.shape == (*shape[:-1], N) and out.dtype == dtype
    _close(out, F.linear((F.silu(gate) * up).float(), weight.float()))


def test_strided_operands_are_read_as_their_values():
    """A delta with a stride along its rows and a gate/up slice of a wider row give the same products as
    their contiguous copies."""
    from bambaprof.ssm.kernels.gemv import rmsnorm_linear, silu_mul_linear

    g = torch.Generator().manual_seed(9)
    dt = torch.bfloat16
    x = torch.randn(2, 1, 32, generator=g).to(DEVICE, dt)
    delta = torch.randn(2, 1, 64, generator=g).to(DEVICE, dt)[..., ::2]  # stride 2 along the row
    nw, w = torch.ones(32, device=DEVICE, dtype=dt), torch.randn(24, 32, generator=g).to(DEVICE, dt)
    got, s = rmsnorm_linear(x, delta, nw, 1e-5, w)
    want, want_s = rmsnorm_linear(x, delta.contiguous(), nw, 1e-5, w)
    assert torch.equal(got, want) and torch.equal(s, want_s)
    wide = torch.randn(3, 1, 80, generator=g).to(DEVICE, dt)
    gate_up = wide[..., 8:72]  # rows 80 apart
    w_down = torch.randn(16, 32, generator=g).to(DEVICE, dt)
    assert torch.equal(silu_mul_linear(gate_up, w_down), silu_mul_linear(gate_up.contiguous(), w_down))


def test_they_apply_to_a_few_rows_of_one_16_bit_dtype():
    from bambaprof.ssm.kernels.gemv import MAX_ROWS, applies

    w = torch.zeros(8, 32, dtype=torch.bfloat16)
    row = torch.zeros(1, 1, 32, dtype=torch.bfloat16)
    assert applies(row, w) and applies(torch.zeros(MAX_ROWS, 32, dtype=torch.bfloat16), w, row)
    assert not applies(torch.zeros(MAX_ROWS + 1, 32, dtype=torch.bfloat16), w)  # a prefill: a GEMM
    assert not applies(row.float(), w.float())  # float32: torch's exact products
    assert not applies(row, w, row.half())  # another dtype among the operands
    assert not applies(row, w.t().contiguous().t())  # a strided weight
    assert not applies(torch.zeros(1, 64, dtype=torch.bfloat16)[:, ::2], w)  # rows with a stride
    assert applies(row, w, max_rows=1) and not applies(torch.zeros(2, 32, dtype=torch.bfloat16), w, max_rows=1)
    assert not applies(row[..., :0], w[:, :0]) and not applies(row, w[:0])  # empty weights: torch's
    # a weight whose rows the compiler cannot take as aligned (K not a multiple of 16, or an odd start): torch's
    odd = torch.zeros(1, 40, dtype=torch.bfloat16)
    assert not applies(odd, torch.zeros(8, 40, dtype=torch.bfloat16))
    assert not applies(row, torch.zeros(8 * 32 + 1, dtype=torch.bfloat16)[1:].view(8, 32))


def test_they_refuse_operands_of_the_wrong_shape():
    from bambaprof.ssm.kernels.gemv import rmsnorm_linear, silu_mul_linear

    x = torch.zeros(1, 16, device=DEVICE, dtype=torch.bfloat16)
    w = torch.zeros(8, 16, device=DEVICE, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="differ in shape"):
        rmsnorm_linear(x, torch.zeros(2, 16, device=DEVICE, dtype=torch.bfloat16), x[0], 1e-5, w)
    with pytest.raises(ValueError, match="norm weight"):
        rmsnorm_linear(x, None, x[0, :8], 1e-5, w)
    with pytest.raises(ValueError, match="twice"):
        silu_mul_linear(torch.zeros(1, 30, device=DEVICE, dtype=torch.bfloat16), w)


@pytest.mark.parametrize("batch", [1, 2])
def test_the_triton_model_takes_them_for_decode_tokens_and_matches_the_ops_apart(monkeypatch, batch):
    """A cached bf16 decode of the triton model: each decode token's residual adds and norms go into the
    launches of in_proj and the stacked gate/up projection (one each a layer), and at batch 1 the activation
    into down_proj's; the prefill (more rows than the kernels take) keeps the ops apart, and the logits match
    the decoder with them apart."""
    from bambaprof.model import build_model, preset
    from bambaprof.model.decoder import DecoderLayer
    from bambaprof.model.mlp import GatedMLP
    from bambaprof.ssm.kernels import gemv

    cfg = preset("tiny", dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    ids = torch.randint(0, cfg.vocab_size, (batch, 20), generator=torch.Generator().manual_seed(5)).to(DEVICE)
    calls = {"rmsnorm_linear": 0, "silu_mul_linear": 0}
    for name in calls:
        real = getattr(gemv, name)
        monkeypatch.setattr(gemv, name, lambda *a, _real=real, _name=name, **k: calls.__setitem__(
            _name, calls[_name] + 1) or _real(*a, **k))

    later = torch.randint(0, cfg.vocab_size, (3, batch, 1), generator=torch.Generator().manual_seed(6)).to(DEVICE)

    def decode(tokens: int):  # the same tokens on both sides (teacher forcing), so the logits compare
        cache = model.new_cache()
        with torch.no_grad():
            logits = [model(ids, cache=cache, last_logits_only=True)[:, -1]]
            for t in range(tokens):
                logits.append(model(later[t], cache=cache, last_logits_only=True)[:, -1])
        return torch.stack(logits)

    fused = decode(3)
    layers = model.model.layers
    mamba = sum(1 for layer in layers if layer.layer_type == "mamba")
    expected = {"rmsnorm_linear": 3 * (mamba + len(layers)), "silu_mul_linear": 3 * len(layers) if batch == 1 else 0}
    assert calls == expected
    monkeypatch.setattr(DecoderLayer, "fuse_norm_gemvs", False)
    monkeypatch.setattr(GatedMLP, "fused", False)
    for m in model.modules():
        if type(m) is GatedMLP:
            m.fused = False
    apart = decode(3)
    assert calls == expected
    assert torch.equal(fused[0], apart[0])  # the prefill: the same ops
    for got, want in zip(fused[1:], apart[1:]):
        _close(got, want)


def test_a_short_forward_without_a_cache_takes_them_too(monkeypatch):
    """A forward of a few positions without a cache (the ``generate`` workload without its cache recomputes
    short prefixes): its rows fit the kernels, the mixers start from in_proj's fused output, and the logits
    match the ops apart."""
    from bambaprof.model import build_model, preset
    from bambaprof.model.decoder import DecoderLayer
    from bambaprof.model.mlp import GatedMLP
    from bambaprof.ssm.kernels import gemv

    cfg = preset("tiny", dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    ids = torch.randint(0, cfg.vocab_size, (1, 8), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    calls = []
    real = gemv.rmsnorm_linear
    monkeypatch.setattr(gemv, "rmsnorm_linear", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    with torch.no_grad():
        fused = model(ids)
        layers = model.model.layers
        assert len(calls) == len(layers) + sum(1 for layer in layers if layer.layer_type == "mamba")
        monkeypatch.setattr(DecoderLayer, "fuse_norm_gemvs", False)
        for m in model.modules():
            if type(m) is GatedMLP:
                m.fused = False
        apart = model(ids)
    _close(fused, apart)


def test_more_rows_than_the_norm_fusion_takes_keep_the_ops_apart(monkeypatch):
    """Past ``NORM_MAX_ROWS`` rows the decoder's norms and linears stay apart (their padded kernels cost more
    than the launch they save once the token is GPU-bound)."""
    from bambaprof.model import build_model, preset
    from bambaprof.ssm.kernels import gemv

    cfg = preset("tiny", dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    calls = []
    real = gemv.rmsnorm_linear
    monkeypatch.setattr(gemv, "rmsnorm_linear", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for rows, fused in ((gemv.NORM_MAX_ROWS, True), (gemv.NORM_MAX_ROWS + 1, False)):
            calls.clear()
            model(torch.randint(0, cfg.vocab_size, (1, rows), generator=g).to(DEVICE))
            assert bool(calls) == fused, (rows, calls)
