"""The Hopper (Gluon) chunk scan of :mod:`bambaprof.ssm.kernels.ssd_sm90` on a CUDA GPU of compute capability 9:
the target shapes and the options it serves against the float64 recurrence, the shapes it leaves to the
Triton kernel, that it is the kernel that runs where it serves, CUDA graphs and torch.compile."""

import dataclasses
import os

import pytest
import torch

from bambaprof.ssm import get_variant
from bambaprof.ssm.check import TOLERANCES, Shape, make_inputs
from bambaprof.ssm.kernels import ssd, ssd_sm90
from bambaprof.ssm.kernels.ssd_sm90_pair import pairs_heads
from bambaprof.ssm.kernels.ssd_sm90_wide import serves as wide_serves
from tests.ssm.helpers import gluon_forms, rel_err, run, ssd_inputs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9
                       or ssd_sm90.gluon is None, reason="needs a Hopper GPU and Gluon"),
]

TRITON = get_variant("triton")
REF = get_variant("reference")
#: The forms with the prep folded into the scan's launch, and those that form block 0's diagonal early.
FUSED = gluon_forms("fused")
DIAG_FIRST = gluon_forms("diag_first")


def _forms_under_test():
    """The forms the parametrised tests run: those ``BAMBAPROF_TEST_FORMS`` names (space- or comma-separated, e.g.
    ``auto``'s forms when time is short), else every form of ``ssd_sm90.FORMS``."""
    names = os.environ.get("BAMBAPROF_TEST_FORMS", "").replace(",", " ").split()
    unknown = sorted(set(names) - set(ssd_sm90.FORMS))
    if unknown:
        raise pytest.UsageError(f"BAMBAPROF_TEST_FORMS names no form of the Gluon scan: {', '.join(unknown)}")
    return sorted(names or ssd_sm90.FORMS)


@pytest.fixture(params=_forms_under_test())
def gluon_scan(monkeypatch, request):
    """The variant with the chunk scan of ``ssd_sm90`` (each form) where it serves the inputs; the form's name."""
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=request.param))
    return request.param


def _kernel_of(form, p=64, h=16, g=2, chunk=256, n=128):
    """The name of the kernel a form of ``ssd_sm90.FORMS`` launches for a head dim ``p``, ``h`` heads, ``g`` groups,
    a chunk ``chunk`` and a state ``n``."""
    options = ssd_sm90.FORMS[form]
    if options.get("fused"):
        return "_chunk_scan_sm90_fused"
    if options.get("pair") and pairs_heads(p, h, g):
        return "_chunk_scan_sm90_pair"
    if options.get("wide") and wide_serves(chunk, n):
        return "_chunk_scan_sm90_wide"
    if options.get("stay"):
        return "_chunk_scan_sm90_stay"
    return "_chunk_scan_sm90" if not {"slim", "pair", "wide"} & set(options) else "_chunk_scan_sm90_slim"


def _double(inp):
    return {k: (v.double() if v is not None else None) for k, v in inp.items()}


