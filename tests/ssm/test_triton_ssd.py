"""The fused Triton SSD (``triton`` variant) against the float64 recurrence, at small shapes covering
its options (Triton interpreter on the CPU, compiled kernels on a GPU)."""

import pytest
import torch

from bambaprof.ssm import get_variant
from tests.ssm.helpers import DEVICE, rel_err, run, ssd_inputs

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
    ],
)
def test_shapes(b, L, h, p, g, n, chunk):
    inp = ssd_inputs(b=b, L=L, h=h, p=p, g=g, n=n, dtype=torch.float32, initial_state=True)
    y, s = run(TRITON, inp, chunk, dt_softplus=True)
    y_ref, s_ref = _ref(inp, chunk, dt_softplus=True)
    assert y.dtype == torch.float32 and y.shape == (b, L, h, p)
    assert rel_err(y, y_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4


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
    assert rel_err(y, y_ref) < tol and rel_err(s, s_ref) < 1e-4


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
