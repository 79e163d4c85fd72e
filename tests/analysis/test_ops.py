"""Helpers of :mod:`bambaprof.analysis.ops` against their plain-numpy meaning."""

import numpy as np
import pytest

from bambaprof.analysis.ops import nearest_marked, thread_time_order


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


def test_nearest_marked_ancestor():
    #        0
    #      1   4(marked)
    #    2(marked)  5
    #    3          6
    parent = np.array([-1, 0, 1, 2, 0, 4, 5])
    marked = np.array([False, False, True, False, True, False, False])
    assert nearest_marked(parent, marked).tolist() == [-1, -1, 2, 2, 4, 4, 4]
    deep = np.arange(-1, 999)  # a chain 1000 deep, its root marked
    top = np.zeros(1000, dtype=bool)
    top[0] = True
    assert (nearest_marked(deep, top) == 0).all()