def _scan_kernels(fn):
    """Names of the chunk-scan kernels one call of ``fn`` launches (profiler)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return {e.name for e in prof.events() if "chunk_scan" in e.name and e.device_type.name == "CUDA"}


@pytest.mark.parametrize("b,L", [(1, 512), (1, 2048), (8, 2048), (1, 8192)])
def test_target_shapes_against_float64(gluon_scan, b, L):
    inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=1, initial_state=True)
    with torch.no_grad():
        y, s = run(TRITON, inp, 256, dt_softplus=True)
        y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
    ry, rs = rel_err(y, y_ref), rel_err(s, s_ref)
    print(f"gluon {b}x{L}: y {ry:.2e} state {rs:.2e}")
    assert ry <= TOLERANCES[torch.bfloat16] and rs <= TOLERANCES[torch.bfloat16]


@pytest.mark.parametrize("chunk,p,n,h,g", [
    (64, 64, 64, 8, 1), (128, 128, 128, 8, 2), (256, 64, 128, 4, 4), (256, 128, 64, 6, 3), (192, 64, 128, 2, 1),
])
@pytest.mark.parametrize("init", [True, False])
def test_options_it_serves(gluon_scan, chunk, p, n, h, g, init):
    dtype = torch.bfloat16
    # three chunks, the last partial, two batches: rows past L in the last chunk are the next batch's
    inp = ssd_inputs(b=2, L=3 * chunk - 37, h=h, p=p, g=g, n=n, dtype=dtype, device="cuda", initial_state=init)
    inp["dt"] = inp["dt"] - 2.0  # softplus(dt + bias) in the range of trained layers
    assert ssd_sm90.usable(inp["x"], inp["B"], inp["C"], chunk)
    y, s = run(TRITON, inp, chunk, dt_softplus=True, dt_limit=(0.0, 0.5))
    y_ref, s_ref = run(REF, _double(inp), chunk, dt_softplus=True, dt_limit=(0.0, 0.5))
    tol = TOLERANCES[dtype]
    assert rel_err(y, y_ref) <= tol and rel_err(s, s_ref) <= tol
    names = _scan_kernels(lambda: run(TRITON, inp, chunk, dt_softplus=True, dt_limit=(0.0, 0.5)))
    assert names == {_kernel_of(gluon_scan, p, h, g, chunk, n)}


@pytest.mark.parametrize("b,L,chunk", [(2, 200, 256), (8, 256, 256), (3, 128, 128)])
def test_a_sequence_of_one_chunk(gluon_scan, b, L, chunk):
    """One chunk (``nchunks`` = 1), which Triton 3.6 failed to compile where it specialized the count to a constant
    (``ssd_sm90.UNSPECIALIZED``): against float64, with the Gluon kernel the one that ran."""
    inp = ssd_inputs(b=b, L=L, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    y, s = run(TRITON, inp, chunk, dt_softplus=True)
    y_ref, s_ref = run(REF, _double(inp), chunk, dt_softplus=True)
    tol = TOLERANCES[torch.bfloat16]
    assert rel_err(y, y_ref) <= tol and rel_err(s, s_ref) <= tol
    names = _scan_kernels(lambda: run(TRITON, inp, chunk, dt_softplus=True))
    assert names == {_kernel_of(gluon_scan, 64, 16, 2, chunk, 128)}


def test_it_is_the_kernel_that_runs(gluon_scan):
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda")
    names = _scan_kernels(lambda: run(TRITON, inp, 256, dt_softplus=True))
    assert names == {_kernel_of(gluon_scan)}


@pytest.mark.parametrize("h,g", [(6, 2), (4, 4), (6, 1)])
def test_the_pair_form_takes_heads_two_by_two_within_a_group(monkeypatch, h, g):
    """``gluon_pair`` runs its kernel where each group has an even number of heads (6 heads in 1 group) and the
    slim one where not (3 or 1 a group), matching float64 either way."""
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel="gluon_pair"))
    inp = ssd_inputs(b=2, L=600, h=h, p=64, g=g, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    names = _scan_kernels(lambda: run(TRITON, inp, 256, dt_softplus=True))
    assert names == {_kernel_of("gluon_pair", 64, h, g)}
    y, s = run(TRITON, inp, 256, dt_softplus=True)
    y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
    assert rel_err(y, y_ref) <= TOLERANCES[torch.bfloat16] and rel_err(s, s_ref) <= TOLERANCES[torch.bfloat16]


@pytest.mark.parametrize("what", ["float32", "float16", "state 256", "head dim 32", "x strided by batch"])
def test_what_it_leaves_to_the_triton_kernel(gluon_scan, what):
    kw = dict(b=2, L=300, h=4, p=64, g=1, n=128, dtype=torch.bfloat16, device="cuda")
    if what in ("float32", "float16"):
        kw["dtype"] = getattr(torch, what)
    elif what == "state 256":
        kw["n"] = 256
    elif what == "head dim 32":
        kw["p"] = 32
    inp = ssd_inputs(**kw)
    if what == "x strided by batch":  # (b, L) rows not evenly spaced: no 2-D TMA view
        inp["x"] = torch.cat([inp["x"], inp["x"][:, :1]], dim=1)[:, :300]
    assert not ssd_sm90.usable(inp["x"], inp["B"], inp["C"], 256)
    names = _scan_kernels(lambda: run(TRITON, inp, 256, dt_softplus=True))
    assert names == {"_chunk_scan"}
    y, s = run(TRITON, inp, 256, dt_softplus=True)
    y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
    tol = TOLERANCES[kw["dtype"]]
    assert rel_err(y, y_ref) <= tol and rel_err(s, s_ref) <= tol


GRAPH_KEYS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")


def _graph_inputs(seed=0):
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", seed=seed,
                     initial_state=True)
    return [inp[k] for k in GRAPH_KEYS]


def _graph_forward(x, dt, A, B, C, D, bias, init):
    return TRITON(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True, initial_state=init,
                  return_final_state=True)


def _captured(static):
    """A CUDA graph of one forward on ``static`` (warmed up on a side stream first) and its outputs."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        _graph_forward(*static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = _graph_forward(*static)
    return graph, out


