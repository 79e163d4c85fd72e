"""The fused Triton SSD (``triton`` variant) against the float64 recurrence, at small shapes covering
its options (Triton interpreter on the CPU, compiled kernels on a GPU)."""

import pytest
import torch

from bambaprof.ssm import get_variant
from tests.ssm.helpers import rel_err, run, ssd_inputs

TRITON = get_variant("triton")
REF = get_variant("reference")


def _ref(inp, chunk, **kw):
    return run(REF, {k: (v.double() if v is not None else None) for k, v in inp.items()}, chunk, **kw)


@pytest.mark.parametrize(
    "b,L,h,p,g,n,chunk",
    [
        (1, 70, 2, 64, 1, 64, 64),    # head dim 64, L not a multiple of the chunk
        (1, 130, 2, 128, 2, 32, 128),  # head dim 128, chunk 128
        (2, 40, 6, 16, 6, 16, 16),    # one group per head
        (1, 9, 4, 16, 2, 64, 64),     # shorter than one chunk
        (1, 300, 2, 64, 1, 256, 256),  # chunk 256 and state 256 (Bamba's chunk), two chunks
    ],
)
def test_shapes(b, L, h, p, g, n, chunk):
    inp = ssd_inputs(b=b, L=L, h=h, p=p, g=g, n=n, dtype=torch.float32, initial_state=True)
    y, s = run(TRITON, inp, chunk, dt_softplus=True)
    y_ref, s_ref = _ref(inp, chunk, dt_softplus=True)
    assert y.dtype == torch.float32 and y.shape == (b, L, h, p)
    assert rel_err(y, y_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4
    # one decode step from the final state, at this head dim and state size
    step = (inp["x"][:, -1], inp["dt"][:, -1], inp["A"], inp["B"][:, -1], inp["C"][:, -1])
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
    y1, s1 = TRITON.decode(s, *step, **kw)
    y1_ref, s1_ref = REF.decode(s_ref, *[t.double() for t in step], **{k: (v.double() if torch.is_tensor(v) else v)
                                                                         for k, v in kw.items()})
    assert rel_err(y1, y1_ref) < 1e-4 and rel_err(s1, s1_ref) < 1e-4


@pytest.mark.parametrize("opts", [
    dict(dt_softplus=True, dt_limit=(0.01, 0.1)),
    dict(dt_softplus=False, no_bias=True, no_D=True),
])
def test_options(opts):
    opts = dict(opts)
    inp = ssd_inputs(L=25, dtype=torch.float32, with_bias=not opts.pop("no_bias", False),
                     with_D=not opts.pop("no_D", False))
    if not opts["dt_softplus"]:
        inp["dt"] = inp["dt"].abs() * 0.2
    y, s = run(TRITON, inp, 8, **opts)
    y_ref, s_ref = _ref(inp, 8, **opts)
    assert rel_err(y, y_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 1e-2), (torch.float16, 5e-3)])
def test_half_inputs(dtype, tol):
    inp = ssd_inputs(L=33, dtype=dtype)
    y, s = run(TRITON, inp, 16, dt_softplus=True)
    y_ref, s_ref = _ref(inp, 16, dt_softplus=True)
    assert y.dtype == dtype and s.dtype == torch.float32
    # the interpreter multiplies in fp32 (exact state); a GPU's tensor cores take the 16-bit operands
    ry, rs = rel_err(y, y_ref), rel_err(s, s_ref)
    assert ry < tol and rs < (tol if torch.cuda.is_available() else 1e-4), (ry, rs)


def test_every_output_is_written():
    inp = ssd_inputs(L=45, dtype=torch.float32)
    y, _ = run(TRITON, inp, 16, dt_softplus=True)  # a physical (positive) dt
    assert torch.isfinite(y).all() and (y != 0).float().mean() > 0.99


def test_decode_kernel_with_dt_limit():
    inp = ssd_inputs(L=1, dtype=torch.float32, initial_state=True)
    args = (inp["initial_state"], inp["x"][:, 0], inp["dt"][:, 0], inp["A"], inp["B"][:, 0], inp["C"][:, 0])
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, dt_limit=(0.0, 0.05))
    y, s = TRITON.decode(*args, **kw)
    y_ref, s_ref = REF.decode(*[a.double() for a in args], **{k: (v.double() if torch.is_tensor(v) else v)
                                                              for k, v in kw.items()})
    assert rel_err(y, y_ref) < 1e-5 and rel_err(s, s_ref) < 1e-5


def test_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    from bambaprof.errors import BambaprofError

    monkeypatch.setenv("TRITON_INTERPRET", "0")
    inp = ssd_inputs(L=4, dtype=torch.float32, device="cpu")
    with pytest.raises(BambaprofError, match="variant 'triton' runs Triton kernels"):
        run(TRITON, inp, 8)


