"""Host-side launch arithmetic (:mod:`bambaprof.ssm.kernels.grid`) against Triton's own helpers."""

import triton

from bambaprof.ssm.kernels.grid import cdiv, next_power_of_2, register_cap


def test_same_integers_as_triton():
    for a in range(1, 600):
        assert next_power_of_2(a) == triton.next_power_of_2(a)
        for b in (1, 2, 3, 16, 64, 256):
            assert cdiv(a, b) == triton.cdiv(a, b)
    assert cdiv(0, 16) == 0 and next_power_of_2(0) == 1  # an empty grid; the smallest block


def test_the_register_cap_is_an_option_only_when_there_is_one():
    assert register_cap(168) == {"maxnreg": 168}
    assert register_cap(0) == {} and register_cap(None) == {}  # uncapped