def test_cuda_graph_capture_and_replay(gluon_scan):
    static = [t.clone() for t in _graph_inputs()]
    graph, (y_g, s_g) = _captured(static)
    fresh = _graph_inputs(seed=3)
    for t, f in zip(static, fresh):
        t.copy_(f)
    graph.replay()
    y_e, s_e = _graph_forward(*fresh)
    assert torch.equal(y_g, y_e) and torch.equal(s_g, s_e)


def _shortcut(monkeypatch, setting):
    """The launch shortcut in ``setting`` (``BAMBAPROF_TRITON_FAST_LAUNCH``; None: the default, whole forwards kept)
    for the kernels wrapped from here on."""
    from bambaprof.ssm.kernels import launch

    if setting is None:
        monkeypatch.delenv("BAMBAPROF_TRITON_FAST_LAUNCH", raising=False)
    else:
        monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", setting)
    monkeypatch.setattr(launch, "_wrapped", {})


@pytest.mark.parametrize("shortcut", [None, "keyed"])
def test_the_default_runs_it_in_cuda_graphs_and_eagerly_with_whole_forwards_kept(monkeypatch, scan_env, shortcut):
    """``scan_kernel="auto"``: captured in a graph the forward runs the Gluon scan (its launch cost is paid once);
    eagerly too with the whole launch shortcut (repeated forwards launched whole), ``_chunk_scan`` at this size (96
    scan programs, under ``EAGER_GLUON_PROGRAMS``) without it; the graph's outputs equal an eager forward with the
    Gluon scan named."""
    monkeypatch.setattr(ssd, "config_override", None)
    scan_env(None)
    _shortcut(monkeypatch, shortcut)
    assert ssd.LaunchConfig().scan_kernel == "auto"
    static = _graph_inputs()
    eager = _kernel_of(ssd.AUTO_FORM) if shortcut is None else "_chunk_scan"
    assert _scan_kernels(lambda: _graph_forward(*static)) == {eager}
    graph, (y_g, s_g) = _captured(static)
    assert _scan_kernels(graph.replay) == {_kernel_of(ssd.AUTO_FORM)}
    monkeypatch.setattr(ssd, "config_override",
                        dataclasses.replace(ssd.LaunchConfig(), scan_kernel=ssd.AUTO_FORM))
    y_e, s_e = _graph_forward(*static)
    assert torch.equal(y_g, y_e) and torch.equal(s_g, s_e)


@pytest.mark.parametrize("shortcut", [None, "keyed"])
def test_the_default_runs_it_eagerly_from_the_size_where_it_wins(monkeypatch, scan_env, shortcut):
    """Eager ``auto`` at a Bamba-9B mixer of 1 x 2048 tokens (8 chunks x 128 heads = ``EAGER_GLUON_PROGRAMS``) and
    of 1 x 8192 runs the Gluon form ``auto_scan`` names; one chunk fewer than 2048 (and 512 tokens) runs
    ``_chunk_scan`` without whole forwards kept (``keyed``), the Gluon form with them (the default)."""
    monkeypatch.setattr(ssd, "config_override", None)
    scan_env(None)
    _shortcut(monkeypatch, shortcut)
    small = _kernel_of(ssd.AUTO_FORM) if shortcut is None else "_chunk_scan"
    for L, expected in ((2048, _kernel_of(ssd.auto_scan(1024, False))), (2048 - 256, small), (512, small),
                        (8192, _kernel_of(ssd.auto_scan(4096, False)))):
        inp = ssd_inputs(b=1, L=L, h=128, p=64, g=1, n=128, dtype=torch.bfloat16, device="cuda", seed=0)
        assert _scan_kernels(lambda inp=inp: run(TRITON, inp, 256, dt_softplus=True)) == {expected}


