"""``default-optimized``: ``default`` with its cumulative sums done by a Triton kernel.

This is the study's "optimized" variant: the scan is unchanged except that
the chunk cumulative sum and the segment sums run in
:mod:`bambaprof.ssm.kernels.cumsum` instead of ``torch.cumsum``.
"""

from __future__ import annotations

from typing import Optional, Tuple

from .capabilities import check_triton_device
from .chunked import chunked_forward, chunked_step
from .contract import NEEDS_TRITON, NO_DT_LIMIT, DtLimit, Tensor, Variant


def _triton_cumsum(t: Tensor, dim: int) -> Tensor:
    from .kernels.cumsum import cumsum  # imports Triton only when the variant runs

    return cumsum(t, dim)


def default_optimized_forward(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Optional[Tensor] = None,
    dt_bias: Optional[Tensor] = None,
    dt_softplus: bool = False,
    dt_limit: DtLimit = NO_DT_LIMIT,
    initial_state: Optional[Tensor] = None,
    return_final_state: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    """:func:`~bambaprof.ssm.chunked.chunked_forward` with the Triton cumulative sum."""
    check_triton_device("default-optimized", x)
    return chunked_forward(
        x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus,
        dt_limit=dt_limit, initial_state=initial_state, return_final_state=return_final_state,
        cumsum=_triton_cumsum,
    )


DEFAULT_OPTIMIZED = Variant(
    name="default-optimized",
    forward=default_optimized_forward,
    step=chunked_step,
    exact=True,
    needs=(NEEDS_TRITON,),
    summary="default with the chunk cumsum and segment sums in a Triton kernel (the study's)",
)