ARGS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")


def _forward(x, dt, A, B, C, D, bias, init):
    return TRITON(x, dt, A, B, C, 16, D=D, dt_bias=bias, dt_softplus=True, initial_state=init,
                  return_final_state=True)


def _step(state, x, dt, A, B, C, D, bias):
    return TRITON.decode(state, x, dt, A, B, C, D=D, dt_bias=bias, dt_softplus=True)


def test_torch_compile_traces_the_custom_ops_without_a_graph_break():
    """Dynamo sees one custom-op node per call (aot_eager: the kernels still run in the interpreter here)."""
    torch._dynamo.reset()
    inp = ssd_inputs(L=40, dtype=torch.float32, initial_state=True)
    args = [inp[k] for k in ARGS]
    assert torch._dynamo.explain(_forward)(*args).graph_break_count == 0
    y0, s0 = _forward(*args)
    y1, s1 = torch.compile(_forward, fullgraph=True, backend="aot_eager")(*args)
    assert rel_err(y1, y0) < 1e-6 and rel_err(s1, s0) < 1e-6
    step = (s0, inp["x"][:, 0], inp["dt"][:, 0], inp["A"], inp["B"][:, 0], inp["C"][:, 0], inp["D"], inp["dt_bias"])
    a0, n0 = _step(*step)
    a1, n1 = torch.compile(_step, fullgraph=True, backend="aot_eager")(*step)
    assert rel_err(a1, a0) < 1e-6 and rel_err(n1, n0) < 1e-6


def test_profiled_forward_records_bytes_and_flops_of_each_kernel(tmp_path):
    from torch.profiler import profile

    from bambaprof.analysis.trace import load_trace

    b, L, h, p, g, n, chunk = 2, 40, 4, 16, 2, 16, 16
    inp = ssd_inputs(b=b, L=L, h=h, p=p, g=g, n=n, dtype=torch.float32)
    with profile(record_shapes=True) as prof:
        run(TRITON, inp, chunk, dt_softplus=True)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    tr = load_trace(path)
    found = {}
    for i, name in enumerate(tr.ops.name):
        if name.startswith("bambaprof::ssd_"):
            found[name] = (tr.ops.kernel_num_gb[i] * 1e9, tr.ops.kernel_flop[i])
    assert set(found) == {"bambaprof::ssd_chunk_prep", "bambaprof::ssd_chunk_scan"}
    x_bytes = b * L * h * p * 4
    nbytes, flops = found["bambaprof::ssd_chunk_scan"]
    # reads x and writes y; x^T B and C E per head, plus the causal half of each chunk
    assert nbytes > 2 * x_bytes and flops > 4 * b * L * h * n * p


