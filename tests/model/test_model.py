"""The Bamba decoder: presets, overrides, seeded weights, variants, cached generation."""

import pytest
import torch

from bambaprof.errors import UsageError
from bambaprof.model import PRESETS, build_model, generate, preset

torch.set_num_threads(1)


def test_bamba_9b_preset_has_the_published_shapes():
    c = PRESETS["bamba-9b"]
    assert (c.hidden_size, c.num_hidden_layers, c.attn_layer_indices) == (4096, 32, (9, 18, 27))
    assert (c.mamba_n_heads, c.mamba_d_head, c.mamba_d_state, c.mamba_n_groups) == (128, 64, 128, 1)
    assert (c.mamba_chunk_size, c.mamba_d_conv, c.mamba_expand) == (256, 4, 2)
    assert c.mamba_intermediate == 8192 and c.conv_dim == 8192 + 2 * 128


def test_overrides_match_the_study_setup():
    c = preset("bamba-9b", layers=4, attention=False, chunk_size=128, dtype="bf16")
    assert c.num_hidden_layers == 4 and c.attn_layer_indices == () and c.layer_types() == ["mamba"] * 4
    assert c.mamba_chunk_size == 128 and c.torch_dtype == torch.bfloat16
    assert preset("bamba-9b", layers=12).attn_layer_indices == (9,)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="huge"), "unknown preset"),
        (dict(name="tiny", layers=0), "--layers must be positive"),
        (dict(name="tiny", chunk_size=0), "chunk size must be positive"),
        (dict(name="tiny", dtype="int8"), "unknown dtype"),
        (dict(name="tiny", mamba_n_groups=3), "multiple of groups"),
    ],
)
def test_bad_overrides(kwargs, match):
    with pytest.raises(UsageError, match=match):
        preset(kwargs.pop("name"), **kwargs)


def test_seeded_weights_are_reproducible_and_mamba2_initialised():
    cfg = preset("tiny")
    a, b, c = build_model(cfg, seed=1), build_model(cfg, seed=1), build_model(cfg, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["lm_head.weight"], sc["lm_head.weight"])
    mixer = a.model.layers[0].mamba
    dt = torch.nn.functional.softplus(mixer.dt_bias.float())
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    A = torch.exp(mixer.A_log.float())
    assert A.min() >= 1.0 and A.max() <= 16.0
    assert "model.layers.1.self_attn.q_proj.weight" in sa  # HF parameter names
    assert "model.layers.0.mamba.in_proj.weight" in sa


