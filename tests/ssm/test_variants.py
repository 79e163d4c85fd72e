"""Every exact variant matches the sequential recurrence; independent behaves as defined."""

import math

import pytest
import torch

from bambaprof.ssm import get_variant
from tests.ssm.helpers import DEVICE, rel_err, run, ssd_inputs

EXACT = ["default", "default-optimized", "triton"]
#: float64 inputs: float64-exact variants, and triton (float32 accumulation)
TOL64 = {"default": 1e-10, "default-optimized": 1e-10, "triton": 2e-6}
CHUNK = 8

# (b, L, h, g): L below, equal to, not a multiple of, and a multiple of the chunk;
# batch > 1; one group, several groups, one group per head.
SHAPES = [(1, 5, 4, 1), (2, 8, 4, 2), (2, 21, 4, 2), (3, 32, 6, 3), (1, 19, 4, 4)]


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("b,L,h,g", SHAPES)
@pytest.mark.parametrize("initial_state", [False, True])
def test_exact_variant_matches_reference_float64(name, b, L, h, g, initial_state):
    inp = ssd_inputs(b=b, L=L, h=h, g=g, initial_state=initial_state)
    y_ref, s_ref = run(get_variant("reference"), inp, CHUNK, dt_softplus=True)
    y, s = run(get_variant(name), inp, CHUNK, dt_softplus=True)
    assert y.shape == (b, L, h, 8) and y.dtype == torch.float64
    assert s.shape == (b, h, 8, 16)
    assert rel_err(y, y_ref) < TOL64[name]
    assert rel_err(s, s_ref) < TOL64[name]


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize(
    "options",
    [
        dict(dt_softplus=False, with_D=False, with_bias=False),
        dict(dt_softplus=True, with_D=True, with_bias=True, dt_limit=(0.01, 0.2)),
        dict(dt_softplus=True, with_D=False, with_bias=True, dt_limit=(0.0, 0.05)),
    ],
)
def test_exact_variant_options_float32(name, options):
    opts = dict(options)
    with_D, with_bias = opts.pop("with_D"), opts.pop("with_bias")
    inp = ssd_inputs(b=2, L=27, h=4, g=2, dtype=torch.float32, with_D=with_D, with_bias=with_bias,
                     initial_state=True)
    if not opts["dt_softplus"]:
        inp["dt"] = inp["dt"].abs() * 0.2  # raw dt must be positive without softplus
    ref_inp = {k: (v.double() if v is not None else None) for k, v in inp.items()}
    y_ref, s_ref = run(get_variant("reference"), ref_inp, CHUNK, **opts)
    y, s = run(get_variant(name), inp, CHUNK, **opts)
    assert y.dtype == torch.float32 and s.dtype == torch.float32
    assert rel_err(y, y_ref) < 1e-5
    assert rel_err(s, s_ref) < 1e-5


def test_dt_limit_changes_the_result():
    inp = ssd_inputs(L=12)
    ref = get_variant("reference")
    y1, _ = run(ref, inp, CHUNK, dt_softplus=True)
    y2, _ = run(ref, inp, CHUNK, dt_softplus=True, dt_limit=(0.0, 0.01))
    assert rel_err(y2, y1) > 1e-3


def test_reference_matches_a_hand_computed_scalar_recurrence():
    # One head, one channel, one state: h_t = exp(dt a) h + dt b x ; y = c h + d x.
    x = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64).view(1, 3, 1, 1)
    dt = torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64).view(1, 3, 1)
    A = torch.tensor([-2.0], dtype=torch.float64)
    B = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64).view(1, 3, 1, 1)
    C = torch.tensor([2.0, 1.0, -1.0], dtype=torch.float64).view(1, 3, 1, 1)
    D = torch.tensor([0.5], dtype=torch.float64)
    h, expected = 0.0, []
    for t in range(3):
        h = math.exp(dt[0, t, 0].item() * -2.0) * h + dt[0, t, 0].item() * B[0, t, 0, 0].item() * x[0, t, 0, 0].item()
        expected.append(C[0, t, 0, 0].item() * h + 0.5 * x[0, t, 0, 0].item())
    for name in ["reference", "default"]:
        y, s = get_variant(name)(x, dt, A, B, C, 2, D=D, return_final_state=True)
        assert torch.allclose(y.flatten(), torch.tensor(expected, dtype=torch.float64), atol=1e-12)
        assert s.item() == pytest.approx(h, abs=1e-12)


