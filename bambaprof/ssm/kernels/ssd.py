"""The chunked SSD forward and the one-token decode step as Triton kernels (the ``triton`` variant).

The forward is three launches. Every kernel accumulates in fp32 and gives the
tensor cores operands in the input dtype (bf16 / fp16; fp32 inputs use exact
fp32 products, ``input_precision="ieee"``):

1. ``_chunk_prep`` (1-D grid, two kinds of program, all independent): per
   (batch, chunk, block of heads) ``dt' = clamp(softplus?(dt + bias))`` and its
   in-chunk cumulative sum ``cs`` of ``dt' A`` (positions past the sequence
   count 0); per (batch, chunk, group, block of rows) the tiles of ``C B^T`` on
   or below the diagonal, shared by the group's heads.
2. ``_chunk_states``: one program per (batch, head, block of p, block of n)
   walks the sequence in blocks of positions, carrying the state:
   ``E <- exp(cs_end - cs_start) E + sum_l exp(cs_end - cs_l) dt_l B_l^T x_l``,
   and writes the state entering each chunk (bf16 for bf16 inputs, else fp32)
   and the final state (fp32). Chunk states are never stored and the pass
   over chunks needs no launch of its own; the loop body only loads and
   multiplies (no reductions), so the pipeliner runs its loads ahead.
3. ``_chunk_scan`` (heads varying fastest, so one chunk's ``C B^T`` stays in L2
   while its heads read it): per (batch, chunk, block of rows, block of p,
   head) ``y_l = exp(cs_l) C_l E_c + sum_(s<=l) (C_l . B_s) exp(cs_l - cs_s)
   dt_s x_s + D x_l``. Tiles below the diagonal need only 1-D exponentials
   (the decay factorises through the block's first row); the diagonal tile is
   masked, and its x tile also serves the D skip.

Intermediate layouts: ``dt'`` and ``cs`` are ``(b, h, chunks, Q)`` fp32,
entering states ``(b, chunks, h, n, p)``, ``C B^T`` ``(b, chunks, g, Q, Q)``
(bf16 for bf16 inputs, else fp32). Head ``h`` reads group ``h // (heads /
groups)``. Shapes follow :mod:`bambaprof.ssm.contract`. Each launch records the
bytes it must move and its FLOPs into profiler traces
(:mod:`bambaprof.ssm.kernels.metadata`).

Block sizes come from :func:`launch_config`; ``benchmarks/tune_triton_ssd.py``
measures the alternatives on a GPU.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

import torch
import triton
import triton.language as tl

from ...ranges import phase
from .metadata import kernel_metadata


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _chunk_prep(x_ptr, dt_ptr, bias_ptr, A_ptr, B_ptr, C_ptr, dtp_ptr, cs_ptr, cb_ptr,
                L, H, G, N, nchunks, n_hblocks, n_dt_progs,
                s_dt_b, s_dt_l, s_dt_h, s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n, dt_lo, dt_hi,
                Q: tl.constexpr, BQ: tl.constexpr, BH: tl.constexpr, BM: tl.constexpr, BNC: tl.constexpr,
                HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, CLAMP: tl.constexpr, PREC: tl.constexpr,
                DOT_F32: tl.constexpr, I64: tl.constexpr):
    pid = tl.program_id(0)
    dot_t = tl.float32 if DOT_F32 else x_ptr.dtype.element_ty
    if pid < n_dt_progs:
        # dt' and its in-chunk cumulative sum cs of dt' A for a block of heads of one chunk
        hb = pid % n_hblocks
        bc = pid // n_hblocks
        b = bc // nchunks
        c = bc % nchunks
        if I64:  # 64-bit offsets, for tensors that span 2**31 elements or more
            b = b.to(tl.int64)
            c = c.to(tl.int64)
        offs_q = tl.arange(0, BQ)
        offs_h = hb * BH + tl.arange(0, BH)
        pos = c * Q + offs_q
        ok = (offs_q[:, None] < Q) & (pos[:, None] < L) & (offs_h[None, :] < H)
        dt = tl.load(dt_ptr + b * s_dt_b + pos[:, None] * s_dt_l + offs_h[None, :] * s_dt_h, mask=ok, other=0.0)
        dt = dt.to(tl.float32)
        if HAS_BIAS:
            dt += tl.load(bias_ptr + offs_h, mask=offs_h < H, other=0.0).to(tl.float32)[None, :]
        if SOFTPLUS:
            dt = _softplus(dt)
        if CLAMP:
            dt = tl.minimum(tl.maximum(dt, dt_lo), dt_hi)
        dt = tl.where(ok, dt, 0.0)
        A = tl.load(A_ptr + offs_h, mask=offs_h < H, other=0.0).to(tl.float32)
        cs = tl.cumsum(dt * A[None, :], axis=0)
        out = ((b * H + offs_h[None, :]) * nchunks + c) * Q + offs_q[:, None]
        keep = (offs_q[:, None] < Q) & (offs_h[None, :] < H)
        tl.store(dtp_ptr + out, dt, mask=keep)
        tl.store(cs_ptr + out, cs, mask=keep)
    else:
        # rows [mb BM, (mb + 1) BM) of one chunk's C B^T for group g, tiles on or below the diagonal
        nmb = (Q + BM - 1) // BM
        r = pid - n_dt_progs
        mb = r % nmb
        r = r // nmb
        g = r % G
        r = r // G
        c = r % nchunks
        b = r // nchunks
        if I64:
            b = b.to(tl.int64)
            c = c.to(tl.int64)
        offs_m = mb * BM + tl.arange(0, BM)
        offs_nc = tl.arange(0, BNC)
        ok_nc = offs_nc < N
        pos_m = c * Q + offs_m
        ok_m = (offs_m < Q) & (pos_m < L)
        Cm = tl.load(C_ptr + b * s_C_b + pos_m[:, None] * s_C_l + g * s_C_g + offs_nc[None, :] * s_C_n,
                     mask=ok_m[:, None] & ok_nc[None, :], other=0.0).to(dot_t)
        row = ((b * nchunks + c) * G + g) * Q
        for k0 in range(0, (mb + 1) * BM, BM):
            offs_k = k0 + tl.arange(0, BM)
            pos_k = c * Q + offs_k
            ok_k = (offs_k < Q) & (pos_k < L)
            Bk = tl.load(B_ptr + b * s_B_b + pos_k[:, None] * s_B_l + g * s_B_g + offs_nc[None, :] * s_B_n,
                         mask=ok_k[:, None] & ok_nc[None, :], other=0.0).to(dot_t)
            cb = tl.dot(Cm, tl.trans(Bk), input_precision=PREC)
            tl.store(cb_ptr + (row + offs_m[:, None]) * Q + offs_k[None, :], cb.to(cb_ptr.dtype.element_ty),
                     mask=(offs_m[:, None] < Q) & (offs_k[None, :] < Q))


@triton.jit
def _chunk_states(x_ptr, B_ptr, dtp_ptr, cs_ptr, init_ptr, enter_ptr, final_ptr,
                  L, H, P, N, nchunks, heads_per_group, n_pblocks, n_nblocks,
                  s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n,
                  Q: tl.constexpr, SPC: tl.constexpr, BL: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                  HAS_INIT: tl.constexpr, PREC: tl.constexpr, DOT_F32: tl.constexpr, I64: tl.constexpr):
    # one head's (p block x n block) of the state, carried over the blocks of positions in order
    pid = tl.program_id(0)
    dot_t = tl.float32 if DOT_F32 else x_ptr.dtype.element_ty
    h = pid % H
    r = pid // H
    pb = r % n_pblocks
    r = r // n_pblocks
    nb = r % n_nblocks
    b = r // n_nblocks
    if I64:
        b = b.to(tl.int64)
    g = h // heads_per_group
    offs_p = pb * BP + tl.arange(0, BP)
    offs_n = nb * BN + tl.arange(0, BN)
    ok_p = offs_p < P
    ok_n = offs_n < N
    ok_np = ok_n[:, None] & ok_p[None, :]
    # the state is (n, p) here; the initial and final states are (p, n)
    pn = (b * H + h) * P * N + offs_p[None, :] * N + offs_n[:, None]
    if HAS_INIT:
        E = tl.load(init_ptr + pn, mask=ok_np, other=0.0).to(tl.float32)
    else:
        E = tl.zeros((BN, BP), dtype=tl.float32)
    # a flat loop with no reductions, so the pipeliner runs loads ahead across chunk boundaries:
    # E <- exp(cs_end - cs_start) E + sum_l exp(cs_end - cs_l) dt_l B_l^T x_l, block by block
    for it in range(0, nchunks * SPC):
        c = it // SPC
        if I64:
            c = b * 0 + c  # int64 like b (the loop counter is a plain int in the interpreter)
        j = it % SPC
        tl.store(enter_ptr + (((b * nchunks + c) * H + h) * N + offs_n[:, None]) * P + offs_p[None, :],
                 E.to(enter_ptr.dtype.element_ty), mask=ok_n[:, None] & (offs_p[None, :] < tl.where(j == 0, P, 0)))
        offs_l = j * BL + tl.arange(0, BL)
        pos = c * Q + offs_l
        ok = (offs_l < Q) & (pos < L)
        base = ((b * H + h) * nchunks + c) * Q
        cs = tl.load(cs_ptr + base + offs_l, mask=offs_l < Q, other=0.0)
        dt = tl.load(dtp_ptr + base + offs_l, mask=offs_l < Q, other=0.0)
        cs_end = tl.load(cs_ptr + base + tl.minimum(j * BL + BL, Q) - 1)
        cs_start = tl.load(cs_ptr + base + j * BL - 1, mask=j > 0, other=0.0)
        w = tl.exp(cs_end - cs) * dt
        Bm = tl.load(B_ptr + b * s_B_b + pos[:, None] * s_B_l + g * s_B_g + offs_n[None, :] * s_B_n,
                     mask=ok[:, None] & ok_n[None, :], other=0.0)
        xl = tl.load(x_ptr + b * s_x_b + pos[:, None] * s_x_l + h * s_x_h + offs_p[None, :] * s_x_p,
                     mask=ok[:, None] & ok_p[None, :], other=0.0)
        Bw = (Bm.to(tl.float32) * w[:, None]).to(dot_t)
        E = tl.dot(tl.trans(Bw), xl.to(dot_t), E * tl.exp(cs_end - cs_start), input_precision=PREC)
    tl.store(final_ptr + pn, E, mask=ok_np)


@triton.jit
def _chunk_scan(x_ptr, C_ptr, dt_ptr, cs_ptr, enter_ptr, cb_ptr, D_ptr, y_ptr,
                L, H, G, P, N, nchunks, heads_per_group, n_pblocks, n_mblocks,
                s_x_b, s_x_l, s_x_h, s_x_p, s_C_b, s_C_l, s_C_g, s_C_n, s_y_b, s_y_l, s_y_h, s_y_p,
                Q: tl.constexpr, BM: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                HAS_D: tl.constexpr, PREC: tl.constexpr, DOT_F32: tl.constexpr, I64: tl.constexpr):
    # heads vary fastest, so the programs that read one chunk's C B^T run together (it stays in L2)
    pid = tl.program_id(0)
    h = pid % H
    r = pid // H
    pb = r % n_pblocks
    r = r // n_pblocks
    mb = r % n_mblocks
    bc = r // n_mblocks
    b = bc // nchunks
    c = bc % nchunks
    if I64:
        b = b.to(tl.int64)
        c = c.to(tl.int64)
    g = h // heads_per_group
    offs_m = mb * BM + tl.arange(0, BM)
    offs_p = pb * BP + tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    ok_p = offs_p < P
    ok_n = offs_n < N
    dot_t = tl.float32 if DOT_F32 else x_ptr.dtype.element_ty
    base = ((b * H + h) * nchunks + c) * Q
    pos_m = c * Q + offs_m
    ok_m = (offs_m < Q) & (pos_m < L)
    cs_m = tl.load(cs_ptr + base + offs_m, mask=offs_m < Q, other=0.0)
    # from the state entering the chunk: exp(cs_m) C_m E
    Cm = tl.load(C_ptr + b * s_C_b + pos_m[:, None] * s_C_l + g * s_C_g + offs_n[None, :] * s_C_n,
                 mask=ok_m[:, None] & ok_n[None, :], other=0.0)
    E = tl.load(enter_ptr + (((b * nchunks + c) * H + h) * N + offs_n[:, None]) * P + offs_p[None, :],
                mask=ok_n[:, None] & ok_p[None, :], other=0.0)
    # rows are scaled by exp(cs_m - cs_m0) once at the end (cs_m0: the block's first row), so the
    # tiles below the diagonal need only 1-D exponentials: exp(cs_m - cs_k) = exp(cs_m - cs_m0) exp(cs_m0 - cs_k),
    # both factors <= 1 when A < 0
    cs_m0 = tl.load(cs_ptr + base + mb * BM)
    acc = tl.dot(Cm.to(dot_t), E.to(dot_t), input_precision=PREC) * tl.exp(cs_m0)
    cb_row = (((b * nchunks + c) * G + g) * Q + offs_m[:, None]) * Q
    x_row = x_ptr + b * s_x_b + h * s_x_h + offs_p[None, :] * s_x_p
    for k0 in range(0, mb * BM, BM):
        offs_k = k0 + tl.arange(0, BM)
        cb = tl.load(cb_ptr + cb_row + offs_k[None, :], mask=(offs_m < Q)[:, None], other=0.0)
        v = tl.exp(cs_m0 - tl.load(cs_ptr + base + offs_k)) * tl.load(dt_ptr + base + offs_k)
        pos_k = c * Q + offs_k
        xk = tl.load(x_row + pos_k[:, None] * s_x_l, mask=(pos_k < L)[:, None] & ok_p[None, :], other=0.0)
        acc = tl.dot((cb.to(tl.float32) * v[None, :]).to(dot_t), xk.to(dot_t), acc, input_precision=PREC)
    acc = acc * tl.exp(cs_m - cs_m0)[:, None]
    ok_k = offs_m < Q
    cb = tl.load(cb_ptr + cb_row + offs_m[None, :], mask=ok_k[:, None] & ok_k[None, :], other=0.0)
    dt_k = tl.load(dt_ptr + base + offs_m, mask=ok_k, other=0.0)
    causal = offs_m[None, :] <= offs_m[:, None]
    # (C B^T above the diagonal may be unwritten when its tiles are smaller than these: select, not multiply)
    w = tl.where(causal, cb.to(tl.float32) * tl.exp(cs_m[:, None] - cs_m[None, :]) * dt_k[None, :],
                 0.0)
    xm = tl.load(x_row + pos_m[:, None] * s_x_l, mask=ok_m[:, None] & ok_p[None, :], other=0.0)
    acc = tl.dot(w.to(dot_t), xm.to(dot_t), acc, input_precision=PREC)
    if HAS_D:
        acc += tl.load(D_ptr + h).to(tl.float32) * xm.to(tl.float32)
    tl.store(y_ptr + b * s_y_b + pos_m[:, None] * s_y_l + h * s_y_h + offs_p[None, :] * s_y_p,
             acc.to(y_ptr.dtype.element_ty), mask=ok_m[:, None] & ok_p[None, :])


@dataclass(frozen=True)
class LaunchConfig:
    """Block sizes and launch options of the forward kernels.

    ``state_bl``: positions per step, ``state_bp`` / ``state_bn``: the block of the
    (p x n) state one ``_chunk_states`` program carries; ``cb_rows``: rows per
    ``C B^T`` tile; ``scan_bm``: rows (and positions per step) of ``_chunk_scan``,
    ``scan_bp`` its head-dim block; warps and pipeline stages per kernel. With at least
    ``large_programs`` state programs at ``state_bn_large`` (large batches), that block is used
    (with ``state_warps_large``): it reads x once per program instead of once per block of n.
    """

    state_bl: int = 64
    state_bp: int = 64
    state_bn: int = 32
    state_bn_large: int = 128
    large_programs: int = 512
    cb_rows: int = 64
    state_warps: int = 4
    state_warps_large: int = 4
    state_stages: int = 3
    scan_bm: int = 64
    scan_bp: int = 64
    scan_warps: int = 4
    scan_stages: int = 1


#: Configurations by input width: 16-bit inputs use tensor cores; fp32's exact products need smaller tiles.
_CONFIGS = {
    2: LaunchConfig(),
    4: LaunchConfig(state_bl=32, state_bp=32, state_bn=32, cb_rows=32, scan_bm=32, scan_bp=32),
}

#: Set by the tuning script (``benchmarks/tune_triton_ssd.py``) to try other configurations.
config_override: Optional[LaunchConfig] = None


def _span(t: torch.Tensor) -> int:
    """Elements from a tensor's first to its last (with its strides): the largest offset a kernel forms."""
    return 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))


