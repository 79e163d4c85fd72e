"""Column helpers of :mod:`bambaprof.analysis.trace` against their plain-numpy meaning."""

import numpy as np
import pytest

from bambaprof.analysis.trace import member_of


@pytest.mark.parametrize("seed", range(5))
def test_member_of_is_isin(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-5, 2**40, size=3000) if seed % 2 else rng.integers(-3, 50, size=3000)
    pool = np.concatenate([rng.choice(values, 400), rng.integers(-10, 2**41, size=50)])
    assert np.array_equal(member_of(values, pool), np.isin(values, pool))


def test_member_of_empty_inputs():
    assert member_of(np.array([1, 2], dtype=np.int64), np.zeros(0, dtype=np.int64)).tolist() == [False, False]
    assert member_of(np.zeros(0, dtype=np.int64), np.array([3])).shape == (0,)
    # values above every pooled one fall past the end of the search
    assert member_of(np.array([1, 9, 10]), np.array([1, 5])).tolist() == [True, False, False]
