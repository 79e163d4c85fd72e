"""``default-optimized``: ``default`` with its cumulative sums done by a Triton kernel.

This is the study's "optimized" variant: the scan is unchanged except that
the chunk cumulative sum and the segment sums run in
:mod:`bambaprof.ssm.kernels.cumsum` instead of ``torch.cumsum``.
"""

from __future__ import annotations

import functools

from .capabilities import check_triton_device
from .chunked import chunked_forward, chunked_step, chunked_workspace_bytes
from .contract import NEEDS_TRITON, Tensor, Variant


def triton_cumsum(t: Tensor, dim: int) -> Tensor:
    """The Triton cumulative sum, with a one-line error where Triton cannot run on ``t``."""
    check_triton_device("default-optimized", t)
    from .kernels.cumsum import cumsum  # imports Triton only when the variant runs

    return cumsum(t, dim)


DEFAULT_OPTIMIZED = Variant(
    name="default-optimized",
    forward=functools.partial(chunked_forward, cumsum=triton_cumsum),
    step=chunked_step,
    exact=True,
    needs=(NEEDS_TRITON,),
    summary="default with the chunk cumsum and segment sums in a Triton kernel (the study's)",
    extra={"workspace_bytes": chunked_workspace_bytes},
)
