"""The ``triton`` variant on a CUDA GPU: the issue's target shapes against the float64 recurrence,
the options the interpreter cannot reach with 16-bit tensor-core products (chunk 64/128/256,
head dim 64/128, state 64/128/256, groups), torch.compile without graph breaks, CUDA graphs. On Hopper
bf16 the variant's chunk scan inside CUDA graphs is the Gluon kernel (``ssd_sm90``) by default: the target
shapes run with it and with the Triton scan, and the tests of the Triton scan's launches pin that one."""

import dataclasses

import pytest
import torch

from bambaprof.ssm import get_variant
from bambaprof.ssm.check import TOLERANCES, Shape, make_inputs
from bambaprof.ssm.kernels import ssd
from tests.ssm.helpers import rel_err, run, ssd_inputs

pytestmark = pytest.mark.gpu

TRITON = get_variant("triton")
REF = get_variant("reference")
H, P, N, G, CHUNK = 128, 64, 128, 1, 256


def _prefill_then_decode(inp, steps):
    """The last ``steps`` outputs and the final state from a prefill of the rest and the decode kernel."""
    L = inp["x"].shape[1]
    head = {k: (v[:, :L - steps] if k in ("x", "dt", "B", "C") else v) for k, v in inp.items()}
    _, state = run(TRITON, head, CHUNK, dt_softplus=True)
    ys = []
    for t in range(L - steps, L):
        y_t, state = TRITON.decode(state, inp["x"][:, t], inp["dt"][:, t], inp["A"], inp["B"][:, t], inp["C"][:, t],
                                   D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
        ys.append(y_t)
    return torch.stack(ys, dim=1), state


def _double(inp):
    return {k: (v.double() if v is not None else None) for k, v in inp.items()}


@pytest.fixture
def triton_scan(monkeypatch):
    """The variant with its Triton chunk scan (``_chunk_scan``) wherever it runs."""
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel="triton"))


@pytest.mark.parametrize("scan", ["default", "triton"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("b,L", [(1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192)])
def test_target_shapes_against_float64(b, L, dtype, scan, monkeypatch):
    """Eager, the default runs the Gluon form ``auto`` names on a Hopper GPU for bf16 (with the whole launch
    shortcut, at every size), else the Triton scan, which ``triton`` forces."""
    if scan != "default":
        if dtype == torch.float32:
            pytest.skip("float32 runs the Triton scan whatever the setting")
        monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=scan))
    inp = make_inputs(Shape(b, L, H, P, G, N, CHUNK), dtype, "cuda", seed=1, initial_state=False)
    with torch.no_grad():
        y, s = run(TRITON, inp, CHUNK, dt_softplus=True)
        y_ref, s_ref = run(REF, _double(inp), CHUNK, dt_softplus=True)
        y_dec, s_dec = _prefill_then_decode(inp, steps=2)
    tol = TOLERANCES[dtype]
    ry, rs = rel_err(y, y_ref), rel_err(s, s_ref)
    rd = max(rel_err(y_dec, y_ref[:, -2:]), rel_err(s_dec, s_ref))
    print(f"triton {dtype} {b}x{L}: y {ry:.2e} state {rs:.2e} prefill+decode {rd:.2e}")
    assert ry <= tol and rs <= tol and rd <= tol
    del y, s, y_ref, s_ref, inp
    torch.cuda.empty_cache()


@pytest.mark.parametrize("chunk,p,n,h,g", [
    (64, 64, 64, 8, 1), (128, 128, 128, 8, 2), (256, 64, 256, 4, 4), (256, 128, 64, 6, 3), (64, 128, 256, 2, 1),
])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_options_with_tensor_cores(chunk, p, n, h, g, dtype):
    inp = ssd_inputs(b=2, L=3 * chunk - 37, h=h, p=p, g=g, n=n, dtype=dtype, device="cuda", initial_state=True)
    inp["dt"] = inp["dt"] - 2.0  # softplus(dt + bias) in the range of trained layers
    y, s = run(TRITON, inp, chunk, dt_softplus=True, dt_limit=(0.0, 0.5))
    y_ref, s_ref = run(REF, _double(inp), chunk, dt_softplus=True, dt_limit=(0.0, 0.5))
    tol = TOLERANCES[dtype]
    assert rel_err(y, y_ref) <= tol and rel_err(s, s_ref) <= tol


def _inputs(dtype=torch.bfloat16, L=700):
    return ssd_inputs(b=2, L=L, h=16, p=64, g=2, n=128, dtype=dtype, device="cuda", initial_state=True)