@pytest.mark.parametrize("setting", ["gluon_late:128", "gluon_slim:128", "gluon_late:64"])
def test_a_kernel_chunk_setting_runs_the_gluon_scan_on_it(monkeypatch, scan_env, setting):
    """``BAMBAPROF_SSD_SCAN=NAME:CHUNK`` on the model's chunk of 256: the form's kernel runs on the kernels' chunk
    (exact against float64 at two batches, the last chunk partial, initial states), by other arithmetic than the
    model's chunk."""
    monkeypatch.setattr(ssd, "config_override", None)
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    form, _, chunk = setting.partition(":")
    outs = []
    for value, kernel_chunk in ((form, 256), (setting, int(chunk))):
        scan_env(value)
        assert ssd.launch_config(torch.bfloat16, 256, 64).chunk == kernel_chunk
        with torch.no_grad():
            outs.append(run(TRITON, inp, 256, dt_softplus=True))
        assert _scan_kernels(lambda: run(TRITON, inp, 256, dt_softplus=True)) == {_kernel_of(form)}
    y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
    (y0, s0), (y1, s1) = outs
    assert not torch.equal(y0, y1)
    for y, s in ((y0, s0), (y1, s1)):
        assert rel_err(y, y_ref) <= TOLERANCES[torch.bfloat16] and rel_err(s, s_ref) <= TOLERANCES[torch.bfloat16]


def test_torch_compile_matches_eager(gluon_scan):
    torch._dynamo.reset()
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)

    def forward(inp):
        return run(TRITON, inp, 256, dt_softplus=True)

    y0, s0 = forward(inp)
    y1, s1 = torch.compile(forward, fullgraph=True)(inp)
    assert rel_err(y1, y0) < 1e-6 and rel_err(s1, s0) < 1e-6


