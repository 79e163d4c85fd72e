"""The accuracy check's rows and verdicts."""

import torch

from bambaprof.ssm import Variant, get_variant
from bambaprof.ssm.check import Shape, check_variants, failed
from bambaprof.ssm.chunked import chunked_forward, chunked_step
from tests.ssm.helpers import DEVICE


def _broken_forward(*args, **kwargs):
    y, s = chunked_forward(*args, **kwargs)
    return y * 1.01, s


SHAPES = [Shape(1, 6, 4, 8, 2, 16, 8), Shape(2, 40, 4, 8, 2, 16, 8)]


def test_exact_variants_pass_and_independent_is_reported():
    rows = check_variants([get_variant("default"), get_variant("independent")], SHAPES, torch.float32, DEVICE)
    by = {(r.variant, r.seq_len): r for r in rows}
    assert by[("default", 40)].status == "pass" and by[("default", 40)].rel_err < 1e-5
    ind_short, ind_long = by[("independent", 6)], by[("independent", 40)]
    assert ind_short.status == ind_long.status == "reported"
    assert ind_short.rel_err < 1e-5 and ind_long.rel_err > 1e-3
    assert ind_long.chunks == 5 and ind_long.decode_rel_err < 1e-5
    assert not failed(rows)


def test_a_wrong_exact_variant_fails():
    broken = Variant(name="broken", forward=_broken_forward, step=chunked_step)
    rows = check_variants([broken], SHAPES[:1], torch.float32)
    assert rows[0].status == "FAIL" and abs(rows[0].rel_err - 0.01) < 1e-3
    assert failed(rows) == rows


def test_an_erroring_variant_becomes_an_error_row():
    def boom(*a, **k):
        raise RuntimeError("kaboom\nsecond line")

    rows = check_variants([Variant(name="boom", forward=boom)], SHAPES[:1])
    assert rows[0].status == "error: kaboom" and rows[0].rel_err is None
