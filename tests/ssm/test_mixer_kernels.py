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


@pytest.mark.parametrize("x_dtype, d_dtype, w_dtype", [(torch.float32, torch.float32, torch.float32),
                                                        (torch.bfloat16, torch.bfloat16, torch.bfloat16),
                                                        (torch.bfloat16, torch.float32, torch.bfloat16),
                                                        (torch.float16, torch.float16, torch.float32)])
@pytest.mark.parametrize("rows, N", [(3, 64), (5, 100), (1, 1)])
def test_add_rmsnorm_is_the_residual_add_then_the_models_norm(x_dtype, d_dtype, w_dtype, rows, N):
    """``(norm(x + delta), x + delta)`` in one launch, on strided slices: the sum as torch's add gives it (bit for
    bit on a GPU; the interpreter truncates instead of rounding), the norm as RMSNorm of that sum."""
    from bambaprof.model.norm import RMSNorm
    from bambaprof.ssm.kernels.mixer import add_rmsnorm

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, rows + 2, N, generator=g).to(DEVICE, x_dtype)[:, 1:1 + rows]  # a slice of positions
    delta = torch.randn(2, rows, N + 4, generator=g).to(DEVICE, d_dtype)[..., 2:2 + N]  # a strided slice
    norm = RMSNorm(N, eps=1e-5).to(DEVICE, w_dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(N, generator=g) + 0.5)
        want_sum = x + delta
        want = norm(want_sum)
    got, got_sum = add_rmsnorm(x, delta, norm.weight, norm.eps)
    assert got.shape == got_sum.shape == x.shape
    assert got_sum.dtype == want_sum.dtype and got.dtype == want.dtype
    exact = DEVICE == "cuda" or want_sum.dtype == torch.float32
    if exact:
        assert torch.equal(got_sum, want_sum)
    else:  # truncated instead of rounded: one unit in the last place at most
        torch.testing.assert_close(got_sum.float(), want_sum.float(), atol=0, rtol=2 ** -7)
    tol = 1e-5 if got.dtype == torch.float32 and want_sum.dtype == torch.float32 else 2 ** -6
    torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=tol)


def test_the_row_norms_refuse_operands_of_two_shapes():
    from bambaprof.ssm.kernels.mixer import add_rmsnorm, gated_rmsnorm

    x, w = torch.zeros(2, 8, device=DEVICE), torch.ones(8, device=DEVICE)
    with pytest.raises(ValueError, match="differ in shape"):
        add_rmsnorm(x, torch.zeros(1, 8, device=DEVICE), w, 1e-5)
    with pytest.raises(ValueError, match="differ in shape"):  # as many values, another shape
        gated_rmsnorm(x, torch.zeros(4, 4, device=DEVICE), w, 1e-5, x.dtype)


