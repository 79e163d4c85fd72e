"""The chunked SSD forward and the one-token decode step as Triton kernels (the ``triton`` variant).

Four kernels, each reading its inputs once in their own dtype and accumulating in fp32:

1. ``_prep``: per (batch, chunk, head block): dt' = clamp(softplus?(dt + bias)),
   and the in-chunk cumulative sum of dt' A (positions past the sequence count 0);
2. ``_chunk_state``: per (batch, chunk, head, p block): the state a chunk builds
   from zero, ``S_c = sum_l x_l^T (exp(cs_last - cs_l) dt_l B_l)``, one ``tl.dot``
   per block of positions;
3. ``_state_pass``: per (batch, head, block of p x n): the recurrence over chunks,
   ``E_c = exp(cs_last(c-1)) E_(c-1) + S_(c-1)``, writing the state entering each
   chunk and the final state;
4. ``_chunk_scan``: per (batch, chunk, head, block of positions x p): the output
   ``y_l = exp(cs_l) C_l E_c + sum_(s<=l) (C_l . B_s) exp(cs_l - cs_s) dt_s x_s + D x_l``.

Head ``h`` reads group ``h // (heads / groups)``. Shapes follow
:mod:`bambaprof.ssm.contract`. Each launch records the bytes it must move and
its FLOPs into profiler traces (:mod:`bambaprof.ssm.kernels.metadata`).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl

from .metadata import kernel_metadata


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _prep(dt_ptr, bias_ptr, A_ptr, dt_out_ptr, cs_out_ptr,
          L, H, nchunks, s_dt_b, s_dt_l, s_dt_h, dt_lo, dt_hi,
          Q: tl.constexpr, BQ: tl.constexpr, BH: tl.constexpr,
          HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, CLAMP: tl.constexpr):
    pid_bc = tl.program_id(0)
    pid_h = tl.program_id(1)
    b = pid_bc // nchunks
    c = pid_bc % nchunks
    offs_q = tl.arange(0, BQ)
    offs_h = pid_h * BH + tl.arange(0, BH)
    pos = c * Q + offs_q
    valid = (offs_q[:, None] < Q) & (pos[:, None] < L) & (offs_h[None, :] < H)
    dt = tl.load(dt_ptr + b * s_dt_b + pos[:, None] * s_dt_l + offs_h[None, :] * s_dt_h, mask=valid, other=0.0)
    dt = dt.to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + offs_h, mask=offs_h < H, other=0.0).to(tl.float32)[None, :]
    if SOFTPLUS:
        dt = _softplus(dt)
    if CLAMP:
        dt = tl.minimum(tl.maximum(dt, dt_lo), dt_hi)
    dt = tl.where(valid, dt, 0.0)
    A = tl.load(A_ptr + offs_h, mask=offs_h < H, other=0.0).to(tl.float32)
    cs = tl.cumsum(dt * A[None, :], axis=0)
    # outputs are (b, h, c, Q) contiguous
    out = ((b * H + offs_h[None, :]) * nchunks + c) * Q + offs_q[:, None]
    keep = (offs_q[:, None] < Q) & (offs_h[None, :] < H)
    tl.store(dt_out_ptr + out, dt, mask=keep)
    tl.store(cs_out_ptr + out, cs, mask=keep)


@triton.jit
def _chunk_state(x_ptr, B_ptr, dt_ptr, cs_ptr, st_ptr,
                 L, H, P, N, nchunks, heads_per_group,
                 s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n,
                 Q: tl.constexpr, BL: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr):
    pid_bc = tl.program_id(0)
    h = tl.program_id(1)
    pid_p = tl.program_id(2)
    b = pid_bc // nchunks
    c = pid_bc % nchunks
    g = h // heads_per_group
    offs_p = pid_p * BP + tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    base = ((b * H + h) * nchunks + c) * Q
    cs_last = tl.load(cs_ptr + base + Q - 1)
    acc = tl.zeros((BP, BN), dtype=tl.float32)
    for l0 in range(0, Q, BL):
        offs_l = l0 + tl.arange(0, BL)
        pos = c * Q + offs_l
        ok_l = (offs_l < Q) & (pos < L)
        x = tl.load(x_ptr + b * s_x_b + pos[:, None] * s_x_l + h * s_x_h + offs_p[None, :] * s_x_p,
                    mask=ok_l[:, None] & (offs_p[None, :] < P), other=0.0).to(tl.float32)
        Bm = tl.load(B_ptr + b * s_B_b + pos[:, None] * s_B_l + g * s_B_g + offs_n[None, :] * s_B_n,
                     mask=ok_l[:, None] & (offs_n[None, :] < N), other=0.0).to(tl.float32)
        dt = tl.load(dt_ptr + base + offs_l, mask=offs_l < Q, other=0.0)
        cs = tl.load(cs_ptr + base + offs_l, mask=offs_l < Q, other=0.0)
        scale = tl.where(ok_l, tl.exp(cs_last - cs) * dt, 0.0)
        acc += tl.dot(tl.trans(x), Bm * scale[:, None], input_precision="ieee")
    # states are (b, c, h, P, N) contiguous
    out = (((b * nchunks + c) * H + h) * P + offs_p[:, None]) * N + offs_n[None, :]
    tl.store(st_ptr + out, acc, mask=(offs_p[:, None] < P) & (offs_n[None, :] < N))


@triton.jit
def _state_pass(st_ptr, cs_ptr, init_ptr, enter_ptr, final_ptr,
                H, PN, nchunks,
                Q: tl.constexpr, BLOCK: tl.constexpr, HAS_INIT: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    offs = tl.program_id(2) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < PN
    if HAS_INIT:
        s = tl.load(init_ptr + (b * H + h) * PN + offs, mask=ok, other=0.0).to(tl.float32)
    else:
        s = tl.zeros((BLOCK,), dtype=tl.float32)
    for c in range(0, nchunks):
        row = ((b * nchunks + c) * H + h) * PN
        tl.store(enter_ptr + row + offs, s, mask=ok)
        decay = tl.exp(tl.load(cs_ptr + ((b * H + h) * nchunks + c) * Q + Q - 1))
        s = decay * s + tl.load(st_ptr + row + offs, mask=ok, other=0.0)
    tl.store(final_ptr + (b * H + h) * PN + offs, s, mask=ok)


@triton.jit
def _chunk_scan(x_ptr, B_ptr, C_ptr, dt_ptr, cs_ptr, enter_ptr, D_ptr, y_ptr,
                L, H, P, N, nchunks, heads_per_group, n_pblocks,
                s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n,
                s_C_b, s_C_l, s_C_g, s_C_n, s_y_b, s_y_l, s_y_h, s_y_p,
                Q: tl.constexpr, BM: tl.constexpr, BK: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                HAS_D: tl.constexpr):
    pid_bc = tl.program_id(0)
    h = tl.program_id(1)
    pid_mp = tl.program_id(2)
    b = pid_bc // nchunks
    c = pid_bc % nchunks
    g = h // heads_per_group
    offs_m = (pid_mp // n_pblocks) * BM + tl.arange(0, BM)
    offs_p = (pid_mp % n_pblocks) * BP + tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    base = ((b * H + h) * nchunks + c) * Q
    pos_m = c * Q + offs_m
    ok_m = (offs_m < Q) & (pos_m < L)
    cs_m = tl.load(cs_ptr + base + offs_m, mask=offs_m < Q, other=0.0)
    Cm = tl.load(C_ptr + b * s_C_b + pos_m[:, None] * s_C_l + g * s_C_g + offs_n[None, :] * s_C_n,
                 mask=ok_m[:, None] & (offs_n[None, :] < N), other=0.0).to(tl.float32)
    # the state entering this chunk, as (N, BP)
    enter = tl.load(enter_ptr + (((b * nchunks + c) * H + h) * P + offs_p[None, :]) * N + offs_n[:, None],
                    mask=(offs_n[:, None] < N) & (offs_p[None, :] < P), other=0.0)
    acc = tl.dot(Cm, enter, input_precision="ieee") * tl.exp(cs_m)[:, None]
    m_hi = tl.minimum((tl.program_id(2) // n_pblocks + 1) * BM, Q)
    for k0 in range(0, m_hi, BK):
        offs_k = k0 + tl.arange(0, BK)
        pos_k = c * Q + offs_k
        ok_k = (offs_k < Q) & (pos_k < L)
        Bk = tl.load(B_ptr + b * s_B_b + pos_k[:, None] * s_B_l + g * s_B_g + offs_n[None, :] * s_B_n,
                     mask=ok_k[:, None] & (offs_n[None, :] < N), other=0.0).to(tl.float32)
        cb = tl.dot(Cm, tl.trans(Bk), input_precision="ieee")  # (BM, BK)
        cs_k = tl.load(cs_ptr + base + offs_k, mask=offs_k < Q, other=0.0)
        dt_k = tl.load(dt_ptr + base + offs_k, mask=offs_k < Q, other=0.0)
        causal = (offs_k[None, :] <= offs_m[:, None]) & ok_k[None, :]
        decay = tl.exp(tl.where(causal, cs_m[:, None] - cs_k[None, :], -float("inf")))
        w = cb * decay * dt_k[None, :]
        xk = tl.load(x_ptr + b * s_x_b + pos_k[:, None] * s_x_l + h * s_x_h + offs_p[None, :] * s_x_p,
                     mask=ok_k[:, None] & (offs_p[None, :] < P), other=0.0).to(tl.float32)
        acc += tl.dot(w, xk, input_precision="ieee")
    xm = tl.load(x_ptr + b * s_x_b + pos_m[:, None] * s_x_l + h * s_x_h + offs_p[None, :] * s_x_p,
                 mask=ok_m[:, None] & (offs_p[None, :] < P), other=0.0)
    if HAS_D:
        acc += tl.load(D_ptr + h).to(tl.float32) * xm.to(tl.float32)
    tl.store(y_ptr + b * s_y_b + pos_m[:, None] * s_y_l + h * s_y_h + offs_p[None, :] * s_y_p,
             acc.to(y_ptr.dtype.element_ty), mask=ok_m[:, None] & (offs_p[None, :] < P))


def _pow2(n: int, lo: int = 16) -> int:
    return max(lo, triton.next_power_of_2(n))


def ssd_forward(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, dt_softplus=False,
                dt_limit=(0.0, math.inf), initial_state=None, return_final_state=False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The chunked SSD with the four kernels above; see :mod:`bambaprof.ssm.contract` for the shapes."""
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    Q = chunk_size
    nchunks = triton.cdiv(L, Q)
    dev = x.device
    f32 = torch.float32
    BQ = triton.next_power_of_2(Q)
    BH = min(16, triton.next_power_of_2(H))
    dtp = torch.empty(b, H, nchunks, Q, device=dev, dtype=f32)
    cs = torch.empty_like(dtp)
    clamp = tuple(dt_limit) != (0.0, math.inf)
    dummy = A
    with kernel_metadata("ssd_prep", dt.numel() * dt.element_size() + 2 * dtp.numel() * 4, 4 * dtp.numel(), (dt,)):
        _prep[(b * nchunks, triton.cdiv(H, BH))](
            dt, dt_bias if dt_bias is not None else dummy, A, dtp, cs, L, H, nchunks,
            dt.stride(0), dt.stride(1), dt.stride(2), float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)),
            Q=Q, BQ=BQ, BH=BH, HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus), CLAMP=clamp)
    BN = _pow2(N)
    BP = min(64, _pow2(P))
    BL = min(64, _pow2(Q))
    states = torch.empty(b, nchunks, H, P, N, device=dev, dtype=f32)
    io = x.numel() * x.element_size() + B.numel() * B.element_size() * (H // G) + states.numel() * 4
    with kernel_metadata("ssd_chunk_state", io, 2 * b * L * H * P * N, (x, B)):
        _chunk_state[(b * nchunks, H, triton.cdiv(P, BP))](
            x, B, dtp, cs, states, L, H, P, N, nchunks, H // G,
            *x.stride(), *B.stride(), Q=Q, BL=BL, BP=BP, BN=BN)
    enter = torch.empty_like(states)
    final = torch.empty(b, H, P, N, device=dev, dtype=f32)
    init = initial_state.to(f32).contiguous() if initial_state is not None else final
    BLOCK = min(1024, triton.next_power_of_2(P * N))
    with kernel_metadata("ssd_state_pass", 2 * states.numel() * 4 + 2 * final.numel() * 4, 2 * states.numel(), (states,)):
        _state_pass[(b, H, triton.cdiv(P * N, BLOCK))](
            states, cs, init, enter, final, H, P * N, nchunks, Q=Q, BLOCK=BLOCK, HAS_INIT=initial_state is not None)
    y = torch.empty_like(x)
    BM = min(64, _pow2(Q))
    BK = BM
    n_pblocks = triton.cdiv(P, BP)
    io = (2 * x.numel() * x.element_size() + 2 * B.numel() * B.element_size() * (H // G)
          + enter.numel() * 4)
    with kernel_metadata("ssd_chunk_scan", io, 2 * b * L * H * (Q * N + Q * P + N * P), (x, B, C)):
        _chunk_scan[(b * nchunks, H, triton.cdiv(Q, BM) * n_pblocks)](
            x, B, C, dtp, cs, enter, D if D is not None else dummy, y, L, H, P, N, nchunks, H // G, n_pblocks,
            *x.stride(), *B.stride(), *C.stride(), *y.stride(),
            Q=Q, BM=BM, BK=BK, BP=BP, BN=BN, HAS_D=D is not None)
    return y, (final if return_final_state else None)


@triton.jit
def _decode(state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, y_ptr, new_ptr,
            H, P, N, heads_per_group, dt_lo, dt_hi,
            BP: tl.constexpr, BN: tl.constexpr,
            HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, CLAMP: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    offs_p = tl.program_id(2) * BP + tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    g = h // heads_per_group
    dt = tl.load(dt_ptr + b * H + h).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + h).to(tl.float32)
    if SOFTPLUS:
        dt = _softplus(dt)
    if CLAMP:
        dt = tl.minimum(tl.maximum(dt, dt_lo), dt_hi)
    decay = tl.exp(dt * tl.load(A_ptr + h).to(tl.float32))
    ok_p, ok_n = offs_p < P, offs_n < N
    x = tl.load(x_ptr + (b * H + h) * P + offs_p, mask=ok_p, other=0.0).to(tl.float32)
    Bv = tl.load(B_ptr + (b * (H // heads_per_group) + g) * N + offs_n, mask=ok_n, other=0.0).to(tl.float32)
    Cv = tl.load(C_ptr + (b * (H // heads_per_group) + g) * N + offs_n, mask=ok_n, other=0.0).to(tl.float32)
    idx = ((b * H + h) * P + offs_p[:, None]) * N + offs_n[None, :]
    mask = ok_p[:, None] & ok_n[None, :]
    s = tl.load(state_ptr + idx, mask=mask, other=0.0).to(tl.float32)
    s = s * decay + (dt * x)[:, None] * Bv[None, :]
    tl.store(new_ptr + idx, s, mask=mask)
    y = tl.sum(s * Cv[None, :], axis=1)
    if HAS_D:
        y += tl.load(D_ptr + h).to(tl.float32) * x
    tl.store(y_ptr + (b * H + h) * P + offs_p, y.to(y_ptr.dtype.element_ty), mask=ok_p)


def ssd_decode(state, x, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False, dt_limit=(0.0, math.inf),
               chunk_size=None, position=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """One token through the fused decode kernel: ``(y (b, h, p), new state (b, h, p, n) fp32)``."""
    b, H, P = x.shape
    G, N = B.shape[1], B.shape[2]
    xs, dts, Bs, Cs = x.contiguous(), dt.contiguous(), B.contiguous(), C.contiguous()
    st = state.to(torch.float32).contiguous()
    new = torch.empty_like(st)
    y = torch.empty_like(xs)
    BP = min(64, _pow2(P))
    BN = _pow2(N)
    with kernel_metadata("ssd_decode", 2 * st.numel() * 4 + 2 * xs.numel() * xs.element_size(), 4 * st.numel(), (st,)):
        _decode[(b, H, triton.cdiv(P, BP))](
            st, xs, dts, A, Bs, Cs, D if D is not None else A, dt_bias if dt_bias is not None else A, y, new,
            H, P, N, H // G, float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)), BP=BP, BN=BN,
            HAS_D=D is not None, HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus),
            CLAMP=tuple(dt_limit) != (0.0, math.inf))
    return y, new
