"""``LaunchConfig.scan_dt`` on a Hopper GPU: the Gluon chunk scan forms each chunk's ``dt'`` and ``cs`` itself from
the raw ``dt`` and ``_chunk_prep`` runs its ``C B^T`` programs only. Against the float64 recurrence and against the
same forward with the prep's rows, over the options ``dt'`` is formed with (bias, softplus, limits, dt's dtype),
in CUDA graphs and under torch.compile."""

import dataclasses

import pytest
import torch

from bambaprof.ssm import get_variant
from bambaprof.ssm.check import TOLERANCES
from bambaprof.ssm.kernels import ssd, ssd_sm90
from tests.ssm.helpers import rel_err, run, ssd_inputs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9
                       or ssd_sm90.gluon is None, reason="needs a Hopper GPU and Gluon"),
]

TRITON = get_variant("triton")
REF = get_variant("reference")
FORMS = ["gluon_late", "gluon_slim"]  # auto's forms


def _config(monkeypatch, form, scan_dt, **more):
    monkeypatch.setattr(ssd, "config_override",
                        dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form, scan_dt=scan_dt, **more))


def _double(inp):
    return {k: (v.double() if v is not None else None) for k, v in inp.items()}


def _kernels(fn):
    """Names and counts of the SSD kernels (``_chunk_*``) one call of ``fn`` launches (profiler)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type.name == "CUDA" and e.name.startswith("_chunk_")]
    return {n: names.count(n) for n in names}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("chunk,p,n,h,g", [(256, 64, 128, 16, 2), (128, 128, 64, 8, 1), (192, 64, 128, 6, 3)])
@pytest.mark.parametrize("dt_form", ["bias_softplus", "limits", "raw_fp32_dt"])
def test_it_matches_float64_and_the_prep_rows(monkeypatch, form, chunk, p, n, h, g, dt_form):
    """Three chunks, the last partial, two batches, initial states: the same outputs as with the prep's rows of
    ``dt'`` and ``cs`` (within rounding: the cumulative sum is associated otherwise) and float64's."""
    inp = ssd_inputs(b=2, L=3 * chunk - 37, h=h, p=p, g=g, n=n, dtype=torch.bfloat16, device="cuda",
                     initial_state=True, with_bias=dt_form != "raw_fp32_dt")
    kw = dict(dt_softplus=dt_form != "raw_fp32_dt")
    if dt_form == "limits":
        kw["dt_limit"] = (0.05, 0.5)
    if dt_form == "raw_fp32_dt":  # dt' = dt as given (fp32), no bias, no softplus
        inp["dt"] = (inp["dt"].float() - inp["dt"].float().min() + 0.01) * 0.2
    outs = {}
    for scan_dt in (False, True):
        _config(monkeypatch, form, scan_dt)
        with torch.no_grad():
            outs[scan_dt] = run(TRITON, inp, chunk, **kw)
    y_ref, s_ref = run(REF, _double(inp), chunk, **kw)
    (y0, s0), (y1, s1) = outs[False], outs[True]
    tol = TOLERANCES[torch.bfloat16]
    assert rel_err(y1, y_ref) <= tol and rel_err(s1, s_ref) <= tol
    assert rel_err(y1, y0) <= 1e-3 and rel_err(s1, s0) <= 1e-4


@pytest.mark.parametrize("form", FORMS)
def test_the_prep_runs_its_c_b_programs_only_and_the_scan_its_own_kernel(monkeypatch, form):
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda")
    _config(monkeypatch, form, True)
    kernels = _kernels(lambda: run(TRITON, inp, 256, dt_softplus=True))
    scan = "_chunk_scan_sm90_slim" if form == "gluon_slim" else "_chunk_scan_sm90"
    assert kernels == {"_chunk_prep": 1, scan: 1}


@pytest.mark.parametrize("form", ["gluon_pair", "gluon_wide", "gluon_stay"])
def test_forms_that_read_the_prep_rows_keep_them(monkeypatch, form):
    """``scan_dt`` on a form whose kernel does not form ``dt'`` itself: the prep's rows are made and read as
    without it, bit for bit."""
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    outs = []
    for scan_dt in (False, True):
        _config(monkeypatch, form, scan_dt)
        outs.append(run(TRITON, inp, 256, dt_softplus=True))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("form", FORMS)
def test_cuda_graph_capture_and_replay(monkeypatch, form):
    _config(monkeypatch, form, True)
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)
    static = {k: (v.clone() if v is not None else None) for k, v in inp.items()}
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        run(TRITON, static, 256, dt_softplus=True)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y_g, s_g = run(TRITON, static, 256, dt_softplus=True)
    fresh = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True,
                       seed=3)
    for k, v in fresh.items():
        if v is not None:
            static[k].copy_(v)
    graph.replay()
    y_e, s_e = run(TRITON, fresh, 256, dt_softplus=True)
    assert torch.equal(y_g, y_e) and torch.equal(s_g, s_e)


@pytest.mark.parametrize("form", FORMS)
def test_torch_compile_matches_eager(monkeypatch, form):
    _config(monkeypatch, form, True)
    torch._dynamo.reset()
    inp = ssd_inputs(b=2, L=700, h=16, p=64, g=2, n=128, dtype=torch.bfloat16, device="cuda", initial_state=True)

    def forward(inp):
        return run(TRITON, inp, 256, dt_softplus=True)

    y0, s0 = forward(inp)
    y1, s1 = torch.compile(forward, fullgraph=True)(inp)
    assert rel_err(y1, y0) < 1e-6 and rel_err(s1, s0) < 1e-6
