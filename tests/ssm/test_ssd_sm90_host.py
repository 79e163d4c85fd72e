"""The host side of the Hopper (Gluon) chunk scan, which runs without a GPU: the TMA descriptors it builds (the
same as Gluon's constructor builds, over the tensors themselves) and the 2-D shapes it reads x, B and C as."""

import dataclasses

import pytest
import torch

from bambaprof.ssm.kernels import ssd_sm90
from tests.ssm.helpers import gluon_forms

pytestmark = pytest.mark.skipif(ssd_sm90.gluon is None, reason="needs Gluon (Triton 3.5 or later)")


def _fields(descriptor):
    return {f.name: getattr(descriptor, f.name) for f in dataclasses.fields(descriptor)}


@pytest.mark.parametrize("rows,cols,block", [(512, 8192, [64, 64]), (2048, 128, [64, 128]), (1024, 256, [64, 64])])
def test_descriptors_have_the_fields_gluons_constructor_gives_over_the_tensor_itself(rows, cols, block):
    tensor = torch.zeros(2, rows // 2, cols // 64, 64, dtype=torch.bfloat16)
    layout = ssd_sm90._descriptor_layouts(block[1])[0 if block[1] == 64 else 1]
    made = ssd_sm90._descriptor(tensor, ssd_sm90._flat_rows(tensor), block, layout)
    view = tensor.view(rows, cols)
    built = ssd_sm90.TensorDescriptor(view, list(view.shape), list(view.stride()), block, layout)
    assert type(made) is type(built)
    ours, theirs = _fields(made), _fields(built)
    assert ours.pop("base") is tensor and theirs.pop("base").data_ptr() == tensor.data_ptr()
    assert ours == theirs and ours["shape"] == [rows, cols] and ours["strides"] == [cols, 1]


def test_a_descriptor_class_of_another_shape_is_built_through_its_constructor_over_a_view(monkeypatch):
    calls = []

    class Other:  # not a dataclass
        def __init__(self, *args):
            calls.append(args)

    monkeypatch.setattr(ssd_sm90, "TensorDescriptor", Other)
    ssd_sm90._descriptor_defaults.cache_clear()
    try:
        tensor = torch.arange(2 * 32 * 64, dtype=torch.bfloat16).view(2, 32, 1, 64)
        assert isinstance(ssd_sm90._descriptor(tensor, ([64, 64], [64, 1]), [64, 64], "layout"), Other)
        ((view, *rest),) = calls
        assert torch.equal(view, tensor.view(64, 64)) and rest == [[64, 64], [64, 1], [64, 64], "layout"]
    finally:
        ssd_sm90._descriptor_defaults.cache_clear()


@pytest.mark.parametrize("make,flat", [
    (lambda: torch.randn(2, 300, 4, 64), ([600, 256], [256, 1])),  # contiguous
    (lambda: torch.randn(2, 300, 4 * 64 + 64)[..., :256].view(2, 300, 4, 64), ([600, 256], [320, 1])),  # wider rows
    (lambda: torch.randn(2, 300, 8, 64)[:, :, ::2], None),  # heads not packed
    (lambda: torch.randn(300, 2, 4, 64).transpose(0, 1), None),  # batches not evenly spaced
    (lambda: torch.randn(2, 300, 1, 66)[..., :64], None),  # rows not 16-byte aligned (264 bytes apart)
    (lambda: torch.randn(2, 300, 4, 64).transpose(2, 3), None),  # last dimension not contiguous
    (lambda: torch.randn(2 * 300 * 256 + 1)[1:].view(2, 300, 4, 64), None),  # base not 16-byte aligned
])
def test_flat_rows_reads_the_tensor_as_2d_without_a_copy_where_the_strides_allow(make, flat):
    t = make()
    rows = ssd_sm90._flat_rows(t)
    assert rows == flat
    if flat is not None:
        assert torch.equal(t.as_strided(*rows).reshape(t.shape), t)


class _Recorder:
    """A ``wrap`` for :func:`ssd_sm90.chunk_scan` that launches nothing: it keeps each launch's kernel, grid,
    arguments and options."""

    def __init__(self):
        self.launches = []

    def __call__(self, kernel):
        def at(grid):
            return lambda *args, **kwargs: self.launches.append((kernel.fn.__name__, grid, args, kwargs))

        return type("Wrapped", (), {"__getitem__": lambda _, grid: at(grid)})()


def _scan_buffers(b=2, L=600, H=4, P=64, G=2, N=128, Q=256, D=True, init=True):
    x = torch.zeros(b, L, H, P, dtype=torch.bfloat16)
    B = torch.zeros(b, L, G, N, dtype=torch.bfloat16)
    C = torch.zeros(b, L, G, N, dtype=torch.bfloat16)
    nchunks = -(-L // Q)
    named = dict(dtp=torch.zeros(b, H, nchunks, Q), cs=torch.zeros(b, H, nchunks, Q),
                 cb=torch.zeros(b, nchunks, G, Q, Q, dtype=torch.bfloat16), D=torch.zeros(H) if D else None,
                 initial_state=torch.zeros(b, H, P, N) if init else None, ring=torch.zeros(b * H, 2, N, 64),
                 flags=torch.zeros(b * H, dtype=torch.int32), ticket=torch.zeros(1, dtype=torch.int32),
                 y=torch.zeros_like(x), final=torch.zeros(b, H, P, N))
    return x, B, C, named, nchunks


def _launch(form, monkeypatch, **shape):
    monkeypatch.setattr(ssd_sm90, "_sm_count", lambda device: 132)
    x, B, C, named, nchunks = _scan_buffers(**shape)
    Q = shape.get("Q", 256)
    recorder = _Recorder()
    ssd_sm90.chunk_scan(x, B, C, named["dtp"], named["cs"], named["cb"], named["D"], named["initial_state"],
                        named["ring"], named["flags"], named["ticket"], named["y"], named["final"], Q,
                        x.shape[3] // 64, False, recorder, **ssd_sm90.FORMS[form])
    assert len(recorder.launches) == 1
    return (x, B, C, named, nchunks) + recorder.launches[0]


def _blocks(descriptors):
    return [d.block_shape for d in descriptors]


UNFUSED = gluon_forms("fused", present=False)
FUSED = gluon_forms("fused")


@pytest.mark.parametrize("form", UNFUSED)
@pytest.mark.parametrize("D, init, P", [(True, True, 64), (False, False, 64), (True, False, 128)])
def test_each_form_launches_its_kernel_with_the_arguments_it_takes(form, D, init, P, monkeypatch):
    """What every form's launch passes, recorded instead of launched (b=2, L=600, 4 heads in 2 groups, state 128,
    chunk 256; a head dim of 64, which every form serves, or 128, two blocks of it, where the pair form runs the slim
    kernel): its kernel, grid, descriptors' blocks, tensors in order (D and the initial state stand-ins where
    absent), scalars and options."""
    x, B, C, named, nchunks, kernel, grid, args, kwargs = _launch(form, monkeypatch, D=D, init=init, P=P)
    b, L, H, P = x.shape
    n_pb = P // 64
    options = dict(ssd_sm90.FORMS[form])
    if options.get("pair") and P != 64:
        options.update(pair=False, slim=True)
    tensors = [named["cs"], named["dtp"], named["D"] if D else named["cs"],
               named["initial_state"] if init else named["cs"], named["ring"], named["flags"], named["ticket"],
               named["y"], named["final"]]
    assert all(a is t for a, t in zip(args[4:13], tensors))
    # the descriptors read x, B, C and C B^T themselves as 2-D rows (no views)
    assert all(d.base is t for d, t in zip(args[:4], (x, B, C, named["cb"])))
    assert [(d.shape, d.strides) for d in args[:4]] == [
        ([b * L, H * P], [H * P, 1]), ([b * L, 2 * 128], [2 * 128, 1]), ([b * L, 2 * 128], [2 * 128, 1]),
        ([b * nchunks * 2 * 256, 256], [256, 1])]
    strides = (named["y"].stride(0), named["y"].stride(1), named["y"].stride(2))
    common = dict(Q=256, N=128, HAS_D=D, HAS_INIT=init, I64=False)
    assert {k: kwargs[k] for k in common} == common
    if options.get("pair"):
        assert kernel == "_chunk_scan_sm90_pair" and grid == (nchunks * b * H // 2,)
        assert _blocks(args[:4]) == [[64, 128], [64, 64], [64, 64], [64, 64]]
        assert args[13:] == (L, H, 2, nchunks, H // 2) + strides
        assert kwargs["num_warps"] == 8 and "maxnreg" not in kwargs
        return
    assert args[13:20] == (L, H, 2, P, nchunks, H // 2, n_pb) and args[20:23] == strides
    if options.get("wide"):
        assert kernel == "_chunk_scan_sm90_wide" and grid == (nchunks * b * n_pb * H,) and len(args) == 23
        assert _blocks(args[:4]) == [[64, 64], [64, 128], [128, 64], [128, 64]]
        assert kwargs["num_warps"] == 8 and kwargs["maxnreg"] == 128
    elif options.get("stay"):
        assert kernel == "_chunk_scan_sm90_stay" and args[23:] == (nchunks * b * n_pb * H,)
        assert grid == (min(nchunks * b * n_pb * H, 3 * 132),)
        assert _blocks(args[:4]) == [[64, 64]] * 4
        assert kwargs["num_warps"] == 4 and kwargs["maxnreg"] == 168 and kwargs["R"] == 3
    elif options.get("slim"):
        assert kernel == "_chunk_scan_sm90_slim" and grid == (nchunks * b * n_pb * H,) and len(args) == 23
        assert _blocks(args[:4]) == [[64, 64]] * 4
        assert kwargs["num_warps"] == 4 and kwargs["maxnreg"] == 168 and kwargs["R"] == 3
        flags = {"SCALED": "scaled", "ORDERED": "ordered", "DIAG_FIRST": "diag_first"}
        assert {k: kwargs[k] for k in flags} == {k: bool(options.get(v, False)) for k, v in flags.items()}
    else:
        assert kernel == "_chunk_scan_sm90" and grid == (nchunks * b * n_pb * H,) and len(args) == 23
        assert _blocks(args[:4]) == [[64, 64], [64, 128], [64, 128], [64, 64]]
        flags = {"FACTOR": "factor", "ASYNC": "pipelined", "PACKED": "packed", "DMMA": "d_mma", "LG2": "lg2",
                 "LATE": "late"}
        assert {k: kwargs[k] for k in flags} == {k: bool(options.get(v, False)) for k, v in flags.items()}
        assert kwargs["num_warps"] == 4 and "maxnreg" not in kwargs


@pytest.mark.parametrize("form, shape, kernel", [
    ("gluon_pair", dict(H=6, G=2), "_chunk_scan_sm90_slim"),  # three heads a group
    ("gluon_wide", dict(N=64), "_chunk_scan_sm90_slim"),  # a state of 64
    ("gluon_wide", dict(Q=192, L=400), "_chunk_scan_sm90_slim"),  # a chunk of three blocks
    ("gluon_pair", dict(H=6, G=3), "_chunk_scan_sm90_pair"),
])
def test_the_pair_and_wide_forms_fall_back_to_the_slim_kernel(form, shape, kernel, monkeypatch):
    x, B, C, named, nchunks, name, grid, args, kwargs = _launch(form, monkeypatch, **shape)
    assert name == kernel
    if kernel == "_chunk_scan_sm90_slim":
        assert grid == (nchunks * x.shape[0] * x.shape[2] * (x.shape[3] // 64),) and kwargs["maxnreg"] == 168
        assert _blocks(args[:4]) == [[64, 64]] * 4


def test_the_gluon_scan_kernels_leave_the_chunk_count_unspecialized():
    """Every Gluon scan kernel is declared with ``do_not_specialize`` on ``nchunks``: Triton 3.6 specialized a count
    of 1 to a constant and then failed to lower the kernels (a forward of one chunk did not compile)."""
    from bambaprof.ssm.kernels import ssd_sm90_pair, ssd_sm90_slim, ssd_sm90_wide

    kernels = [ssd_sm90._chunk_scan_sm90, ssd_sm90_slim._chunk_scan_sm90_slim, ssd_sm90_slim._chunk_scan_sm90_stay,
               ssd_sm90_pair._chunk_scan_sm90_pair, ssd_sm90_wide._chunk_scan_sm90_wide]
    for kernel in kernels:
        unspecialized = {param.name for param in kernel.params if param.do_not_specialize}
        assert unspecialized == set(ssd_sm90.UNSPECIALIZED) == {"nchunks"}, kernel


@pytest.mark.parametrize("form", FUSED)
@pytest.mark.parametrize("bias, softplus, limit, D, init", [
    (True, True, (0.0, float("inf")), True, True), (False, False, (0.001, 0.5), False, False),
])
def test_the_fused_forms_launch_one_kernel_with_dt_and_the_counters(form, bias, softplus, limit, D, init,
                                                                     monkeypatch):
    """``gluon_fused`` (and ``gluon_fused_diag_first``) go through ``fused_chunk_scan``: one launch of
    ``_chunk_scan_sm90_fused`` whose grid is, a chunk at a time, its ``C B^T`` programs (10 a group at a chunk of 256)
    then its scan programs; dt, the bias (A standing in where absent), A, D and the initial state in order, the
    counters, ``C B^T`` (as a buffer and through its descriptor), y's and dt's strides, dt's limits (the upper one at
    most 3e38) and the options; ``chunk_scan`` refuses the form."""
    from bambaprof.ssm.kernels import ssd_sm90_fused

    x, B, C, named, nchunks = _scan_buffers(D=D, init=init)
    b, L, H, P = x.shape
    dt = torch.zeros(b, L, H)
    A = torch.zeros(H)
    dt_bias = torch.zeros(H) if bias else None
    flags = torch.zeros(b * H, dtype=torch.int32)
    counts = torch.zeros(2 * b * nchunks * 2, dtype=torch.int32)
    recorder = _Recorder()
    shapes = (ssd_sm90._flat_rows(x), ssd_sm90._flat_rows(B), ssd_sm90._flat_rows(C))
    options = ssd_sm90.FORMS[form]
    ssd_sm90_fused.fused_chunk_scan(x, dt, dt_bias, A, B, C, named["D"], named["initial_state"], named["ring"], flags,
                                    counts, named["cb"], named["y"], named["final"], 256, 1, False, recorder, softplus,
                                    limit, shapes, diag_first=bool(options.get("diag_first")))
    ((kernel, grid, args, kwargs),) = recorder.launches
    assert kernel == "_chunk_scan_sm90_fused" and grid == (b * nchunks * (2 * 10 + H),)
    assert _blocks(args[:4]) == [[64, 64]] * 4 and args[3].base is named["cb"]
    stand_in = [dt, dt_bias if bias else A, A, named["D"] if D else A,
                named["initial_state"] if init else named["ring"], named["ring"], flags, counts, named["cb"],
                named["y"], named["final"]]
    assert all(a is t for a, t in zip(args[4:15], stand_in, strict=True))
    assert args[15:22] == (L, H, 2, P, nchunks, H // 2, 1)
    assert args[22:25] == named["y"].stride()[:3] and args[25:28] == dt.stride()
    assert args[28:] == (limit[0], min(limit[1], 3.0e38))
    assert {k: kwargs[k] for k in ("Q", "N", "HAS_D", "HAS_INIT", "I64", "HAS_BIAS", "SOFTPLUS", "CLAMP", "R",
                                    "DIAG_FIRST")} == dict(Q=256, N=128, HAS_D=D, HAS_INIT=init, I64=False,
                                                           HAS_BIAS=bias, SOFTPLUS=softplus,
                                                           CLAMP=limit != (0.0, float("inf")), R=3,
                                                           DIAG_FIRST=bool(options.get("diag_first")))
    assert kwargs["num_warps"] == 4 and kwargs["maxnreg"] == 168
    with pytest.raises(ValueError, match="fused_chunk_scan"):
        ssd_sm90.chunk_scan(x, B, C, named["dtp"], named["cs"], named["cb"], named["D"], named["initial_state"],
                            named["ring"], named["flags"], named["ticket"], named["y"], named["final"], 256, 1, False,
                            recorder, **options)


def test_the_fused_forms_counters_are_fresh_zeros_where_not_kept():
    """Off the eager path (a graph being captured, a traced launch) each launch gets its counters from
    ``torch.zeros``, which the graph or the compiled code replays; nothing is kept."""
    from bambaprof.ssm.kernels import ssd_sm90_fused

    first = ssd_sm90_fused.zeroed_counters(torch.device("cpu"), 12, "tiles", keep=False)
    second = ssd_sm90_fused.zeroed_counters(torch.device("cpu"), 12, "tiles", keep=False)
    assert first.dtype == torch.int32 and first.tolist() == [0] * 12 and first.data_ptr() != second.data_ptr()
    assert not ssd_sm90_fused._COUNTERS