def test_the_fused_decoder_takes_each_residual_add_into_the_norm_after_it(monkeypatch):
    """The triton model's eager forward: every norm after a residual add is one add_rmsnorm launch (two a
    layer, the final norm too), the logits as the decoder with torch's adds and norms, including
    ``last_logits_only``."""
    from bambaprof.ssm.kernels import mixer as kernels

    model, _, ids = _triton_model(2, 10, 6)
    launched = []
    real = kernels.add_rmsnorm
    monkeypatch.setattr(kernels, "add_rmsnorm", lambda *a, **k: launched.append(a[0].shape) or real(*a, **k))
    with torch.no_grad():
        fused = model(ids)
        last = model(ids, last_logits_only=True)
        layers = len(model.model.layers)
        assert len(launched) == 2 * (2 * layers - 1 + 1)  # two forwards; the first norm has no add before it
        assert launched[-1] == (2, 1, model.config.hidden_size)  # last_logits_only: the last position only
        model.defer_residual_adds = False  # the adds apart, each norm one launch of its own
        apart = model(ids)
        assert len(launched) == 2 * (2 * layers - 1 + 1)
        for m in model.modules():
            if type(m).__name__ == "RMSNorm":
                m.fused = False
        unfused = model(ids)
    torch.testing.assert_close(fused, unfused, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(apart, fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, fused[:, -1:], atol=1e-5, rtol=1e-5)


def _triton_model(batch: int, length: int, seed: int):
    """The tiny triton model, its mixers and seeded prompt ids ``(batch, length)``."""
    from bambaprof.model import build_model, preset

    cfg = preset("tiny")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    mixers = [m for m in model.modules() if type(m).__name__ == "Mamba2Mixer"]
    ids = torch.randint(0, cfg.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    return model, mixers, ids


def test_the_triton_mixer_uses_them_and_matches_the_unfused_mixer():
    model, mixers, ids = _triton_model(1, 24, 2)
    assert mixers and all(m.fused for m in mixers)
    with torch.no_grad():
        fused = model(ids)
        for m in model.modules():  # the mixers' kernels and the decoder's norms
            if hasattr(m, "fused"):
                m.fused = False
        unfused = model(ids)
    torch.testing.assert_close(fused, unfused, atol=1e-4, rtol=1e-4)


def test_cached_generation_with_the_fused_mixer_matches_the_unfused_one():
    from bambaprof.model import generate

    model, mixers, ids = _triton_model(2, 12, 4)
    with torch.no_grad():
        fused = generate(model, ids, 6, keep_logits=True)
        for m in mixers:
            m.fused = m.fused_decode = False
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


def _decode_reference(ordered, xbc, dt_raw, w, cb, state, A_log, D, dt_bias, lo, hi, H, P, G, N, dtype):
    """One token in float64 the unfused way: shift the ordered conv state, conv + SiLU (rounded to the model
    dtype), dt softplus and clamp, state decay and update, y = C.state + D x."""
    ordered = torch.cat([ordered[..., 1:], xbc[..., None]], dim=-1)
    conv = F.silu((ordered.double() * w.double()).sum(-1) + cb.double()).to(dtype).double()
    x = conv[:, :H * P].reshape(-1, H, P)
    B = conv[:, H * P:H * P + G * N].reshape(-1, G, N).repeat_interleave(H // G, dim=1)
    C = conv[:, H * P + G * N:].reshape(-1, G, N).repeat_interleave(H // G, dim=1)
    dt = F.softplus(dt_raw.double() + dt_bias.double()).clamp(lo, hi)
    decay = torch.exp(-dt * torch.exp(A_log.double()))
    state = state * decay[..., None, None] + (dt[..., None] * x)[..., None] * B[:, :, None, :]
    y = (state * C[:, :, None, :]).sum(-1) + D.double()[None, :, None] * x
    return ordered, state, y.reshape(y.shape[0], -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("H, P, G, N, K", [(4, 8, 1, 16, 4), (6, 40, 2, 10, 3)])
def test_mixer_decode_step_matches_the_unfused_steps_in_place(dtype, H, P, G, N, K):
    """Several tokens through the one-launch decode step: the circular conv state, the SSM state and the
    step counter change in place, and y, both states follow the float64 unfused steps."""
    from bambaprof.ssm.kernels.mixer import circular_conv_state, decode_programs, mixer_decode_step_op

    g = torch.Generator().manual_seed(7)
    b, prefill = 2, 7
    conv_dim = H * P + 2 * G * N
    ordered = torch.randn(b, conv_dim, K, generator=g).to(DEVICE, dtype)
    conv_state = circular_conv_state(ordered, prefill)
    state = torch.randn(b, H, P, N, generator=g).to(DEVICE, torch.float32)
    ref_state = state.double()
    counter = torch.full((1,), prefill * decode_programs(b, H, P), dtype=torch.int64, device=DEVICE)
    w = torch.randn(conv_dim, 1, K, generator=g).to(DEVICE, dtype)
    cb = torch.randn(conv_dim, generator=g).to(DEVICE, dtype)
    A_log = torch.randn(H, generator=g).to(DEVICE)
    D = torch.randn(H, generator=g).to(DEVICE)
    dt_bias = torch.randn(H, generator=g).to(DEVICE)
    storage = (conv_state.data_ptr(), state.data_ptr(), counter.data_ptr())
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    for t in range(3):
        proj = torch.randn(b, conv_dim + H + 5, generator=g).to(DEVICE, dtype)  # in_proj's output row
        xbc, dt_raw = proj[:, 2:2 + conv_dim], proj[:, 2 + conv_dim:2 + conv_dim + H]
        y = mixer_decode_step_op(xbc, dt_raw, conv_state, w, cb, state, counter, A_log, D, dt_bias, 0.0, 5.0, H, G)
        ordered, ref_state, ref_y = _decode_reference(ordered, xbc, dt_raw, w[:, 0], cb, ref_state, A_log, D,
                                                      dt_bias, 0.0, 5.0, H, P, G, N, dtype)
        assert (conv_state.data_ptr(), state.data_ptr(), counter.data_ptr()) == storage
        assert int(counter) == (prefill + t + 1) * decode_programs(b, H, P)
        assert torch.equal(conv_state, circular_conv_state(ordered, prefill + t + 1))  # exact: copies only
        torch.testing.assert_close(state.double(), ref_state, atol=tol, rtol=tol)
        torch.testing.assert_close(y.double(), ref_y, atol=tol * 10, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("H, P, G, N, K", [(4, 8, 1, 16, 4), (6, 40, 2, 10, 3)])
@pytest.mark.parametrize("norm_block", [None, 16])
def test_the_decode_step_with_the_gated_norm_is_the_step_then_the_norm(dtype, H, P, G, N, K, norm_block, monkeypatch):
    """The step with the gate applies gated_rmsnorm in the same launch: over several tokens and two batch
    rows (each row's last program normalises it), the output is the norm of the plain step's y, the states
    and the position advance alike, and the count of programs done grows by the row's programs a step.
    ``norm_block`` 16: rows wider than the norm's block, normalised in two passes over blocks."""
    from bambaprof.ssm.kernels import mixer as kernels

    if norm_block is not None:
        monkeypatch.setattr(kernels, "NORM_BLOCK", norm_block)
    from bambaprof.ssm.kernels.mixer import (
        circular_conv_state,
        decode_programs,
        gated_rmsnorm,
        mixer_decode_step,
        new_step_counter,
    )

    g = torch.Generator().manual_seed(8)
    b, prefill = 2, 5
    conv_dim, inter = H * P + 2 * G * N, H * P
    ordered = torch.randn(b, conv_dim, K, generator=g).to(DEVICE, dtype)
    conv = [circular_conv_state(ordered, prefill) for _ in range(2)]
    state0 = torch.randn(b, H, P, N, generator=g).to(DEVICE, torch.float32)
    states = [state0.clone(), state0.clone()]
    counters = [new_step_counter(b, prefill, H, P, DEVICE) for _ in range(2)]
    w = torch.randn(conv_dim, 1, K, generator=g).to(DEVICE, dtype)
    cb = torch.randn(conv_dim, generator=g).to(DEVICE, dtype)
    A_log, D, dt_bias = (torch.randn(H, generator=g).to(DEVICE) for _ in range(3))
    norm_w = (torch.rand(inter, generator=g) + 0.5).to(DEVICE, dtype)
    programs = decode_programs(b, H, P)
    for t in range(3):
        proj = torch.randn(b, inter + conv_dim + H + 3, generator=g).to(DEVICE, dtype)  # in_proj's output row
        gate, xbc = proj[:, 1:1 + inter], proj[:, 1 + inter:1 + inter + conv_dim]
        dt_raw = proj[:, 1 + inter + conv_dim:1 + inter + conv_dim + H]
        args = (A_log, D, dt_bias, 0.0, 5.0, H, G)
        y = mixer_decode_step(xbc, dt_raw, conv[0], w, cb, states[0], counters[0], *args)
        want = gated_rmsnorm(y, gate, norm_w, 1e-5, dtype)
        got = mixer_decode_step(xbc, dt_raw, conv[1], w, cb, states[1], counters[1], *args, gate=gate,
                                norm_weight=norm_w, eps=1e-5, out_dtype=dtype)
        assert got.shape == (b, inter) and got.dtype == dtype
        # the same state up to the last bit or so (the two forms of the kernel may contract multiplies and adds
        # into FMAs differently on a GPU)
        assert torch.equal(conv[1], conv[0])
        torch.testing.assert_close(states[1], states[0], atol=1e-6, rtol=1e-6)
        assert int(counters[1][0]) == int(counters[0][0]) == (prefill + t + 1) * programs
        assert counters[1][1:].tolist() == [(t + 1) * programs // b] * b and counters[0][1:].tolist() == [0] * b
        if dtype == torch.float32:  # the sum of squares in another order: the last bits
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        elif DEVICE == "cuda":  # the same roundings (a sum in another order: rare flips)
            torch.testing.assert_close(got, want, atol=2 ** -7, rtol=2 ** -7)
            assert (got != want).float().mean() < 0.02
        else:  # the interpreter truncates: within a unit or two of the last place
            torch.testing.assert_close(got.float(), want.float(), atol=2 ** -6, rtol=2 ** -6)


def test_the_decode_step_refuses_a_bad_gate_or_a_short_counter():
    from bambaprof.ssm.kernels.mixer import mixer_decode_step, new_step_counter

    H, P, N, K, b = 2, 8, 16, 4, 2
    conv_dim = H * P + 2 * N
    xbc, dt = torch.zeros(b, conv_dim, device=DEVICE), torch.zeros(b, H, device=DEVICE)
    conv, state = torch.zeros(b, conv_dim, K, device=DEVICE), torch.zeros(b, H, P, N, device=DEVICE)
    w, vec = torch.zeros(conv_dim, 1, K, device=DEVICE), torch.zeros(H, device=DEVICE)
    args = (xbc, dt, conv, w, None, state)
    rest = (vec, None, None, 0.0, 5.0, H, 1)
    with pytest.raises(ValueError, match="gate must be"):
        mixer_decode_step(*args, new_step_counter(b, 0, H, P, DEVICE), *rest, gate=torch.zeros(b, H * P + 1,
                          device=DEVICE), norm_weight=torch.ones(H * P, device=DEVICE))
    with pytest.raises(ValueError, match="needs a counter of 3 values"):
        mixer_decode_step(*args, torch.zeros(1, dtype=torch.int64, device=DEVICE), *rest,
                          gate=torch.zeros(b, H * P, device=DEVICE), norm_weight=torch.ones(H * P, device=DEVICE))


def test_cached_generation_through_the_one_launch_decode_matches_the_variants_step():
    from bambaprof.model import generate

    model, mixers, ids = _triton_model(2, 9, 8)
    assert mixers and all(m.fused_decode for m in mixers)
    with torch.no_grad():
        one_launch = generate(model, ids, 5, keep_logits=True)
        for m in mixers:
            m.fused_decode = False
        variant_step = generate(model, ids, 5, keep_logits=True)
    assert torch.equal(one_launch.tokens, variant_step.tokens)
    for a, b in zip(one_launch.step_logits, variant_step.step_logits):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_one_launch_decode_traces_into_one_graph():
    """A cached decode step compiles through the library op (fake shapes under the interpreter) without a
    break, updating the cache in place as eager does."""
    from bambaprof.collect.compile import reset_compiler
    from bambaprof.model import build_mixer, preset
    from bambaprof.model.cache import MambaLayerCache

    cfg = preset("tiny")
    mixer = build_mixer(cfg, "triton", seed=0, device=DEVICE)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 8, cfg.hidden_size, generator=g).to(DEVICE, mixer.D.dtype)
    token = torch.randn(1, 1, cfg.hidden_size, generator=g).to(DEVICE, mixer.D.dtype)
    reset_compiler()
    try:
        with torch.no_grad():
            eager_cache, compiled_cache = MambaLayerCache(), MambaLayerCache()
            mixer(x, eager_cache)
            mixer(x, compiled_cache)
            assert compiled_cache.step_counter is not None
            eager = mixer(token, eager_cache, 8)
            compiled = torch.compile(mixer, backend="aot_eager", fullgraph=True)(token, compiled_cache, 8)
    finally:
        reset_compiler()
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(compiled_cache.ssm_state, eager_cache.ssm_state)
    # the same position; eager applied the gated norm in the step, counting its programs done (compiled
    # code keeps the norm apart)
    assert torch.equal(compiled_cache.step_counter[0], eager_cache.step_counter[0])
    assert int(eager_cache.step_counter[1]) > 0 and int(compiled_cache.step_counter[1]) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_triton_models_rmsnorm_takes_one_launch_and_matches_torchs(dtype):
    from bambaprof.model.norm import RMSNorm

    g = torch.Generator().manual_seed(10)
    norm = RMSNorm(96, eps=1e-5).to(DEVICE, dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(96, generator=g) + 0.5)
    x = torch.randn(3, 5, 96, generator=g).to(DEVICE, dtype)
    with torch.no_grad():
        want = norm(x)
        norm.fused = True
        got = norm(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-5 if dtype == torch.float32 else 2 ** -6
    torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=tol)


@pytest.mark.parametrize("gated", [False, True])
def test_the_fused_norms_round_the_normalised_value_to_the_inputs_dtype(gated):
    """A bf16 input with a float32 weight (a model not cast as a whole): RMSNorm and RMSNormGated round the
    normalised value to bf16 before the float32 weight multiplies it, so each output over its weight is a
    bf16 value (up to the product's float32 rounding); the fused kernels round at the same place."""
    from bambaprof.model.norm import RMSNorm, RMSNormGated

    g = torch.Generator().manual_seed(11)
    N = 96
    norm = (RMSNormGated if gated else RMSNorm)(N, eps=1e-5).to(DEVICE)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(N, generator=g) + 0.5)
    x = torch.randn(4, N, generator=g).to(DEVICE, torch.bfloat16)
    z = torch.randn(4, N, generator=g).to(DEVICE, torch.bfloat16)
    with torch.no_grad():
        want = norm(x, z) if gated else norm(x)
        if gated:
            from bambaprof.ssm.kernels.mixer import gated_rmsnorm

            got = gated_rmsnorm(x, z, norm.weight, norm.eps, torch.float32)
        else:
            norm.fused = True
            got = norm(x)
    assert got.dtype == want.dtype == torch.float32
    normed = got / norm.weight
    torch.testing.assert_close(normed, normed.to(torch.bfloat16).float(), atol=0, rtol=2 ** -20)
    torch.testing.assert_close(got, want, atol=0, rtol=2 ** -7)  # the interpreter truncates: one bf16 unit


def test_set_variant_switches_the_fused_kernels_with_the_variant():
    from bambaprof.model.norm import RMSNorm

    model, mixers, _ = _triton_model(1, 4, 0)
    norms = [m for m in model.modules() if type(m) is RMSNorm]
    assert all(m.fused and m.fused_decode for m in mixers) and all(n.fused for n in norms)
    model.set_variant("default")
    assert not any(m.fused or m.fused_decode for m in mixers) and not any(n.fused for n in norms)
    model.set_variant("triton")
    assert all(m.fused and m.fused_decode for m in mixers) and all(n.fused for n in norms)


@pytest.mark.parametrize("shape, index, in_place", [
    ((6, 5), (slice(None), slice(1, 4)), True),                # 2-D: columns of a wider row
    ((2, 7, 9), (slice(None), slice(-1, None)), True),         # the last position of each sequence
    ((2, 7, 9), (slice(None), slice(None), slice(2, 6)), True),  # columns: rows of 9 elements apart
    ((2, 7, 9), (slice(None), slice(1, 5)), False),            # positions 1-4: no single row stride
    ((1, 7, 9), (0, slice(None, None, 2)), True),              # every other position: rows 18 apart
    ((3, 1, 1, 9), (Ellipsis,), True),                         # sizes of one
    ((4,), (Ellipsis,), True),                                 # one row
    ((4, 6), (slice(None), slice(None, None, 2)), False),      # a non-unit last stride
])
def test_rows_of_gives_each_row_where_it_is(shape, index, in_place):
    """The row kernels read row r at ``ptr + r * stride``: that must be ``t.reshape(-1, N)[r]`` for every r,
    with the tensor itself passed wherever its layout allows (else a contiguous copy)."""
    from bambaprof.ssm.kernels.mixer import rows_of

    t = torch.arange(torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)[index]
    passed, stride = rows_of(t)
    want = t.reshape(-1, t.shape[-1])
    assert torch.equal(torch.as_strided(passed, want.shape, (stride, 1)), want)
    assert (passed is t) == in_place
    assert in_place or passed.is_contiguous()
