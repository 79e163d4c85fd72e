"""Cached generation under CUDA graphs: the cache's tensors are copied out of the graph pool after each step.

The CPU tests check the decision (which compile modes replay graphs) and the copying; the GPU test runs
cached generation under ``reduce-overhead`` (CUDA graphs) and requires the eager tokens.
"""

import pytest
import torch

from bambaprof.collect.compile import reset_compiler, uses_cudagraphs
from bambaprof.collect.workloads import _CompiledModel, build_workload, replays_cuda_graphs
from bambaprof.model import build_model, generate, preset
from bambaprof.model.cache import ModelCache


@pytest.mark.parametrize("mode, options, expected", [
    ("none", {}, False),
    ("default", {}, False),
    ("reduce-overhead", {}, True),
    ("max-autotune", {}, True),
    ("max-autotune-no-cudagraphs", {}, False),
    ("max-autotune", {"triton.cudagraphs": False}, False),
    ("default", {"triton.cudagraphs": True}, True),
])
def test_which_modes_replay_cuda_graphs(mode, options, expected):
    assert uses_cudagraphs(mode, options) is expected


def test_graphs_replay_on_cuda_only():
    assert replays_cuda_graphs("cuda", "max-autotune", {}) and replays_cuda_graphs("cuda:1", "reduce-overhead", {})
    assert not replays_cuda_graphs("cpu", "max-autotune", {})
    assert not replays_cuda_graphs("cuda", "max-autotune-no-cudagraphs", {})


def test_copy_tensors_replaces_every_state_with_an_equal_copy():
    cache = ModelCache.for_layers(["mamba", "attention", "mamba"])
    cache.layers[0].conv_state = torch.randn(1, 8, 4)
    cache.layers[0].ssm_state = torch.randn(1, 2, 3, 4)
    cache.layers[1].key, cache.layers[1].value = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    before = [(layer.__dict__.copy()) for layer in cache.layers]
    copied = cache.copy_tensors_()
    assert copied == 4 * (8 * 4 + 2 * 3 * 4 + 2 * 2 * 5 * 4)
    for old, layer in zip(before, cache.layers):
        for name, t in old.items():
            new = getattr(layer, name)
            if t is None:
                assert new is None
            else:
                assert new is not t and new.data_ptr() != t.data_ptr() and torch.equal(new, t)


def test_compiled_model_copies_the_cache_after_every_call():
    model = build_model(preset("tiny"), "default", seed=0, device="cpu")
    written = []

    def forward(ids, cache=None, last_logits_only=False):
        out = model(ids, cache=cache, last_logits_only=last_logits_only)
        written.append(cache.layers[0].ssm_state)
        return out

    ids = torch.randint(0, model.config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))
    wrapped = _CompiledModel(model, forward, copy_cache=True)
    got = generate(wrapped, ids, 3).tokens
    assert torch.equal(got, generate(model, ids, 3).tokens)
    assert len(written) == 3
    cache = wrapped.new_cache()
    wrapped(ids, cache=cache)
    assert cache.layers[0].ssm_state is not written[-1] and torch.equal(cache.layers[0].ssm_state, written[-1])


def test_the_run_notes_the_copies_only_when_graphs_replay(monkeypatch):
    import bambaprof.collect.workloads as workloads

    monkeypatch.setattr(workloads, "compile_callable", lambda fn, *a, **k: fn)
    monkeypatch.setattr(workloads, "replays_cuda_graphs", lambda device, mode, options: mode == "reduce-overhead")
    kw = dict(config=preset("tiny"), variant="default", batch=1, seq_len=8, new_tokens=2, use_cache=True,
              compile_options={}, dynamic=False, device="cpu", seed=0)
    graphs = build_workload("generate", compile_mode="reduce-overhead", **kw)
    plain = build_workload("generate", compile_mode="default", **kw)
    assert any("CUDA graphs" in n for n in graphs.notes)
    assert not any("CUDA graphs" in n for n in plain.notes)


@pytest.mark.gpu
@pytest.mark.parametrize("variant", ["default-optimized", "triton"])
def test_cached_generation_under_cuda_graphs_matches_eager(variant):
    reset_compiler()
    model = build_model(preset("tiny"), variant, seed=0, device="cuda")
    ids = torch.randint(0, model.config.vocab_size, (1, 64), generator=torch.Generator().manual_seed(0)).cuda()
    eager = generate(model, ids, 6).tokens
    wrapped = _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)
    for _ in range(3):  # warm-up, recording, replays
        assert torch.equal(generate(wrapped, ids, 6).tokens, eager)
    reset_compiler()


def test_only_the_tensors_a_step_replaced_are_copied():
    cache = ModelCache.for_layers(["mamba", "mamba"])
    in_place = cache.layers[0]
    in_place.conv_state, in_place.ssm_state = torch.randn(1, 8, 4), torch.randn(1, 2, 3, 4)
    in_place.step_counter = torch.zeros(1, dtype=torch.int64)
    cache.layers[1].ssm_state = torch.randn(1, 2, 3, 4)
    kept = cache.tensor_ids()
    replaced = torch.randn(1, 2, 3, 4)
    cache.layers[1].ssm_state = replaced  # a step that returns a new state (from a graph's pool)
    held = (in_place.conv_state, in_place.ssm_state, in_place.step_counter)
    assert cache.copy_tensors_(kept) == replaced.numel() * 4
    assert (in_place.conv_state, in_place.ssm_state, in_place.step_counter) == held  # updated in place: kept
    assert cache.layers[1].ssm_state is not replaced and torch.equal(cache.layers[1].ssm_state, replaced)


@pytest.mark.gpu
def test_the_one_launch_decode_keeps_a_static_cache_under_cuda_graphs():
    """The triton variant's decode step updates the cache in place: under reduce-overhead only the prefill's
    outputs are copied out of the graph pool, the decode steps copy nothing and keep the cache's storage,
    and the tokens are eager's (no attention layer: its KV cache grows, so it is copied every step)."""
    reset_compiler()
    model = build_model(preset("tiny", attention=False), "triton", seed=0, device="cuda")
    ids = torch.randint(0, model.config.vocab_size, (1, 64), generator=torch.Generator().manual_seed(0)).cuda()
    eager = generate(model, ids, 6).tokens
    wrapped = _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)
    copies = []
    real = ModelCache.copy_tensors_

    def counting(self, kept=None):
        copies.append(real(self, kept))
        return copies[-1]

    ModelCache.copy_tensors_ = counting
    try:
        for _ in range(3):  # warm-up, recording, replays
            torch.set_grad_enabled(False)
            copies.clear()
            cache = wrapped.new_cache()
            first = wrapped(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            storage = [t.data_ptr() for _, _, t in cache.tensors()]
            tokens = [first]
            for _ in range(5):
                tokens.append(wrapped(tokens[-1], cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True))
            assert [t.data_ptr() for _, _, t in cache.tensors()] == storage
            assert copies[0] > 0 and copies[1:] == [0] * 5
            assert torch.equal(torch.cat([ids] + tokens, dim=1), eager)
    finally:
        torch.set_grad_enabled(True)
        ModelCache.copy_tensors_ = real
        reset_compiler()