def test_prefill_shapes_and_variants_agree():
    cfg = preset("tiny")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ids = torch.randint(0, cfg.vocab_size, (2, 37), generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        m = build_model(cfg, "reference", device=device)
        ref = m(ids)
        assert ref.shape == (2, 37, cfg.vocab_size)
        for name in ["default", "default-optimized"]:
            m.set_variant(name)
            torch.testing.assert_close(m(ids), ref, rtol=1e-4, atol=1e-4)
        m.set_variant("independent")
        assert (m(ids) - ref).abs().max() > 1e-6  # 37 tokens span 3 chunks of 16


@pytest.mark.parametrize("variant", ["default", "independent", "reference"])
@pytest.mark.parametrize("attention", [True, False])
def test_cached_generation_matches_recomputation(variant, attention):
    cfg = preset("tiny", attention=attention)
    m = build_model(cfg, variant, seed=3)
    ids = torch.randint(0, cfg.vocab_size, (2, 13), generator=torch.Generator().manual_seed(1))
    seen = []
    with_cache = generate(m, ids, 6, use_cache=True, keep_logits=True, on_token=seen.append)
    without = generate(m, ids, 6, use_cache=False, keep_logits=True)
    assert seen == list(range(6))
    assert with_cache.tokens.shape == (2, 19) and torch.equal(with_cache.tokens, without.tokens)
    for a, b in zip(with_cache.step_logits, without.step_logits):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_prefill_then_decode_equals_full_prefill_at_model_level():
    cfg = preset("tiny")
    m = build_model(cfg, "default", seed=4)
    ids = torch.randint(0, cfg.vocab_size, (1, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = m(ids)
        cache = m.new_cache()
        steps = [m(ids[:, :15], cache=cache)[:, -1]]
        for t in range(15, 20):
            steps.append(m(ids[:, t:t + 1], cache=cache)[:, -1])
    assert cache.seqlen_offset == 20
    torch.testing.assert_close(torch.stack(steps[:-1], 1), full[:, 14:19], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(steps[-1], full[:, 19], rtol=1e-4, atol=1e-4)


def test_multi_token_continuation_is_a_clear_error():
    from bambaprof.errors import BambaprofError

    cfg = preset("tiny", attention=False)
    m = build_model(cfg)
    cache = m.new_cache()
    with torch.no_grad():
        m(torch.zeros(1, 4, dtype=torch.long), cache=cache)
        with pytest.raises(BambaprofError, match="multi-token step"):
            m(torch.zeros(1, 2, dtype=torch.long), cache=cache)


def test_bf16_model_runs():
    m = build_model(preset("tiny", dtype="bf16"))
    with torch.no_grad():
        out = m(torch.zeros(1, 5, dtype=torch.long))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_attentions_stacked_weight_keeps_checkpoint_names_and_round_trips():
    """qkv_proj holds the query, key and value rows in that order (grouped-query: fewer key and value rows); the
    state dict names them as Hugging Face does, loading one stacks them back, and the forward is one product where
    it was three (the same outputs as the three apart)."""
    from torch.nn import functional as F

    cfg = preset("tiny")
    model = build_model(cfg, "default", seed=4)
    state = model.state_dict()
    assert not any("qkv_proj" in k for k in state)
    attn = model.model.layers[1].self_attn
    names = [f"model.layers.1.self_attn.{p}_proj.weight" for p in "qkv"]
    q, k, v = (state[n] for n in names)
    assert q.shape == (cfg.num_attention_heads * cfg.head_dim, cfg.hidden_size)
    assert k.shape == v.shape == (cfg.num_key_value_heads * cfg.head_dim, cfg.hidden_size) and k.shape != q.shape
    x = torch.randn(2, 3, cfg.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = attn.qkv_proj(x)
        torch.testing.assert_close(out, torch.cat([F.linear(x, w) for w in (q, k, v)], dim=-1))
        with torch.profiler.profile() as prof:
            attn(x)
    assert next(e.count for e in prof.key_averages() if e.key == "aten::linear") == 2  # qkv_proj and o_proj
    other = build_model(cfg, "default", seed=5)
    other.load_state_dict({key: t.clone() for key, t in state.items()})
    assert all(torch.equal(t, state[key]) for key, t in other.state_dict().items())
    with pytest.raises(RuntimeError, match=f"{names[0]}, {names[1]} and {names[2]} load together"):
        other.load_state_dict({key: t for key, t in state.items() if key != names[2]})
    wrong = dict(state, **{names[1]: torch.zeros(q.shape)})  # a key projection of the query's rows
    with pytest.raises(RuntimeError, match="load together, as one stacked weight of 64 \\+ 32 \\+ 32 rows"):
        other.load_state_dict(wrong)


def test_the_mlps_stacked_weight_keeps_checkpoint_names_and_round_trips():
    """gate_up_proj holds gate then up; the state dict names them as Hugging Face does, and loading one stacks
    them back (a forward equal to down(silu(gate x) * up x) with the named halves)."""
    from torch.nn import functional as F

    cfg = preset("tiny")
    model = build_model(cfg, "default", seed=4)
    state = model.state_dict()
    assert not any("gate_up_proj" in k for k in state)
    mlp = model.model.layers[0].feed_forward
    gate, up = state["model.layers.0.feed_forward.gate_proj.weight"], state["model.layers.0.feed_forward.up_proj.weight"]
    assert gate.shape == up.shape == (cfg.intermediate_size, cfg.hidden_size)
    x = torch.randn(2, 3, cfg.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), mlp.down_proj(F.silu(F.linear(x, gate)) * F.linear(x, up)))
    other = build_model(cfg, "default", seed=5)
    assert not torch.equal(other.state_dict()["model.layers.0.feed_forward.up_proj.weight"], up)
    other.load_state_dict({k: v.clone() for k, v in state.items()})
    assert all(torch.equal(v, state[k]) for k, v in other.state_dict().items())
    halves = "model.layers.0.feed_forward.gate_proj.weight and model.layers.0.feed_forward.up_proj.weight"
    with pytest.raises(RuntimeError, match=f"{halves} load together"):  # a missing half: both named
        other.load_state_dict({k: v for k, v in state.items() if not k.endswith("0.feed_forward.up_proj.weight")})


@pytest.mark.parametrize("device, dtype", [("cpu", "fp32"), ("cpu", "bf16"),
                                           pytest.param("cuda", "bf16", marks=pytest.mark.gpu)])
def test_grouped_query_attention_reads_shared_heads_in_place(device, dtype, tmp_path):
    """The tiny model's attention (8 query heads over 4 key and value heads) reads the shared heads in place: no
    copy of the keys and values for bambaprof's kv_repeats table to find, the same output as repeating them."""
    from torch.profiler import ProfilerActivity, profile

    from bambaprof.analysis import analyze
    from bambaprof.model.attention import reads_grouped_heads

    cfg = preset("tiny", dtype=dtype)
    attn = build_model(cfg, "default", seed=4, device=device).model.layers[1].self_attn
    assert attn.n_kv < attn.n_heads
    x = torch.randn(2, 7, cfg.hidden_size, generator=torch.Generator().manual_seed(0)).to(device, cfg.torch_dtype)
    assert reads_grouped_heads(x)
    found = []
    with torch.no_grad():
        for in_place in (True, False):
            attn.grouped_heads_in_place = in_place
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                found.append(attn(x))
            path = tmp_path / f"{in_place}.json"
            prof.export_chrome_trace(str(path))
            assert bool(analyze(path).kv_repeats) is not in_place  # the copies only where the heads are repeated
    tol = {"rtol": 2e-2, "atol": 2e-2} if dtype == "bf16" else {}
    torch.testing.assert_close(found[0], found[1], **tol)
