"""``triton``: the chunked SSD as fused Triton kernels (:mod:`bambaprof.ssm.kernels.ssd`).

Four kernels for the forward (prep + cumsum, chunk states, state passing, chunk
scan with the D skip) and one for the decode step. They accumulate in float32:
float64 inputs are computed in float32 and their outputs cast back, so the
variant is exact to float32 precision (``check`` judges it at float32's
tolerance). Runs on CUDA tensors, or on the CPU under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

from .capabilities import check_triton_device
from .contract import NEEDS_TRITON, Variant


def triton_forward(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, dt_softplus=False,
                   dt_limit=(0.0, float("inf")), initial_state=None, return_final_state=False):
    """:func:`~bambaprof.ssm.kernels.ssd.ssd_forward` with float64 inputs run in float32."""
    check_triton_device("triton", x)
    from .kernels.ssd import ssd_forward

    wide = x.dtype == __import__("torch").float64
    args = [t.float() if wide and t is not None else t for t in (x, dt, A, B, C, D, dt_bias, initial_state)]
    y, final = ssd_forward(args[0], args[1], args[2].float(), args[3], args[4], chunk_size, D=args[5],
                           dt_bias=args[6], dt_softplus=dt_softplus, dt_limit=dt_limit, initial_state=args[7],
                           return_final_state=return_final_state)
    if wide:
        y = y.double()
        final = final.double() if final is not None else None
    return y, final


def triton_step(state, x, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False, dt_limit=(0.0, float("inf")),
                chunk_size=None, position=None):
    """The fused one-token decode kernel (float64 inputs run in float32)."""
    check_triton_device("triton", x)
    from .kernels.ssd import ssd_decode

    wide = x.dtype == __import__("torch").float64
    conv = (lambda t: t.float() if wide and t is not None else t)
    y, new = ssd_decode(state, conv(x), conv(dt), A.float(), conv(B), conv(C), D=conv(D), dt_bias=conv(dt_bias),
                        dt_softplus=dt_softplus, dt_limit=dt_limit)
    return (y.double(), new.double()) if wide else (y, new)


TRITON = Variant(
    name="triton",
    forward=triton_forward,
    step=triton_step,
    exact=True,
    needs=(NEEDS_TRITON,),
    summary="fused Triton chunked SSD (4 kernels, fp32 accumulation) and a fused decode kernel",
    extra={"accumulates_in": "float32"},
)
