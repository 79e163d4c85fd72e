"""The ``triton`` variant's kernels as ``torch.library`` custom ops, so that ``torch.compile`` traces
through them without a graph break and CUDA graphs capture them.

``bambaprof::ssd_chunked_forward`` always returns the final state (the caller drops it when not
asked for); ``bambaprof::ssd_decode_step`` returns ``(y, new state)``.

With compiled Triton (a GPU) the decode step is a ``torch.library.triton_op``: inductor sees its kernel
launch. The forward is an opaque ``custom_op`` with a shape function everywhere: inductor compiles a
``triton_op``'s kernels again itself, and drops launch options it does not know, among them the chunk
scan's ``maxnreg`` register cap (torch 2.11 to 2.13: compiled, the scan took 212 registers instead of 168
and ran 11% slower at 1 x 2048 on the H200); an opaque op runs the eager launch, options and all. Under the
Triton interpreter (``TRITON_INTERPRET=1``, the CPU), where ``wrap_triton`` cannot trace kernels, every op
is an opaque ``custom_op``. Dynamo traces each op as one node either way.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from ..capabilities import triton_interpreter_on
from .launch import direct
from .ssd import ssd_decode, ssd_forward

Tensor = torch.Tensor

try:
    from torch.library import triton_op, wrap_triton
except ImportError:  # pragma: no cover - torch < 2.6: opaque custom ops instead
    triton_op = wrap_triton = None

#: True when the ops are ``triton_op``\ s (inductor sees their kernels).
TRANSPARENT = triton_op is not None and not triton_interpreter_on()
#: How the ops launch a Triton kernel: through ``wrap_triton`` (traceable) on a GPU, directly in the interpreter.
WRAP = wrap_triton if TRANSPARENT else direct


def _forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int, D: Optional[Tensor],
             dt_bias: Optional[Tensor], dt_softplus: bool, dt_min: float, dt_max: float,
             initial_state: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    y, final = ssd_forward(x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus,
                           dt_limit=(dt_min, dt_max), initial_state=initial_state, return_final_state=True)
    return y, final


def _decode(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor],
            dt_bias: Optional[Tensor], dt_softplus: bool, dt_min: float, dt_max: float) -> Tuple[Tensor, Tensor]:
    return ssd_decode(state, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus,
                      dt_limit=(dt_min, dt_max), wrap=WRAP)


def library_op(name: str, fn: Callable, fake: Callable, mutates: Tuple[str, ...] = (),
               transparent: bool = True) -> Callable:
    """``fn`` as the ``torch.library`` op ``name``: a ``triton_op`` where inductor can see its kernels (and
    ``transparent``; ``fn`` then launches through :data:`WRAP`), else an opaque ``custom_op`` whose output
    shapes come from ``fake`` (``fn`` launches directly); ``mutates`` names the arguments it writes."""
    if TRANSPARENT and transparent:
        return triton_op(name, fn, mutates_args=mutates)
    op = torch.library.custom_op(name, fn, mutates_args=mutates)
    op.register_fake(fake)
    return op


def _forward_shapes(x, dt, A, B, C, chunk_size, D, dt_bias, dt_softplus, dt_min, dt_max, initial_state):
    b, _, h, p = x.shape
    return torch.empty_like(x), x.new_empty((b, h, p, B.shape[-1]), dtype=torch.float32)


def _decode_shapes(state, x, dt, A, B, C, D, dt_bias, dt_softplus, dt_min, dt_max):
    return torch.empty_like(x), state.new_empty(state.shape, dtype=torch.float32)


#: opaque: its launches carry ``maxnreg``, which inductor's compilation of a ``triton_op`` would drop
ssd_chunked_forward = library_op("bambaprof::ssd_chunked_forward", _forward, _forward_shapes, transparent=False)
ssd_decode_step = library_op("bambaprof::ssd_decode_step", _decode, _decode_shapes)