def _pow2(n: int, lo: int = 16) -> int:
    return max(lo, triton.next_power_of_2(n))


@functools.lru_cache(maxsize=256)
def _clipped(cfg: LaunchConfig, Q: int, P: int, N: int) -> LaunchConfig:
    q, p, n = _pow2(Q), _pow2(P), _pow2(N)
    return replace(cfg, state_bl=min(cfg.state_bl, q), state_bp=min(cfg.state_bp, p), state_bn=min(cfg.state_bn, n),
                   state_bn_large=min(cfg.state_bn_large, n),
                   cb_rows=min(cfg.cb_rows, q), scan_bm=min(cfg.scan_bm, q), scan_bp=min(cfg.scan_bp, p))


def launch_config(dtype: torch.dtype, Q: int, P: int, N: int) -> LaunchConfig:
    """The block sizes for inputs of ``dtype`` with chunk ``Q``, head dim ``P``, state ``N``, clipped to them."""
    return _clipped(config_override or _CONFIGS[4 if dtype == torch.float32 else 2], Q, P, N)


Tensor = torch.Tensor


def _direct(kernel: Callable) -> Callable:
    return kernel


def ssd_forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                D: Optional[Tensor] = None, dt_bias: Optional[Tensor] = None, dt_softplus: bool = False,
                dt_limit: Tuple[float, float] = (0.0, math.inf), initial_state: Optional[Tensor] = None,
                return_final_state: bool = False, wrap: Callable[[Callable], Callable] = _direct
                ) -> Tuple[Tensor, Optional[Tensor]]:
    """The chunked SSD with the three kernels above; see :mod:`bambaprof.ssm.contract` for the shapes.

    Inputs are used in their dtype (bf16, fp16 or fp32; A, D, dt_bias any float);
    ``y`` has x's dtype, the final state is fp32. ``wrap`` is applied to each
    kernel before its launch (``torch.library.wrap_triton`` inside a custom op).
    """
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    Q = chunk_size
    nchunks = triton.cdiv(L, Q)
    dev = x.device
    f32 = torch.float32
    cfg = launch_config(x.dtype, Q, P, N)
    # the interpreter (CPU) multiplies 16-bit operands wrongly: there every product is fp32
    dot_f32 = x.dtype == f32 or dev.type != "cuda"
    prec = "ieee" if dot_f32 else "tf32"
    e = x.element_size()

    dtp = torch.empty(b, H, nchunks, Q, device=dev, dtype=f32)
    cs = torch.empty_like(dtp)
    half = torch.bfloat16 if x.dtype == torch.bfloat16 else f32  # dtype of the entering states and C B^T
    enter = torch.empty(b, nchunks, H, N, P, device=dev, dtype=half)
    final = torch.empty(b, H, P, N, device=dev, dtype=f32)
    cb = torch.empty(b, nchunks, G, Q, Q, device=dev, dtype=half)
    n_pb, nmb = triton.cdiv(P, cfg.state_bp), triton.cdiv(Q, cfg.cb_rows)
    bn, state_warps = cfg.state_bn, cfg.state_warps
    if b * H * n_pb * triton.cdiv(N, cfg.state_bn_large) >= cfg.large_programs:
        bn, state_warps = cfg.state_bn_large, cfg.state_warps_large
    n_nb = triton.cdiv(N, bn)
    tiles = nmb * (nmb + 1) // 2 * cfg.cb_rows ** 2
    has_init = initial_state is not None
    i64 = max(_span(t) for t in (x, dt, B, C, enter, cb)) >= 2 ** 31  # 32-bit offsets would overflow
    BH = 16
    n_hb = triton.cdiv(H, BH)
    n_dt = b * nchunks * n_hb
    io = ((B.numel() + C.numel()) * e + dt.numel() * dt.element_size() + 2 * dtp.numel() * 4
          + b * nchunks * G * tiles * cb.element_size())
    with phase("chunk_prep"), kernel_metadata("ssd_chunk_prep", io, 2 * b * nchunks * G * tiles * N, (dt, B, C)):
        wrap(_chunk_prep)[(n_dt + b * nchunks * G * nmb,)](
            x, dt, dt_bias if dt_bias is not None else A, A, B, C, dtp, cs, cb,
            L, H, G, N, nchunks, n_hb, n_dt, *dt.stride(), *B.stride(), *C.stride(),
            float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)),
            Q=Q, BQ=_pow2(Q), BH=BH, BM=cfg.cb_rows, BNC=_pow2(N),
            HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus), CLAMP=tuple(dt_limit) != (0.0, math.inf),
            PREC=prec, DOT_F32=dot_f32, I64=i64, num_warps=4)
    io = ((x.numel() + B.numel()) * e + 2 * dtp.numel() * 4 + enter.numel() * enter.element_size()
          + final.numel() * 4 * (2 if has_init else 1))
    with phase("chunk_states"), kernel_metadata("ssd_chunk_states", io, 2 * b * L * H * P * N, (x, B)):
        wrap(_chunk_states)[(b * H * n_pb * n_nb,)](
            x, B, dtp, cs, initial_state.to(f32).contiguous() if has_init else A, enter, final,
            L, H, P, N, nchunks, H // G, n_pb, n_nb, *x.stride(), *B.stride(),
            Q=Q, SPC=triton.cdiv(Q, cfg.state_bl), BL=cfg.state_bl, BP=cfg.state_bp, BN=bn,
            HAS_INIT=has_init, PREC=prec, DOT_F32=dot_f32, I64=i64, num_warps=state_warps, num_stages=cfg.state_stages)

    y = torch.empty_like(x)
    n_pb = triton.cdiv(P, cfg.scan_bp)
    n_mb = triton.cdiv(Q, cfg.scan_bm)
    causal = b * nchunks * H * sum(min((i + 1) * cfg.scan_bm, Q) for i in range(n_mb)) * cfg.scan_bm
    io = (2 * x.numel() * e + C.numel() * e + enter.numel() * enter.element_size() + 2 * dtp.numel() * 4
          + b * nchunks * G * tiles * cb.element_size())
    flops = 2 * b * L * H * N * P + 2 * causal * P
    with phase("chunk_scan"), kernel_metadata("ssd_chunk_scan", io, flops, (x, C)):
        wrap(_chunk_scan)[(H * n_pb * n_mb * b * nchunks,)](
            x, C, dtp, cs, enter, cb, D if D is not None else A, y, L, H, G, P, N, nchunks, H // G, n_pb, n_mb,
            *x.stride(), *C.stride(), *y.stride(),
            Q=Q, BM=cfg.scan_bm, BP=cfg.scan_bp, BN=_pow2(N), HAS_D=D is not None, PREC=prec, DOT_F32=dot_f32,
            I64=i64, num_warps=cfg.scan_warps, num_stages=cfg.scan_stages)
    return y, (final if return_final_state else None)


