"""The one-launch greedy argmax (``bambaprof/ssm/kernels/sample.py``) against torch's ``argmax`` (Triton
interpreter on the CPU, compiled kernels on a GPU)."""

import pytest
import torch

from bambaprof.ssm.kernels import sample
from tests.ssm.helpers import DEVICE


def _check(logits):
    got = sample.argmax_rows(logits)
    want = logits.argmax(dim=-1, keepdim=True)
    assert got.dtype == torch.int64 and got.shape == want.shape
    assert torch.equal(got.cpu(), want.cpu()), (got.flatten().tolist(), want.flatten().tolist())


@pytest.mark.parametrize("dtype", sample.DTYPES)
@pytest.mark.parametrize("b, V", [(1, 1), (1, 5), (3, sample.BLOCK), (2, sample.BLOCK + 1), (1, 3 * sample.BLOCK + 7)])
def test_it_is_torchs_argmax(dtype, b, V):
    g = torch.Generator().manual_seed(V)
    _check(torch.randn(b, V, generator=g).to(DEVICE, dtype))
    _check((-torch.rand(b, V, generator=g) - 1).to(DEVICE, dtype))  # every value negative


def test_ties_nan_infinities_and_signed_zeros_as_torch_takes_them():
    V = 2 * sample.BLOCK + 3
    rows = torch.full((6, V), -1.0)
    rows[0, [7, sample.BLOCK + 2, V - 1]] = 5.0  # ties across programs: the first index
    rows[1, [V - 2, 3]] = float("nan")  # NaN is the largest; the first one
    rows[2, :] = float("-inf")  # all -inf: index 0
    rows[3, 10] = float("inf")
    rows[3, 11] = float("nan")
    rows[4, :] = -0.0
    rows[4, sample.BLOCK + 5] = 0.0  # -0.0 == 0.0: the first index
    rows[5, :] = float("-inf")
    rows[5, V - 1] = -3.0e38
    for dtype in (torch.float32, torch.bfloat16):
        _check(rows.to(DEVICE, dtype))


def test_repeated_calls_and_strided_rows():
    """The per-row counters are back at zero after each call; rows with a stride past their length (a slice
    of a wider buffer) read their own values."""
    g = torch.Generator().manual_seed(0)
    wide = torch.randn(4, 3 * sample.BLOCK, generator=g).to(DEVICE)
    for _ in range(3):
        _check(wide[:, : 2 * sample.BLOCK + 9])
        _check(wide[1:3])
        _check(wide[:1, 5:100])


def test_it_refuses_what_it_does_not_take():
    assert not sample.applies(torch.zeros(2, 3, 4))
    assert not sample.applies(torch.zeros(2, 0))
    assert not sample.applies(torch.zeros(2, 4, dtype=torch.int64))
    assert not sample.applies(torch.zeros(4, 2).t())
    with pytest.raises(ValueError, match="argmax_rows takes"):
        sample.argmax_rows(torch.zeros(4, 2).t())


def test_generate_samples_with_it_for_the_triton_variant_only(monkeypatch):
    from bambaprof.model import build_model, preset
    from bambaprof.model.generate import generate

    cfg = preset("tiny", dtype="bfloat16")
    ids = torch.randint(0, cfg.vocab_size, (2, 5), generator=torch.Generator().manual_seed(3)).to(DEVICE)
    calls = []
    real = sample.argmax_rows
    monkeypatch.setattr(sample, "argmax_rows", lambda x, **k: calls.append(tuple(x.shape)) or real(x, **k))
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    fused = generate(model, ids, 3).tokens
    assert calls == [(2, cfg.vocab_size)] * 3
    model.fused_sampling = False
    assert torch.equal(generate(model, ids, 3).tokens, fused)
    assert len(calls) == 3
    generate(build_model(cfg, "default", seed=0, device=DEVICE), ids, 2)  # the study's variants: torch's argmax
    assert len(calls) == 3
