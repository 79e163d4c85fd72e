"""Bad inputs raise one clear error before any work is done."""

import math

import pytest
import torch

from bambaprof.errors import UsageError
from bambaprof.ssm import SSDInputError, get_variant
from tests.ssm.helpers import ssd_inputs


def call(**changes):
    inp = ssd_inputs(L=10)
    chunk = changes.pop("chunk_size", 4)
    inp.update(changes)
    return get_variant("default")(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], chunk, D=inp["D"],
                                  dt_bias=inp["dt_bias"], initial_state=inp["initial_state"],
                                  **{k: v for k, v in changes.items() if k == "dt_limit"})


@pytest.mark.parametrize(
    "changes,match",
    [
        (dict(chunk_size=0), "chunk_size must be a positive integer"),
        (dict(chunk_size=-8), "chunk_size must be a positive integer"),
        (dict(chunk_size=2.5), "chunk_size must be a positive integer"),
        (dict(x=torch.randn(2, 10, 4)), r"x must be \(batch, seqlen, heads, headdim\)"),
        (dict(x=torch.randn(2, 0, 4, 8, dtype=torch.float64)), "empty sequence"),
        (dict(dt=torch.randn(2, 10, 3)), "dt must be"),
        (dict(A=torch.randn(3)), "A must be"),
        (dict(B=torch.randn(2, 10, 3, 16), C=torch.randn(2, 10, 3, 16)), r"heads \(4\) must be a multiple of groups \(3\)"),
        (dict(C=torch.randn(2, 10, 2, 8)), "C must have the shape of B"),
        (dict(D=torch.randn(5)), "D must be"),
        (dict(dt_bias=torch.randn(2)), "dt_bias must be"),
        (dict(initial_state=torch.randn(2, 4, 8, 15)), "initial_state must be"),
        (dict(dt_limit=(1.0, 0.5)), "must not exceed"),
    ],
)
def test_bad_inputs_raise_clear_errors(changes, match):
    with pytest.raises(SSDInputError, match=match) as info:
        call(**changes)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)


def test_decode_step_validates_shapes():
    v = get_variant("reference")
    with pytest.raises(SSDInputError, match="state must be"):
        v.decode(torch.zeros(1, 4, 8, 3), torch.randn(1, 4, 8), torch.randn(1, 4), -torch.ones(4),
                 torch.randn(1, 2, 16), torch.randn(1, 2, 16))


def test_no_limit_default_is_mamba_convention():
    from bambaprof.ssm import NO_DT_LIMIT

    assert NO_DT_LIMIT == (0.0, math.inf)