def test_return_final_state_false_gives_none():
    inp = ssd_inputs(L=10)
    for name in ["reference", "default", "independent"]:
        y, s = get_variant(name)(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], CHUNK)
        assert s is None and y.shape == inp["x"].shape


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 1e-2), (torch.float16, 5e-3)])
def test_half_precision_inputs(dtype, tol):
    inp = ssd_inputs(L=20, dtype=dtype)
    ref_inp = {k: (v.double() if v is not None else None) for k, v in inp.items()}
    y_ref, _ = run(get_variant("reference"), ref_inp, CHUNK, dt_softplus=True)
    for name in EXACT:
        y, s = run(get_variant(name), inp, CHUNK, dt_softplus=True)
        assert y.dtype == dtype and s.dtype == torch.float32
        assert rel_err(y, y_ref) < tol


def test_independent_equals_reference_within_one_chunk():
    inp = ssd_inputs(L=CHUNK, initial_state=True)
    y_ref, s_ref = run(get_variant("reference"), inp, CHUNK, dt_softplus=True)
    y, s = run(get_variant("independent"), inp, CHUNK, dt_softplus=True)
    assert rel_err(y, y_ref) < 1e-10 and rel_err(s, s_ref) < 1e-10


def test_independent_is_reference_restarted_at_every_chunk():
    inp = ssd_inputs(L=21, initial_state=True)
    ref = get_variant("reference")
    pieces, state = [], None
    for start in range(0, 21, CHUNK):
        sl = slice(start, start + CHUNK)
        part = {k: (v[:, sl] if k in ("x", "dt", "B", "C") else v) for k, v in inp.items()}
        part["initial_state"] = inp["initial_state"] if start == 0 else None
        y, state = run(ref, part, CHUNK, dt_softplus=True)
        pieces.append(y)
    y_ind, s_ind = run(get_variant("independent"), inp, CHUNK, dt_softplus=True)
    assert rel_err(y_ind, torch.cat(pieces, dim=1)) < 1e-10
    assert rel_err(s_ind, state) < 1e-10
    # ... and it is an approximation: across chunks it differs from the exact scan.
    y_exact, _ = run(ref, inp, CHUNK, dt_softplus=True)
    assert rel_err(y_ind, y_exact) > 1e-4


@pytest.mark.parametrize("name", ["reference", "default", "default-optimized", "independent", "triton"])
@pytest.mark.parametrize("L,k", [(7, 3), (19, 4), (18, 3)])  # (18, 3): steps cross the chunk boundary at 16
def test_prefill_then_decode_equals_full_prefill(name, L, k):
    tol = TOL64.get(name, 1e-10)
    v = get_variant(name)
    inp = ssd_inputs(L=L, initial_state=True)
    y_full, s_full = run(v, inp, CHUNK, dt_softplus=True)
    head = {key: (val[:, : L - k] if key in ("x", "dt", "B", "C") else val) for key, val in inp.items()}
    y_head, state = run(v, head, CHUNK, dt_softplus=True)
    assert rel_err(y_head, y_full[:, : L - k]) < tol
    for t in range(L - k, L):
        y_t, state = v.decode(state, inp["x"][:, t], inp["dt"][:, t], inp["A"], inp["B"][:, t], inp["C"][:, t],
                              D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, chunk_size=CHUNK, position=t)
        assert rel_err(y_t, y_full[:, t]) < tol
    assert rel_err(state, s_full) < tol


def test_variants_run_under_torch_no_grad_and_keep_device():
    inp = ssd_inputs(L=9, dtype=torch.float32)
    with torch.no_grad():
        y, s = run(get_variant("default"), inp, CHUNK)
    assert y.device.type == DEVICE and not y.requires_grad
