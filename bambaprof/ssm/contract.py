"""The SSD core contract shared by every variant.

A variant computes the Mamba2 selective state-space recurrence over a sequence::

    dt_t  = clamp(softplus?(dt_t + dt_bias), *dt_limit)        (per head)
    h_t   = exp(dt_t * A) * h_{t-1} + dt_t * B_t x_t^T          (state: p x n per head)
    y_t   = h_t C_t + D * x_t

Shapes (Mamba2 convention): ``x (b, L, h, p)``, ``dt (b, L, h)``, ``A (h)``,
``B`` and ``C (b, L, g, n)`` with head ``i`` reading group ``i // (h // g)``,
``D (h)``, ``dt_bias (h)``, ``initial_state (b, h, p, n)``. The output ``y`` has
the shape and dtype of ``x``; the final state is ``(b, h, p, n)`` in the compute
dtype (float64 when ``x`` is float64, float32 otherwise).

The ``dt`` pre-processing (bias, softplus, clamp) is part of the contract and is
done in the compute dtype by :func:`prepare_dt` for every built-in variant, so
that variants differ only in how they scan.

A one-token decode step advances the recurrence by a single position::

    y_t, state = variant.step(state, x_t, dt_t, A, B_t, C_t, D=..., position=t)

with ``state (b, h, p, n)``, ``x_t (b, h, p)``, ``dt_t (b, h)``, ``B_t``/``C_t
(b, g, n)``. ``position`` is the index of the token in the sequence (the
number of tokens already consumed); exact variants ignore it, the
``independent`` variant uses it to find chunk boundaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Protocol, Tuple

import torch
import torch.nn.functional as F

from ..errors import BambaprofError, UsageError

Tensor = torch.Tensor
DtLimit = Tuple[float, float]
NO_DT_LIMIT: DtLimit = (0.0, math.inf)


class SSDInputError(UsageError, ValueError):
    """Raised when inputs do not satisfy the SSD contract (shapes, chunk size, groups)."""


class ForwardFn(Protocol):
    def __call__(
        self,
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
    ) -> Tuple[Tensor, Optional[Tensor]]: ...


class StepFn(Protocol):
    def __call__(
        self,
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
    ) -> Tuple[Tensor, Tensor]: ...


#: Requirement tags a variant may declare.
NEEDS_CUDA = "cuda"
NEEDS_TRITON = "triton"


@dataclass(frozen=True)
class Variant:
    """A named SSD core implementation.

    Calling the variant validates the inputs against the contract, then runs
    ``forward``. ``step`` is the one-token decode step (``None`` when the variant
    offers none). ``exact`` is False for approximations (``independent``), whose
    difference from ``reference`` is a reported metric, not an error.
    ``needs`` lists requirement tags: ``"triton"`` (Triton kernels: a CUDA GPU, or
    the Triton interpreter on CPU with ``TRITON_INTERPRET=1``) and ``"cuda"`` (a
    CUDA GPU, with no CPU fallback).
    """

    name: str
    forward: ForwardFn
    step: Optional[StepFn] = None
    exact: bool = True
    needs: Tuple[str, ...] = ()
    summary: str = ""
    origin: str = "builtin"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __call__(
        self,
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
        validate_inputs(x, dt, A, B, C, chunk_size, D, dt_bias, dt_limit, initial_state)
        y, final = self.forward(
            x, dt, A, B, C, chunk_size,
            D=D, dt_bias=dt_bias, dt_softplus=dt_softplus, dt_limit=dt_limit,
            initial_state=initial_state, return_final_state=return_final_state,
        )
        return y, (final if return_final_state else None)

    def decode(
        self,
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
        """Validated one-token decode step; returns ``(y_t (b, h, p), new_state (b, h, p, n))``."""
        if self.step is None:
            raise BambaprofError(f"variant {self.name!r} offers no decode step")
        validate_step_inputs(state, x, dt, A, B, C, D, dt_bias, dt_limit)
        return self.step(
            state, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus,
            dt_limit=dt_limit, chunk_size=chunk_size, position=position,
        )


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype the scan accumulates in: float64 for float64 inputs, else float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def prepare_dt(
    dt: Tensor,
    dt_bias: Optional[Tensor],
    dt_softplus: bool,
    dt_limit: DtLimit,
    dtype: torch.dtype,
) -> Tensor:
    """Apply the contract's dt pre-processing in ``dtype``: add bias, softplus, clamp.

    The clamp is skipped when ``dt_limit`` is ``(0, inf)`` (Mamba2's "no limit").
    """
    out = dt.to(dtype)
    if dt_bias is not None:
        out = out + dt_bias.to(dtype)
    if dt_softplus:
        out = F.softplus(out)
    lo, hi = dt_limit
    if (lo, hi) != NO_DT_LIMIT:
        out = out.clamp(min=lo, max=hi)
    return out


def expand_groups(t: Tensor, nheads: int, dim: int) -> Tensor:
    """Repeat each of the ``g`` groups along ``dim`` so there is one slice per head.

    Head ``i`` reads group ``i // (h // g)`` (contiguous blocks of heads per group).
    """
    g = t.shape[dim]
    if g == nheads:
        return t
    return t.repeat_interleave(nheads // g, dim=dim)


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def validate_inputs(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Optional[Tensor] = None,
    dt_bias: Optional[Tensor] = None,
    dt_limit: DtLimit = NO_DT_LIMIT,
    initial_state: Optional[Tensor] = None,
) -> None:
    """Check shapes, the chunk size and the groups; raise :class:`SSDInputError` with one line."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size <= 0:
        raise SSDInputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if x.dim() != 4:
        raise SSDInputError(f"x must be (batch, seqlen, heads, headdim), got shape {_shape(x)}")
    b, L, h, p = x.shape
    if L == 0:
        raise SSDInputError("x has an empty sequence (seqlen 0)")
    if not x.is_floating_point():
        raise SSDInputError(f"x must be a floating-point tensor, got {x.dtype}")
    if tuple(dt.shape) != (b, L, h):
        raise SSDInputError(f"dt must be {(b, L, h)} to match x {_shape(x)}, got {_shape(dt)}")
    if tuple(A.shape) != (h,):
        raise SSDInputError(f"A must be ({h},), one value per head, got {_shape(A)}")
    if B.dim() != 4 or B.shape[:2] != (b, L):
        raise SSDInputError(f"B must be ({b}, {L}, groups, state), got {_shape(B)}")
    if tuple(C.shape) != tuple(B.shape):
        raise SSDInputError(f"C must have the shape of B {_shape(B)}, got {_shape(C)}")
    g = B.shape[2]
    if g <= 0 or h % g != 0:
        raise SSDInputError(f"heads ({h}) must be a multiple of groups ({g})")
    for name, t in (("D", D), ("dt_bias", dt_bias)):
        if t is not None and tuple(t.shape) != (h,):
            raise SSDInputError(f"{name} must be ({h},), one value per head, got {_shape(t)}")
    if initial_state is not None and tuple(initial_state.shape) != (b, h, p, B.shape[3]):
        raise SSDInputError(
            f"initial_state must be {(b, h, p, B.shape[3])}, got {_shape(initial_state)}"
        )
    _validate_dt_limit(dt_limit)
    devices = {t.device for t in (x, dt, A, B, C, D, dt_bias, initial_state) if t is not None}
    if len(devices) > 1:
        raise SSDInputError(f"inputs are on different devices: {sorted(str(d) for d in devices)}")


def validate_step_inputs(
    state: Tensor,
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    dt_bias: Optional[Tensor] = None,
    dt_limit: DtLimit = NO_DT_LIMIT,
) -> None:
    """Check the one-token decode step's shapes; raise :class:`SSDInputError` with one line."""
    if x.dim() != 3:
        raise SSDInputError(f"decode x must be (batch, heads, headdim), got {_shape(x)}")
    b, h, p = x.shape
    if tuple(dt.shape) != (b, h):
        raise SSDInputError(f"decode dt must be {(b, h)}, got {_shape(dt)}")
    if tuple(A.shape) != (h,):
        raise SSDInputError(f"A must be ({h},), got {_shape(A)}")
    if B.dim() != 3 or B.shape[0] != b or tuple(C.shape) != tuple(B.shape):
        raise SSDInputError(f"decode B and C must be ({b}, groups, state), got {_shape(B)} and {_shape(C)}")
    g, n = B.shape[1], B.shape[2]
    if g <= 0 or h % g != 0:
        raise SSDInputError(f"heads ({h}) must be a multiple of groups ({g})")
    if tuple(state.shape) != (b, h, p, n):
        raise SSDInputError(f"state must be {(b, h, p, n)}, got {_shape(state)}")
    for name, t in (("D", D), ("dt_bias", dt_bias)):
        if t is not None and tuple(t.shape) != (h,):
            raise SSDInputError(f"{name} must be ({h},), got {_shape(t)}")
    _validate_dt_limit(dt_limit)


def _validate_dt_limit(dt_limit: DtLimit) -> None:
    try:
        lo, hi = dt_limit
    except (TypeError, ValueError):
        raise SSDInputError(f"dt_limit must be a pair (low, high), got {dt_limit!r}") from None
    if not lo <= hi:
        raise SSDInputError(f"dt_limit low ({lo}) must not exceed high ({hi})")