def _forward(x, dt, A, B, C, D, bias, init):
    return TRITON(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True, initial_state=init,
                  return_final_state=True)


def _step(state, x, dt, A, B, C, D, bias):
    return TRITON.decode(state, x, dt, A, B, C, D=D, dt_bias=bias, dt_softplus=True)


ARGS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")


def test_torch_compile_fullgraph_matches_eager():
    torch._dynamo.reset()
    inp = _inputs()
    args = [inp[k] for k in ARGS]
    explained = torch._dynamo.explain(_forward)(*args)
    assert explained.graph_break_count == 0
    y0, s0 = _forward(*args)
    y1, s1 = torch.compile(_forward, fullgraph=True)(*args)
    assert rel_err(y1, y0) < 1e-6 and rel_err(s1, s0) < 1e-6
    st = s0.clone()
    step_args = (st, inp["x"][:, 0], inp["dt"][:, 0], inp["A"], inp["B"][:, 0], inp["C"][:, 0], inp["D"],
                 inp["dt_bias"])
    a0, n0 = _step(*step_args)
    a1, n1 = torch.compile(_step, fullgraph=True)(*step_args)
    assert rel_err(a1, a0) < 1e-6 and rel_err(n1, n0) < 1e-6


def test_cuda_graph_capture_and_replay(monkeypatch):
    """A replay equals an eager forward over the same inputs with the chunk scan the capture ran: ``auto`` runs a
    Gluon form inside a graph (on Hopper) where it runs the Triton scan eagerly at this size (96 programs)."""
    inp = _inputs()
    static = [inp[k].clone() for k in ARGS]
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up (compilation) outside the capture
        _forward(*static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y_g, s_g = _forward(*static)
    fresh = _inputs()
    fresh["x"] = fresh["x"] * 0.5 + 0.25
    for t, k in zip(static, ARGS):
        t.copy_(fresh[k])
    graph.replay()
    captured = ssd.auto_scan(2 * 3 * 16, capturing=True)  # b x chunks x heads (one head-dim block)
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=captured))
    y_e, s_e = _forward(*[fresh[k] for k in ARGS])
    assert torch.equal(y_g, y_e) and torch.equal(s_g, s_e)


COMPILED_ON_DIRTY_MEMORY = r"""
import sys, torch
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
v = get_variant("triton")
i = make_inputs(Shape(1, 2048, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, True)
def f(x, dt, A, B, C, D, bias, init):
    return v(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True, initial_state=init, return_final_state=True)
args = [i[k] for k in ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")]
y0, s0 = f(*args)
g = torch.compile(f, mode=sys.argv[1], fullgraph=True)
for _ in range(3):
    junk = torch.full((1 << 26,), 0x3F3F3F3F, dtype=torch.int32, device="cuda")  # the allocator's blocks hold junk
    del junk
    y1, s1 = g(*args)
torch.cuda.synchronize()
print(max(((y1.float() - y0.float()).norm() / y0.float().norm()).item(), ((s1 - s0).norm() / s0.norm()).item()))
"""