#: Head-dim block of the decode kernel: 32 keeps a (32 x n) fp32 state tile in registers without
#: spilling at n = 128 (``benchmarks/triton_resource_usage.py``) and gives twice the programs of 64.
DECODE_BP = 32


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


def ssd_decode(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor] = None,
               dt_bias: Optional[Tensor] = None, dt_softplus: bool = False,
               dt_limit: Tuple[float, float] = (0.0, math.inf), chunk_size: Optional[int] = None,
               position: Optional[int] = None, wrap: Callable[[Callable], Callable] = _direct
               ) -> Tuple[Tensor, Tensor]:
    """One token through the fused decode kernel: ``(y (b, h, p), new state (b, h, p, n) fp32)``."""
    b, H, P = x.shape
    G, N = B.shape[1], B.shape[2]
    xs, dts, Bs, Cs = x.contiguous(), dt.contiguous(), B.contiguous(), C.contiguous()
    st = state.to(torch.float32).contiguous()
    new = torch.empty_like(st)
    y = torch.empty_like(xs)
    BP = min(DECODE_BP, _pow2(P))
    BN = _pow2(N)
    with kernel_metadata("ssd_decode", 2 * st.numel() * 4 + 2 * xs.numel() * xs.element_size(), 4 * st.numel(), (st,)):
        wrap(_decode)[(b, H, triton.cdiv(P, BP))](
            st, xs, dts, A, Bs, Cs, D if D is not None else A, dt_bias if dt_bias is not None else A, y, new,
            H, P, N, H // G, float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)), BP=BP, BN=BN,
            HAS_D=D is not None, HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus),
            CLAMP=tuple(dt_limit) != (0.0, math.inf))
    return y, new
