"""The host side of the Hopper (Gluon) chunk scan, which runs without a GPU: the TMA descriptors it builds (the
same as Gluon's constructor builds) and the 2-D views it reads x, B and C through."""

import dataclasses

import pytest
import torch

from bambaprof.ssm.kernels import ssd_sm90

pytestmark = pytest.mark.skipif(ssd_sm90.gluon is None, reason="needs Gluon (Triton 3.5 or later)")


def _fields(descriptor):
    return {f.name: getattr(descriptor, f.name) for f in dataclasses.fields(descriptor)}


@pytest.mark.parametrize("rows,cols,block", [(512, 8192, [64, 64]), (2048, 128, [64, 128]), (1024, 256, [64, 64])])
def test_descriptors_have_the_fields_gluons_constructor_gives(rows, cols, block):
    view = torch.zeros(rows, cols, dtype=torch.bfloat16)
    layout = ssd_sm90._descriptor_layouts(block[1])[0 if block[1] == 64 else 1]
    made = ssd_sm90._descriptor(view, block, layout)
    built = ssd_sm90.TensorDescriptor(view, list(view.shape), list(view.stride()), block, layout)
    assert type(made) is type(built)
    ours, theirs = _fields(made), _fields(built)
    assert ours.pop("base") is theirs.pop("base") is view
    assert ours == theirs and ours["shape"] == [rows, cols] and ours["strides"] == [cols, 1]


def test_a_descriptor_class_of_another_shape_is_built_through_its_constructor(monkeypatch):
    calls = []

    class Other:  # not a dataclass
        def __init__(self, *args):
            calls.append(args)

    monkeypatch.setattr(ssd_sm90, "TensorDescriptor", Other)
    ssd_sm90._descriptor_defaults.cache_clear()
    try:
        view = torch.zeros(64, 64, dtype=torch.bfloat16)
        assert isinstance(ssd_sm90._descriptor(view, [64, 64], "layout"), Other)
        assert calls == [(view, [64, 64], [64, 1], [64, 64], "layout")]
    finally:
        ssd_sm90._descriptor_defaults.cache_clear()


@pytest.mark.parametrize("make,flat", [
    (lambda: torch.randn(2, 300, 4, 64), (600, 256)),  # contiguous
    (lambda: torch.randn(2, 300, 4 * 64 + 64)[..., :256].view(2, 300, 4, 64), (600, 256)),  # a slice of wider rows
    (lambda: torch.randn(2, 300, 8, 64)[:, :, ::2], None),  # heads not packed
    (lambda: torch.randn(300, 2, 4, 64).transpose(0, 1), None),  # batches not evenly spaced
    (lambda: torch.randn(2, 300, 1, 66)[..., :64], None),  # rows not 16-byte aligned (264 bytes apart)
    (lambda: torch.randn(2, 300, 4, 64).transpose(2, 3), None),  # last dimension not contiguous
])
def test_flat_rows_views_without_a_copy_where_the_strides_allow(make, flat):
    t = make()
    view = ssd_sm90._flat_rows(t)
    if flat is None:
        assert view is None
        return
    assert view.shape == flat and view.data_ptr() == t.data_ptr()
    assert torch.equal(view.reshape(t.shape), t)
