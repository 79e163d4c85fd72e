"""What one more resident block an SM would take (:func:`bambaprof.analysis.occupancy.one_more_block`): the
budgets are the largest at which one more block fits, on the H200's real launch configurations and on the
Gluon chunk scan's two forms."""

import dataclasses
from pathlib import Path

import pytest

from bambaprof.analysis.ncu import read_ncu_csv
from bambaprof.analysis.occupancy import one_more_block, theoretical_occupancy
from bambaprof.analysis.trace import load_trace

DATA = Path(__file__).resolve().parents[1] / "data"
H200 = load_trace(DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz").devices[0]


def _blocks(dev, block, regs, smem):
    return theoretical_occupancy(dev, (1, 1, 1), block, regs, smem).blocks_per_sm


def test_the_gluon_scans_budgets():
    """gluon_late (182 registers, 108,676 B) holds two blocks of 128 threads an SM; three need at most 168 registers
    and 76,800 B, which gluon_slim was built to (168, 75,908 B: three); a fourth needs 128 and 57,344 B."""
    late = one_more_block(H200, (128, 1, 1), 182, 108676)
    assert (late.blocks_per_sm, late.max_registers, late.max_shared_memory) == (3, 168, 76800)
    assert late.theoretical == pytest.approx(12 / 64)
    assert _blocks(H200, (128, 1, 1), 168, 75908) == 3
    slim = one_more_block(H200, (128, 1, 1), 168, 75908)
    assert (slim.blocks_per_sm, slim.max_registers, slim.max_shared_memory) == (4, 128, 57344)
    triton = one_more_block(H200, (128, 1, 1), 168, 32768)  # the Triton scan: only its registers hold it
    assert (triton.max_registers, triton.max_shared_memory) == (128, None)


def test_budgets_are_the_largest_that_fit_on_real_launches():
    """All 111 kernels of the H200 mixers' Nsight Compute capture, by their own launch parameters: at the budgets
    one more block fits; one register or 128 B more and it does not."""
    checked = 0
    for rec in read_ncu_csv(DATA / "h200-mixers-ncu.csv.gz"):
        block, regs = rec["block"], int(rec["launch__registers_per_thread"])
        smem = int(rec["launch__shared_mem_per_block"]) - 1024  # ncu counts the reserved KiB
        now = _blocks(H200, block, regs, smem)
        more = one_more_block(H200, block, regs, smem)
        if more is None:  # the warp or block-slot limit stops it, whatever the resources
            threads = block[0] * block[1] * block[2]
            assert (now + 1) * -(-threads // 32) > 64 or now + 1 > 32, rec["name"]
            continue
        checked += 1
        r = more.max_registers if more.max_registers is not None else regs
        s = more.max_shared_memory if more.max_shared_memory is not None else smem
        assert _blocks(H200, block, r, s) == more.blocks_per_sm > now, rec["name"]
        if more.max_registers is not None:
            assert more.max_registers < regs and _blocks(H200, block, r + 1, s) == now
        if more.max_shared_memory is not None:
            assert more.max_shared_memory < smem and _blocks(H200, block, r, s + 128) == now
    assert checked == 14  # the rest are held by their warps or the block slots, not by a resource


def test_nothing_to_say_where_nothing_helps_or_little_is_known():
    assert one_more_block(H200, (1024, 1, 1), 32, 0) is None  # two blocks of 32 warps fill the SM's 64
    assert one_more_block(dataclasses.replace(H200, compute_major=-1), (128, 1, 1), 168, 0) is None  # unknown GPU
    small = one_more_block(H200, (32, 1, 1), 0, 0)  # no register count, no shared memory: the slots
    assert small is None or (small.max_registers, small.max_shared_memory) == (None, None)
