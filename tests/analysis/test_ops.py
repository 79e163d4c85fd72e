"""Helpers of :mod:`bambaprof.analysis.ops` against their plain-numpy meaning."""

import numpy as np
import pytest

from bambaprof.analysis.ops import thread_time_order


@pytest.mark.parametrize("seed", range(12))
def test_thread_time_order_is_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 2000))
    ts = np.round(np.cumsum(rng.random(n) * rng.choice([0.1, 2.0])), int(rng.integers(0, 2)))  # many equal starts
    if seed % 3 == 0:
        ts = rng.permutation(ts)
    dur = np.round(rng.random(n) * 4)  # equal lengths too: full ties keep their order
    thread = rng.integers(0, int(rng.integers(1, 5)), n) + (40_000 if seed % 4 == 0 else 0)  # past int16 too
    assert np.array_equal(thread_time_order(thread, ts, dur), np.lexsort((-dur, ts, thread)))
