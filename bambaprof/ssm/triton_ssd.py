"""``triton``: the chunked SSD as fused Triton kernels (:mod:`bambaprof.ssm.kernels.ssd`).

Two kernels for the forward (dt preparation and ``C B^T``; a one-pass chunk scan
that hands each chunk's state to the next and writes the outputs with the D skip)
and one for the decode step. They
accumulate in float32; 16-bit inputs go to the tensor cores in their dtype. float64
inputs are computed in float32 and their outputs cast back, so the variant is
exact to float32 precision (``check`` judges it at float32's tolerance). Runs on
CUDA tensors, or on the CPU under ``TRITON_INTERPRET=1``.

Eagerly the kernels are launched directly (the fewest Python steps per call);
under ``torch.compile`` the call goes through the custom ops of
:mod:`bambaprof.ssm.kernels.ops`, so there is no graph break.
"""

from __future__ import annotations

import math

import torch

from .capabilities import check_triton_device
from .contract import NEEDS_TRITON, Variant


def _narrow(t):
    """float64 tensors to float32 (the kernels' widest type); others unchanged."""
    return t.float() if t is not None and t.dtype == torch.float64 else t


def triton_forward(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, dt_softplus=False,
                   dt_limit=(0.0, math.inf), initial_state=None, return_final_state=False):
    """:func:`~bambaprof.ssm.kernels.ssd.ssd_forward` (float64 inputs run in float32)."""
    wide = x.dtype == torch.float64
    args = [_narrow(t) for t in (x, dt, B, C, D, dt_bias, initial_state)]
    x_, dt_, B_, C_, D_, bias_, init_ = args
    if torch.compiler.is_compiling():
        from .kernels import ops

        y, final = ops.ssd_chunked_forward(x_, dt_, A.float(), B_, C_, chunk_size, D_, bias_, bool(dt_softplus),
                                           float(dt_limit[0]), float(dt_limit[1]), init_)
    else:
        check_triton_device("triton", x)
        from .kernels.ssd import ssd_forward

        y, final = ssd_forward(x_, dt_, A.float(), B_, C_, chunk_size, D=D_, dt_bias=bias_, dt_softplus=dt_softplus,
                               dt_limit=dt_limit, initial_state=init_, return_final_state=return_final_state)
    if not return_final_state:
        final = None
    if wide:
        y = y.double()
        final = final.double() if final is not None else None
    return y, final


def triton_step(state, x, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False, dt_limit=(0.0, math.inf),
                chunk_size=None, position=None):
    """The fused one-token decode kernel (float64 inputs run in float32)."""
    wide = x.dtype == torch.float64
    x_, dt_, B_, C_, D_, bias_ = (_narrow(t) for t in (x, dt, B, C, D, dt_bias))
    if torch.compiler.is_compiling():
        from .kernels import ops

        y, new = ops.ssd_decode_step(state, x_, dt_, A.float(), B_, C_, D_, bias_, bool(dt_softplus),
                                     float(dt_limit[0]), float(dt_limit[1]))
    else:
        check_triton_device("triton", x)
        from .kernels.ssd import ssd_decode

        y, new = ssd_decode(state, x_, dt_, A.float(), B_, C_, D=D_, dt_bias=bias_, dt_softplus=dt_softplus,
                            dt_limit=dt_limit)
    return (y.double(), new.double()) if wide else (y, new)


TRITON = Variant(
    name="triton",
    forward=triton_forward,
    step=triton_step,
    exact=True,
    needs=(NEEDS_TRITON,),
    summary="fused Triton chunked SSD (2 kernels: prep and a one-pass chunk scan that hands states from chunk to "
            "chunk; tensor-core products, fp32 accumulation) and a fused decode kernel; "
            "in the mixer, a fused causal conv1d + SiLU and a fused gated RMSNorm",
    extra={"accumulates_in": "float32", "fused_mixer": True},
)