@pytest.mark.parametrize("mode", ["default", "max-autotune-no-cudagraphs"])
def test_compiled_forward_without_cuda_graphs_finishes_on_reused_memory(mode):
    """Compiled without CUDA graphs, the forward's buffers come from the caching allocator holding old data;
    the scan's counters must still start at zero (they once did not, and the scan waited forever)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run([sys.executable, "-c", COMPILED_ON_DIRTY_MEMORY, mode], capture_output=True,
                              text=True, env=env, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the compiled forward ({mode}) did not finish in 240 s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout.split()[-1]) < 1e-6


def _chunk_scan_registers(fn, args):
    """Registers per thread of the ``_chunk_scan`` launches in one profiled call of ``fn`` (from the trace)."""
    import json
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    fn(*args)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn(*args)
        torch.cuda.synchronize()
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        prof.export_chrome_trace(fh.name)
        events = json.load(open(fh.name))["traceEvents"]
    return {e["args"]["registers per thread"] for e in events
            if e.get("cat") == "kernel" and e.get("name") == "_chunk_scan"}


def test_compiled_forward_launches_the_scan_with_eagers_options(triton_scan):
    """Compiled, the scan runs with the eager launch's options: inductor re-compiled a traced kernel without
    its ``maxnreg`` cap (212 registers instead of 168 on the H200), so the forward op is opaque."""
    torch._dynamo.reset()
    inp = _inputs(L=2048)
    args = [inp[k] for k in ARGS]
    eager = _chunk_scan_registers(_forward, args)
    compiled = _chunk_scan_registers(torch.compile(_forward, fullgraph=True), args)
    assert len(eager) == 1 and compiled == eager


def test_launches_through_kept_kernels_match_triton_launches(monkeypatch, triton_scan):
    """The launch shortcut (kept compiled kernels, :mod:`bambaprof.ssm.kernels.launch`) gives the outputs of
    launches through ``JITFunction.run``, also for inputs at an address 16 bytes cannot divide, and a launch
    with a key seen before (parameters among its arguments) does not go through ``JITFunction.run``; where
    Triton's launcher is the known one (Triton 3.6), such a launch calls its C function directly (``keyed``: the
    shortcut without whole forwards kept, which the test below covers)."""
    from triton.runtime.jit import JITFunction

    from bambaprof.ssm.kernels import launch, ssd

    inp = _inputs(L=700)
    for k in ("D", "dt_bias"):  # a model's are parameters
        inp[k] = torch.nn.Parameter(inp[k], requires_grad=False)
    wide = torch.empty(inp["x"].numel() + 1, device="cuda", dtype=inp["x"].dtype)
    shifted = dict(inp, x=wide[1:].view_as(inp["x"]).copy_(inp["x"]))  # 2 bytes past an aligned address
    plain_run = JITFunction.run
    through_run = []
    raw_calls = []
    raw_call = launch.RawLauncher.__call__

    def counting_run(self, *args, **kwargs):
        through_run.append(self.fn.__name__)
        return plain_run(self, *args, **kwargs)

    def counting_raw(self, *args):
        raw_calls.append(self.function)
        return raw_call(self, *args)

    monkeypatch.setattr(JITFunction, "run", counting_run)
    monkeypatch.setattr(launch.RawLauncher, "__call__", counting_raw)
    runs = {}
    for mode in ("plain", "kept", "on"):
        monkeypatch.setattr(launch, "_wrapped", {})
        monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", {"plain": "0", "kept": "kept", "on": "keyed"}[mode])
        raw_calls.clear()
        for name, case in (("aligned", inp), ("shifted", shifted), ("again", inp)):
            through_run.clear()
            runs[mode, name] = _forward(*[case[k] for k in ARGS])
            torch.cuda.synchronize()
            kept = mode != "plain" and name == "again"
            assert through_run == ([] if kept else ["_chunk_prep", "_chunk_scan"])
        wrapper = launch.direct(ssd._chunk_scan)
        assert (mode != "plain") == isinstance(wrapper, launch.CachedLaunch)
        if mode != "plain":
            assert len(wrapper._kept) == 2  # one key per alignment of x
            raws = [raw for _, _, raw in wrapper._kept.values()]
            if mode == "kept":
                assert raws == [None, None] and not raw_calls
            elif _triton_version() == (3, 6):
                assert None not in raws and len(raw_calls) == 2  # the prep and the scan of "again"
    for mode in ("kept", "on"):
        for name in ("aligned", "shifted", "again"):
            for a, b in zip(runs["plain", name], runs[mode, name]):
                assert torch.equal(a, b)


@pytest.mark.parametrize("scan", ["triton", ssd.AUTO_FORM])
def test_a_repeated_eager_forward_is_launched_whole_with_the_bits_of_a_full_launch(monkeypatch, scan):
    """With the whole launch shortcut an eager forward whose tensors all sit where an earlier one's did, with
    their shapes, strides and dtypes, is launched from the forwards kept (``launch.LaunchMemo``): the same bits
    as with the shortcut off, also after the inputs' values change in place; a forward under the profiler is
    launched in full (its ranges and byte counts), one of another length, or at other addresses, misses."""
    from bambaprof.ssm.kernels import launch, ssd_sm90

    inp = _inputs(L=700)
    if scan != "triton" and not ssd_sm90.usable(inp["x"], inp["B"], inp["C"], 256):
        pytest.skip("the Gluon scan needs a Hopper GPU")
    monkeypatch.setattr(ssd, "config_override", dataclasses.replace(ssd.LaunchConfig(), scan_kernel=scan))
    args = [inp[k] for k in ARGS]

    def full(mode):
        monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", mode)
        monkeypatch.setattr(launch, "_wrapped", {})
        return [t.clone() for t in _forward(*args)]

    off = full("0")
    full("1")  # compiles through the shortcut; the next forwards are kept ones
    memo = launch.memo_of(ssd._chunk_prep)
    hits = memo._hits
    for _ in range(3):
        _forward(*args)  # nothing held: each forward's buffers land where the one before had its own
    assert memo._hits >= hits + 2
    y, s = _forward(*args)
    assert memo._hits >= hits + 3 and torch.equal(y, off[0]) and torch.equal(s, off[1])
    del y, s
    inp["x"].mul_(-0.5)  # other values at the same addresses
    inp["initial_state"].add_(1.0)
    hits = memo._hits
    y, s = _forward(*args)
    assert memo._hits == hits + 1
    y, s = y.clone(), s.clone()
    assert all(torch.equal(a, b) for a, b in zip((y, s), full("0")))
    full("1")
    memo = launch.memo_of(ssd._chunk_prep)
    _forward(*args)
    hits = memo._hits
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
                                ) as prof:
        _forward(*args)
        torch.cuda.synchronize()
    assert memo._hits == hits and any(e.name == "bambaprof::ssd_chunk_prep" for e in prof.events())
    shorter = _inputs(L=600)
    _forward(*[shorter[k] for k in ARGS])
    assert memo._hits == hits


def _triton_version():
    import triton

    return tuple(int(v) for v in triton.__version__.split(".")[:2])


def test_a_kept_kernel_given_cpu_memory_raises_and_does_not_launch(monkeypatch):
    """A CPU tensor where a kept launch had a CUDA one is another key: it goes through Triton, which raises."""
    from bambaprof.ssm.kernels import launch, mixer

    monkeypatch.setattr(launch, "_wrapped", {})
    monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", "1")
    x = torch.randn(2, 256, device="cuda", dtype=torch.bfloat16)
    w = torch.ones(256, device="cuda", dtype=torch.bfloat16)
    for _ in range(2):
        out = mixer.gated_rmsnorm(x, None, w, 1e-5, torch.bfloat16)
    assert torch.isfinite(out.float()).all()
    with pytest.raises((ValueError, RuntimeError)):
        mixer.gated_rmsnorm(x.cpu(), None, w, 1e-5, torch.bfloat16)
    torch.cuda.synchronize()  # the device is still usable


@pytest.mark.parametrize("chunk,cb_rows", [(256, 64), (256, 32), (128, 64)])
@pytest.mark.parametrize("b,L", [(1, 512), (2, 1000)])
def test_a_prep_program_per_c_b_tile_gives_the_same_bits(monkeypatch, b, L, chunk, cb_rows):
    """``LaunchConfig.cb_tiles`` compiled for the GPU (its tile decoded with the GPU's square root): the forward's
    bits equal those of the prep with a program per row of tiles, bf16 on the tensor cores."""
    inp = make_inputs(Shape(b, L, 16, P, G, N, chunk), torch.bfloat16, "cuda", seed=5, initial_state=True)
    outs = []
    for per_tile in (False, True):
        cfg = dataclasses.replace(ssd.launch_config(torch.bfloat16, chunk, P), cb_rows=cb_rows, cb_tiles=per_tile,
                                  scan_kernel="triton")
        monkeypatch.setattr(ssd, "config_override", cfg)
        with torch.no_grad():
            outs.append(run(TRITON, inp, chunk, dt_softplus=True))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("prep_bh,prep_warps", [(4, 4), (2, 4), (8, 2)])
@pytest.mark.parametrize("b,L", [(1, 512), (2, 1000)])
def test_the_prep_s_heads_a_program_and_warps_keep_the_outputs(monkeypatch, b, L, prep_bh, prep_warps):
    """``LaunchConfig.prep_bh`` and ``prep_warps`` compiled for the GPU, with a program per ``C B^T`` tile and the
    default's scan: dt' and its cumulative sums over other layouts (whose sums may associate otherwise), so the
    outputs are those of 16 heads and 4 warps to fp32 rounding, and exact against float64 (``prep_programs`` 0: the
    heads as set, not halved for few chunks)."""
    inp = make_inputs(Shape(b, L, 40, P, G, N, 256), torch.bfloat16, "cuda", seed=6, initial_state=True)
    outs = []
    base = dataclasses.replace(ssd.launch_config(torch.bfloat16, 256, P), cb_tiles=True, prep_programs=0)
    for cfg in (base, dataclasses.replace(base, prep_bh=prep_bh, prep_warps=prep_warps)):
        monkeypatch.setattr(ssd, "config_override", cfg)
        with torch.no_grad():
            outs.append(run(TRITON, inp, 256, dt_softplus=True))
    (y0, s0), (y1, s1) = outs
    assert rel_err(y1, y0) < 1e-3 and rel_err(s1, s0) < 1e-5
    y_ref, s_ref = run(REF, _double(inp), 256, dt_softplus=True)
    tol = TOLERANCES[torch.bfloat16]
    assert rel_err(y1, y_ref) <= tol and rel_err(s1, s_ref) <= tol