@pytest.mark.parametrize("kernel_chunk,used", [(16, 16), (8, 8), (24, 32), (64, 32)])
def test_a_kernel_chunk_that_tiles_the_models_gives_the_same_recurrence(monkeypatch, kernel_chunk, used):
    """``LaunchConfig.chunk`` tiles the model's chunk (32 here) when it divides it, else the model's is used;
    the result is the same recurrence either way (exact against float64)."""
    import dataclasses

    from bambaprof.ssm.kernels import ssd

    base = ssd.launch_config(torch.float32, 32, 16)
    cfg = dataclasses.replace(base, chunk=kernel_chunk)
    monkeypatch.setattr(ssd, "config_override", cfg)
    assert ssd.launch_config(torch.float32, 32, 16).chunk == used
    inp = ssd_inputs(L=75, dtype=torch.float32, initial_state=True)
    y, s = run(TRITON, inp, 32, dt_softplus=True)
    y_ref, s_ref = _ref(inp, 32, dt_softplus=True)
    assert rel_err(y, y_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4


def test_64_bit_offsets_give_the_same_result(monkeypatch):
    """The kernels' 64-bit offset form (taken for tensors spanning 2**31 elements) computes the same."""
    from bambaprof.ssm.kernels import ssd

    inp = ssd_inputs(L=40, dtype=torch.float32, initial_state=True)
    y32, s32 = run(TRITON, inp, 16, dt_softplus=True)
    monkeypatch.setattr(ssd, "_span", lambda t: 2 ** 31)
    y64, s64 = run(TRITON, inp, 16, dt_softplus=True)
    assert torch.equal(y32, y64) and torch.equal(s32, s64)


def test_no_kernel_writes_a_buffer_that_another_argument_shares():
    """Every buffer a kernel writes is its own storage: torch.compile's functionalization clones each mutated
    argument and copies it back, so views of one buffer passed as two arguments would overwrite each other."""
    from bambaprof.ssm.kernels import ssd
    from bambaprof.ssm.kernels.launch import direct

    written = {"_chunk_prep": ("dtp_ptr", "cs_ptr", "cb_ptr", "flag_ptr", "ticket_ptr"),
               "_chunk_scan": ("ring_ptr", "flag_ptr", "ticket_ptr", "y_ptr", "final_ptr")}
    seen = []

    def recording(kernel):
        launch = direct(kernel)

        class Grid:
            def __getitem__(self, grid):
                def run(*args, **kwargs):
                    named = dict(zip(kernel.arg_names, args))
                    seen.append(kernel.fn.__name__)
                    for name in written[kernel.fn.__name__]:
                        mine = named[name].untyped_storage().data_ptr()
                        for other, t in named.items():
                            if other != name and torch.is_tensor(t):
                                assert t.untyped_storage().data_ptr() != mine, f"{name} shares storage with {other}"
                    return launch[grid](*args, **kwargs)
                return run
        return Grid()

    inp = ssd_inputs(L=40, dtype=torch.float32, initial_state=True)
    ssd.ssd_forward(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 16, D=inp["D"], dt_bias=inp["dt_bias"],
                    dt_softplus=True, initial_state=inp["initial_state"], return_final_state=True, wrap=recording)
    assert seen == ["_chunk_prep", "_chunk_scan"]


@pytest.mark.parametrize("b,L,H,n_pb", [(2, 40, 4, 1), (3, 40, 40, 2)])
@pytest.mark.parametrize("per_tile", [False, True])
def test_the_prep_zeroes_every_chain_counter_and_the_ticket(b, L, H, n_pb, per_tile):
    """Whatever a previous forward left in them, ``_chunk_prep`` sets the scan's hand-off counters (one a chain:
    batch x p blocks x heads, over several blocks of heads at 40 heads) and its ticket to zero, and leaves any
    counter past them alone."""
    import dataclasses

    from bambaprof.ssm.kernels import ssd

    inp = ssd_inputs(b=b, L=L, h=H, p=8, g=1, n=16, dtype=torch.float32)
    cfg = dataclasses.replace(ssd.launch_config(torch.float32, 16, 8 * n_pb), cb_tiles=per_tile)
    plan = ssd._forward_plan(b, L, H, 8, 1, 16, 16, torch.float32, 4, False, False, cfg)
    chains = b * n_pb * H
    flags = torch.full((chains + 5,), 7, dtype=torch.int32)
    ticket = torch.full((1,), 9, dtype=torch.int32)
    nchunks = plan.nchunks
    dtp = torch.zeros(b, H, nchunks, 16)
    cs = torch.zeros_like(dtp)
    cb = torch.zeros(b, nchunks, 1, 16, 16)
    ssd._chunk_prep[plan.prep_grid](
        inp["x"], inp["dt"], inp["dt_bias"], inp["A"], inp["B"], inp["C"], dtp, cs, cb, flags, ticket,
        L, H, 1, 16, nchunks, plan.n_hb, plan.n_dt, n_pb, *inp["dt"].stride(), *inp["B"].stride(),
        *inp["C"].stride(), 0.0, 3.0e38, Q=16, BQ=16, BH=plan.prep_bh, BM=cfg.cb_rows, BNC=16, NPB=n_pb,
        HAS_BIAS=True, SOFTPLUS=True, CLAMP=False, PREC="ieee", DOT_F32=True, I64=False, CB_TILES=plan.cb_tiles)
    assert plan.cb_tiles == per_tile
    assert torch.equal(flags[:chains], torch.zeros(chains, dtype=torch.int32)) and ticket.item() == 0
    assert torch.equal(flags[chains:], torch.full((5,), 7, dtype=torch.int32))


@pytest.mark.parametrize("b,L,chunk,cb_rows", [(1, 300, 256, 32), (2, 100, 48, 32), (1, 40, 64, 64)])
def test_a_program_per_c_b_tile_gives_the_same_bits(monkeypatch, b, L, chunk, cb_rows):
    """``LaunchConfig.cb_tiles``: ``_chunk_prep`` makes each ``C B^T`` tile in a program of its own (the tile of
    each program decoded from a triangular index: 36 tiles a chunk at 256 / 32, a ragged last row block at 48 / 32,
    one tile at 64 / 64); the forward gives the same bits as with a program per row of tiles, exact against
    float64."""
    import dataclasses

    from bambaprof.ssm.kernels import ssd

    inp = ssd_inputs(b=b, L=L, h=2, p=16, g=1, n=16, dtype=torch.float32, initial_state=True)
    outputs = {}
    for per_tile in (False, True):
        cfg = dataclasses.replace(ssd.launch_config(torch.float32, chunk, 16), cb_rows=cb_rows, cb_tiles=per_tile)
        monkeypatch.setattr(ssd, "config_override", cfg)
        nmb = -(-chunk // cb_rows)
        plan = ssd._forward_plan(b, L, 2, 16, 1, 16, chunk, torch.float32, 4, False, True, ssd.launch_config(
            torch.float32, chunk, 16))
        assert plan.prep_grid[0] - plan.n_dt == b * plan.nchunks * (nmb * (nmb + 1) // 2 if per_tile else nmb)
        outputs[per_tile] = run(TRITON, inp, chunk, dt_softplus=True)
    (y, s), (y1, s1) = outputs[False], outputs[True]
    assert torch.equal(y, y1) and torch.equal(s, s1)
    y_ref, s_ref = _ref(inp, chunk, dt_softplus=True)
    assert rel_err(y1, y_ref) < 1e-4 and rel_err(s1, s_ref) < 1e-4


@pytest.mark.parametrize("prep_bh,prep_warps", [(2, 4), (4, 2), (8, 8)])
def test_the_prep_s_heads_a_program_and_warps_give_the_same_bits(monkeypatch, prep_bh, prep_warps):
    """``LaunchConfig.prep_bh`` and ``prep_warps``: the dt' programs of ``_chunk_prep`` over fewer heads each (5 heads:
    a ragged last block at 2 and 4, one block at 8) and other warps; the forward gives the same bits as 16 heads and
    4 warps (each head's cumulative sum is its own), exact against float64. ``prep_programs`` 0: the heads as set, not
    halved for the few chunks here."""
    import dataclasses

    from bambaprof.ssm.kernels import ssd

    b, L, H, chunk = 2, 100, 5, 48
    inp = ssd_inputs(b=b, L=L, h=H, p=16, g=1, n=16, dtype=torch.float32, initial_state=True)
    base = dataclasses.replace(ssd.launch_config(torch.float32, chunk, 16), prep_programs=0)
    outputs = []
    for cfg in (base, dataclasses.replace(base, prep_bh=prep_bh, prep_warps=prep_warps)):
        monkeypatch.setattr(ssd, "config_override", cfg)
        plan = ssd._forward_plan(b, L, H, 16, 1, 16, chunk, torch.float32, 4, False, True, ssd.launch_config(
            torch.float32, chunk, 16))
        assert plan.prep_bh == cfg.prep_bh and plan.n_dt == b * plan.nchunks * -(-H // cfg.prep_bh)
        outputs.append(run(TRITON, inp, chunk, dt_softplus=True))
    (y, s), (y1, s1) = outputs
    assert torch.equal(y, y1) and torch.equal(s, s1)
    y_ref, s_ref = _ref(inp, chunk, dt_softplus=True)
    assert rel_err(y1, y_ref) < 1e-4 and rel_err(s1, s_ref) < 1e-4


def test_the_prep_covers_fewer_heads_and_a_tile_a_program_where_a_forward_has_few_chunks():
    """``_forward_plan`` halves the heads a dt' program covers (from ``prep_bh``, down to ``PREP_MIN_BH``) while there
    would be fewer than ``prep_programs`` dt' programs, and makes a ``C B^T`` tile a program (``cb_tiles`` None) while
    a row a program would be fewer; Bamba-9B's 128 heads and chunk 256: 1x512 on 4 heads and tiles, 1x2048 on 16 and
    tiles, 1x8192 and 8x2048 on 16 and rows. A ``prep_bh`` below the floor stays, and set options win."""
    import dataclasses

    from bambaprof.ssm.kernels import ssd

    def plan(b, L, **options):
        cfg = dataclasses.replace(ssd.launch_config(torch.bfloat16, 256, 64), **options)
        return ssd._forward_plan(b, L, 128, 64, 1, 128, 256, torch.bfloat16, 2, True, False, cfg)

    picks = {(b, L): (plan(b, L).prep_bh, plan(b, L).cb_tiles) for b, L in ((1, 512), (1, 2048), (1, 8192), (8, 2048))}
    assert picks == {(1, 512): (4, True), (1, 2048): (16, True), (1, 8192): (16, False), (8, 2048): (16, False)}
    assert plan(1, 512).n_dt == 2 * 32 and plan(1, 512).prep_grid == (64 + 2 * 10,)
    assert plan(1, 1024).prep_bh == 8  # 4 chunks: 64 programs of 8 heads
    assert plan(1, 512, prep_bh=2).prep_bh == 2
    assert (plan(1, 512, prep_programs=0).prep_bh, plan(1, 512, prep_programs=0).cb_tiles) == (16, False)
    assert plan(1, 512, cb_tiles=False).cb_tiles is False and plan(8, 8192, cb_tiles=True).cb_tiles is True
