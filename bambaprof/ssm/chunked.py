"""The chunked SSD scan as the Foundation Model Stack's Bamba SSM computes it.

This is the study's baseline, kept deliberately close to FMS's "naive SSD"
so that its speed and memory behaviour are what was measured: the sequence is
padded to a multiple of the chunk, groups are materialised per head, the
decay matrix comes from a masked cumulative-sum *segment sum*, and every
contraction is a broadcast multiply followed by ``sum`` (no einsum, no
matmul). The intra-chunk term alone materialises ``(b, c, l, l, h, n)`` and
``(b, c, l, l, h, p)`` float32 tensors, which is why one Bamba-9B mixer at
2048 tokens needs tens of GB.

Three variants are built from :func:`chunked_forward`:

- ``default``: FMS as is (``torch.cumsum``, states passed between chunks);
- ``default-optimized``: the same with the cumulative sums done by a Triton kernel;
- ``independent``: no state passed between chunks (each chunk starts from zero,
  the first one from ``initial_state``): an approximation.

The two decode steps here follow FMS's cached-generation path (explicit
``exp(dt A)``, ``dt B x`` outer product, ``bmm`` with ``C``).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from ..ranges import phase
from .contract import NO_DT_LIMIT, DtLimit, Tensor, compute_dtype, expand_groups, prepare_dt

#: ``cumsum(t, dim) -> Tensor``: the cumulative-sum implementation the scan uses.
CumsumFn = Callable[[Tensor, int], Tensor]


def torch_cumsum(t: Tensor, dim: int) -> Tensor:
    """``torch.cumsum`` with the :data:`CumsumFn` signature."""
    return torch.cumsum(t, dim=dim)


def pad_seq(t: Tensor, pad: int) -> Tensor:
    """Zero-pad ``t`` (``(b, L, ...)``) by ``pad`` positions at the end of dim 1."""
    if pad == 0:
        return t
    widths = [0, 0] * (t.dim() - 2) + [0, pad]
    return F.pad(t, widths, mode="constant", value=0.0)


def to_chunks(t: Tensor, pad: int, chunk_size: int) -> Tensor:
    """Pad dim 1 to a multiple of ``chunk_size`` and split it: ``(b, L, ...) -> (b, c, l, ...)``."""
    t = pad_seq(t, pad)
    return t.reshape(t.shape[0], -1, chunk_size, *t.shape[2:])


def segment_sum(a: Tensor, cumsum: CumsumFn = torch_cumsum) -> Tensor:
    """Segment sums ``S[..., i, j] = sum_{j < k <= i} a[..., k]`` (``-inf`` above the diagonal).

    Computed as FMS does, by masking a ``(..., T, T)`` expansion of ``a`` and
    taking a cumulative sum down the rows, which avoids the cancellation of
    ``cumsum[i] - cumsum[j]``.
    """
    T = a.size(-1)
    expanded = a[..., None].expand(*a.shape, T)  # [..., k, j] = a[k]
    strictly_lower = torch.tril(torch.ones(T, T, device=a.device, dtype=torch.bool), diagonal=-1)
    expanded = expanded.masked_fill(~strictly_lower, 0)
    sums = cumsum(expanded, -2)
    lower = torch.tril(torch.ones(T, T, device=a.device, dtype=torch.bool), diagonal=0)
    return sums.masked_fill(~lower, -torch.inf)


def chunked_forward(
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
    *,
    cumsum: CumsumFn = torch_cumsum,
    pass_states: bool = True,
) -> Tuple[Tensor, Optional[Tensor]]:
    """The FMS chunked SSD forward; see the module docstring.

    ``cumsum`` replaces every cumulative sum of the scan (the chunk cumsum and
    both segment sums). ``pass_states=False`` drops the inter-chunk recurrence.
    """
    batch, seqlen, nheads, headdim = x.shape
    cd = compute_dtype(x)
    pad = (chunk_size - seqlen % chunk_size) % chunk_size

    with phase("prep"):
        dt = prepare_dt(dt, dt_bias, dt_softplus, dt_limit, cd)  # (b, L, h)
        xs = x.to(cd)
        Bh = expand_groups(B.to(cd), nheads, dim=2)  # (b, L, h, n)
        Ch = expand_groups(C.to(cd), nheads, dim=2)

        d_residual = None
        if D is not None:
            d_residual = D.to(cd)[:, None] * pad_seq(xs, pad)  # (b, Lp, h, p)

        # Discretise x and A.
        xs = xs * dt[..., None]
        Adt = A.to(cd) * dt  # (b, L, h)

        xs, Adt, Bh, Ch = (to_chunks(t, pad, chunk_size) for t in (xs, Adt, Bh, Ch))
        Adt = Adt.permute(0, 3, 1, 2)  # (b, h, c, l)
        A_cumsum = cumsum(Adt, -1)

    # 1. Intra-chunk (diagonal blocks): C_l . B_s, masked by the decay L[l, s].
    # FMS binds the broadcast products to names (G_intermediate, M_intermediate,
    # C_times_states below), so they stay alive until the function returns; keeping
    # them alive here too reproduces its peak memory (about 54 GB for one Bamba-9B
    # mixer at 1 x 2048 tokens) and not just its arithmetic.
    with phase("intra_chunk"):
        decay = torch.exp(segment_sum(Adt, cumsum))  # (b, h, c, l, s)
        G_intermediate = Ch[:, :, :, None, :, :] * Bh[:, :, None, :, :, :]  # (b, c, l, s, h, n)
        G = G_intermediate.sum(dim=-1)  # (b, c, l, s, h)
        M_intermediate = G[..., None] * decay.permute(0, 2, 3, 4, 1)[..., None]
        M = M_intermediate.sum(dim=-1)  # (b, c, l, s, h)
        y_diag = (M[..., None] * xs[:, :, None]).sum(dim=3)  # (b, c, l, h, p)

    # 2. State at the end of each chunk, from that chunk's inputs alone.
    with phase("chunk_states"):
        decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)  # (b, h, c, l)
        B_decayed = Bh * decay_states.permute(0, 2, 3, 1)[..., None]  # (b, c, l, h, n)
        states = (
            (B_decayed.permute(0, 1, 3, 2, 4)[..., None] * xs.permute(0, 1, 3, 2, 4)[..., None, :])
            .sum(dim=3)
            .permute(0, 1, 2, 4, 3)
        )  # (b, c, h, p, n)

    # 3. States entering each chunk.
    with phase("state_passing"):
        if initial_state is not None:
            previous = initial_state.to(cd)[:, None]
        else:
            previous = torch.zeros_like(states[:, :1])
        chunk_decay_total = torch.exp(A_cumsum[:, :, :, -1])  # (b, h, c)
        if pass_states:
            states = torch.cat([previous, states], dim=1)  # (b, c+1, h, p, n)
            decay_chunk = torch.exp(segment_sum(F.pad(A_cumsum[:, :, :, -1], (1, 0)), cumsum))  # (b, h, z, c)
            passed = (
                decay_chunk.permute(0, 3, 2, 1)[..., None, None] * states[:, :, None]
            ).sum(dim=1)  # (b, z, h, p, n): sum over source chunks
            entering, final_state = passed[:, :-1], passed[:, -1]
        else:
            entering = torch.zeros_like(states)
            entering[:, :1] = previous
            ends = states + chunk_decay_total.permute(0, 2, 1)[..., None, None] * entering
            final_state = ends[:, -1]

    # 4. Inter-chunk (off-diagonal blocks): C_l . state entering the chunk, decayed to l.
    with phase("inter_chunk"):
        state_decay_out = torch.exp(A_cumsum).permute(0, 2, 3, 1)  # (b, c, l, h)
        C_times_states = Ch[..., None, :] * entering[:, :, None]  # (b, c, l, h, p, n)
        y_off = C_times_states.sum(dim=-1) * state_decay_out[..., None]

        y = (y_diag + y_off).reshape(batch, -1, nheads, headdim)
        if d_residual is not None:
            y = y + d_residual
        y = y[:, :seqlen]
    out = y.to(x.dtype), (final_state if return_final_state else None)
    del G_intermediate, M_intermediate, C_times_states  # released only now, as in FMS
    return out


def chunked_workspace_bytes(batch: int, seqlen: int, nheads: int, headdim: int, dstate: int, chunk_size: int) -> int:
    """Bytes :func:`chunked_forward` keeps alive at least, in float32 (its compute dtype for 16-bit inputs):
    the broadcast products ``G_intermediate`` (b, c, l, s, h, n) and ``C_times_states`` (b, c, l, h, p, n)
    and the decay (b, h, c, l, s), over the padded length. A lower bound (see
    :mod:`bambaprof.collect.footprint`)."""
    padded = -(-seqlen // chunk_size) * chunk_size
    elements = batch * padded * nheads * (chunk_size * dstate + headdim * dstate + chunk_size)
    return 4 * elements


def chunked_step(
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
    """FMS's one-token decode step; ``chunk_size`` and ``position`` are unused."""
    batch, nheads, headdim = x.shape
    n = B.shape[-1]
    cd = compute_dtype(x)
    dt = prepare_dt(dt, dt_bias, dt_softplus, dt_limit, cd)
    dt = dt[..., None].expand(batch, nheads, headdim)  # (b, h, p)
    dA = torch.exp(dt[..., None] * A.to(cd)[:, None, None])  # (b, h, p, n)
    Bh = expand_groups(B.to(cd), nheads, dim=1)  # (b, h, n)
    Ch = expand_groups(C.to(cd), nheads, dim=1)
    dBx = dt[..., None] * Bh[:, :, None, :] * x.to(cd)[..., None]  # (b, h, p, n)
    new_state = state.to(cd) * dA + dBx
    y = torch.bmm(new_state.reshape(batch * nheads, headdim, n), Ch.reshape(batch * nheads, n, 1))
    y = y.reshape(batch, nheads, headdim)
    if D is not None:
        y = y + x.to(cd) * D.to(cd)[:, None]
    return y.to(x.dtype), new_state


def independent_step(
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
    """Decode step of ``independent``: the state restarts from zero at each chunk boundary.

    A token at ``position`` with ``position % chunk_size == 0`` opens a new chunk,
    so it sees no state from earlier chunks; this keeps prefill followed by
    decode steps identical to one prefill over the whole sequence. Without a
    ``position`` or ``chunk_size`` the state is carried (plain recurrence).
    """
    if chunk_size is not None and position is not None and position > 0 and position % chunk_size == 0:
        state = torch.zeros_like(state)
    return chunked_step(state, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=dt_softplus, dt_limit=dt_limit)
