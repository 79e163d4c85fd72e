"""``reference``: the exact sequential recurrence, one token at a time.

Written for clarity, not speed: it is the oracle every other variant is
checked against. It runs in float64 when given float64 inputs (float32
otherwise) and never chunks, so ``chunk_size`` only goes through validation.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from .contract import (
    NO_DT_LIMIT,
    DtLimit,
    Tensor,
    Variant,
    compute_dtype,
    expand_groups,
    prepare_dt,
)


def reference_step(
    state: Tensor,
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    dt_bias: Optional[Tensor] = None,
    dt_softplus: bool = False,
    dt_limit: DtLimit = NO_DT_LIMIT,
    chunk_size: Optional[int] = None,
    position: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    """One step of ``h = exp(dt A) h + dt B x^T``, ``y = h C + D x``.

    ``state (b, h, p, n)``, ``x (b, h, p)``, ``dt (b, h)``, ``B``/``C (b, g, n)``.
    Returns ``y (b, h, p)`` in ``x``'s dtype and the new state in the compute dtype.
    """
    cd = compute_dtype(x)
    nheads = x.shape[1]
    dt = prepare_dt(dt, dt_bias, dt_softplus, dt_limit, cd)  # (b, h)
    xs = x.to(cd)
    Bh = expand_groups(B.to(cd), nheads, dim=1)  # (b, h, n)
    Ch = expand_groups(C.to(cd), nheads, dim=1)
    decay = torch.exp(dt * A.to(cd))  # (b, h)
    new_state = state.to(cd) * decay[:, :, None, None] + (dt[:, :, None] * xs)[..., None] * Bh[:, :, None, :]
    y = torch.einsum("bhpn,bhn->bhp", new_state, Ch)
    if D is not None:
        y = y + D.to(cd)[None, :, None] * xs
    return y.to(x.dtype), new_state


def reference_forward(
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
    """Run :func:`reference_step` over every position; ``chunk_size`` is unused."""
    b, L, h, p = x.shape
    n = B.shape[-1]
    cd = compute_dtype(x)
    state = (
        initial_state.to(cd)
        if initial_state is not None
        else torch.zeros(b, h, p, n, dtype=cd, device=x.device)
    )
    ys = []
    for t in range(L):
        y_t, state = reference_step(
            state, x[:, t], dt[:, t], A, B[:, t], C[:, t], D=D, dt_bias=dt_bias,
            dt_softplus=dt_softplus, dt_limit=dt_limit,
        )
        ys.append(y_t)
    return torch.stack(ys, dim=1), state


REFERENCE = Variant(
    name="reference",
    forward=reference_forward,
    step=reference_step,
    exact=True,
    summary="exact sequential recurrence, one token at a time (float64-capable oracle)",
)