def test_eager_launches_keep_the_compiled_kernel_with_its_descriptors(monkeypatch):
    """The launch shortcut keys launches with TMA descriptors (``launch._descriptor_keys``): a second eager forward
    of a length seen before launches the Gluon scan from the kept kernel (through Triton's launcher, or its C
    function, descriptors and all), over new tensors, and the outputs equal those with the shortcut off bit for
    bit; the same inputs again, from the raw launch's kept descriptor encodings, give them too."""
    from bambaprof.ssm.kernels import launch

    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel="gluon_async"))
    outputs = {}
    for mode in ("0", "kept", "keyed"):  # keyed: the C function called a launch, no whole forwards kept
        monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", mode)
        monkeypatch.setattr(launch, "_wrapped", {})
        outputs[mode] = []
        for L in (512, 512, 768, 768):
            inp = make_inputs(Shape(1, L, 16, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=L, initial_state=True)
            with torch.no_grad():
                outputs[mode].append(run(TRITON, inp, 256, dt_softplus=True))
        wrapped = launch.wrapper_of(ssd_sm90._chunk_scan_sm90)
        if mode == "0":
            assert wrapped is ssd_sm90._chunk_scan_sm90
            continue
        assert isinstance(wrapped, launch.CachedLaunch) and wrapped._usable
        assert (wrapped._hits, wrapped._misses) == (2, 2)  # each length's second forward took the kept kernel
        raws = [raw for _, _, raw in wrapped._kept.values()]
        assert all(raw is None for raw in raws) if mode == "kept" else all(raw is not None for raw in raws)
        for (y, s), (y0, s0) in zip(outputs[mode], outputs["0"]):
            assert torch.equal(y, y0) and torch.equal(s, s0)
        if mode == "keyed":  # the raw launch expands the descriptors itself, and reuses its encodings on the same inputs
            assert all(raw.descriptors is not None for raw in raws)
            inp = make_inputs(Shape(1, 512, 16, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=512, initial_state=True)
            for _ in range(3):
                with torch.no_grad():
                    y, s = run(TRITON, inp, 256, dt_softplus=True)
                assert torch.equal(y, outputs["0"][0][0]) and torch.equal(s, outputs["0"][0][1])
            assert any(raw.descriptors.encoded for raw in raws)


@pytest.mark.parametrize("form", FUSED)
def test_the_fused_forms_leave_their_counters_at_zero(monkeypatch, form):
    """``gluon_fused`` keeps its counters (chains, tile counts) in a buffer per device and stream that no kernel
    zeroes: each launch leaves them at zero. Forwards of three lengths and batches (one chunk, several, a partial
    last one), each against float64, and the kept buffers all zeros after each: the two of this stream (the test
    starts without any, as earlier tests may have launched on other streams)."""
    from bambaprof.ssm.kernels import ssd_sm90_fused

    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form))
    monkeypatch.setattr(ssd_sm90_fused, "_COUNTERS", {})
    for b, L in ((2, 700), (1, 200), (3, 1024), (2, 700)):
        inp = ssd_inputs(b=b, L=L, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
        with torch.no_grad():
            y, s = run(TRITON, inp, 256, dt_softplus=True)
            y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
        torch.cuda.synchronize()
        assert rel_err(y, y_ref) <= TOLERANCES[torch.bfloat16] and rel_err(s, s_ref) <= TOLERANCES[torch.bfloat16]
        stream = torch.cuda.current_stream().cuda_stream
        kept = [buf for (_, on, _), buf in ssd_sm90_fused._COUNTERS.items() if on == stream]
        assert len(kept) == len(ssd_sm90_fused._COUNTERS) == 2 and all(int(buf.abs().sum()) == 0 for buf in kept), (b, L)


@pytest.mark.parametrize("form", FUSED)
def test_a_kept_fused_forward_is_not_replayed_over_counters_that_grew(monkeypatch, form):
    """A kept buffer of counters grows (made anew, twice as long, the old one freed) when a larger launch needs
    more; a whole forward kept by the launch shortcut before that must not be replayed after it, as its launch
    would count in freed memory. The same inputs four times with every other tensor at its address: the second
    forward is replayed, the third (after the counters grew) launched anew and kept, the fourth replayed again,
    and all four outputs equal, with the counters at zero."""
    from bambaprof.ssm.kernels import launch, ssd_sm90_fused

    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form))
    _shortcut(monkeypatch, None)
    monkeypatch.setattr(ssd_sm90_fused, "_COUNTERS", {})
    replayed = []
    memo_run = launch.LaunchMemo.run

    def spied(memo, key):
        replayed.append(memo_run(memo, key))
        return replayed[-1]

    monkeypatch.setattr(launch.LaunchMemo, "run", spied)
    inp = ssd_inputs(b=1, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    ys = [torch.empty_like(inp["x"]) for _ in range(4)]
    states = [torch.empty(1, 16, 64, 128, device="cuda") for _ in range(4)]
    device = torch.device("cuda", torch.cuda.current_device())
    for i in range(4):
        if i == 2:  # a larger launch's needs, without its tensors: only the counters move
            for kind in ("chains", "tiles"):
                ssd_sm90_fused.zeroed_counters(device, 4096, kind, keep=True)
        with torch.no_grad():
            y, s = run(TRITON, inp, 256, dt_softplus=True)
        ys[i].copy_(y)
        states[i].copy_(s)
        del y, s
    torch.cuda.synchronize()
    assert replayed == [False, True, False, True]
    assert all(torch.equal(y, ys[0]) for y in ys) and all(torch.equal(s, states[0]) for s in states)
    assert all(int(buf.abs().sum()) == 0 for buf in ssd_sm90_fused._COUNTERS.values())


@pytest.mark.parametrize("form", DIAG_FIRST)
def test_the_diag_first_forms_give_the_same_bits_whether_a_program_waited_or_not(monkeypatch, form):
    """``gluon_diag_first`` forms block 0's diagonal product early only where a program finds its chain's previous
    chunk not yet done, which depends on timing; both branches sum block 0 alike, so repeated forwards of many
    chains and chunks (some programs waiting, some not, differently each time) give the same bits."""
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form))
    inp = ssd_inputs(b=4, L=2048, h=64, p=64, g=1, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    with torch.no_grad():
        y0, s0 = run(TRITON, inp, 256, dt_softplus=True)
        for _ in range(10):
            y, s = run(TRITON, inp, 256, dt_softplus=True)
            assert torch.equal(y, y0) and torch.equal(s, s0)
