"""The chunked SSD forward and the one-token decode step as Triton kernels (the ``triton`` variant).

The forward is two launches. Every kernel accumulates in fp32 and gives the
tensor cores operands in the input dtype (bf16 / fp16; fp32 inputs use exact
fp32 products, ``input_precision="ieee"``):

1. ``_chunk_prep`` (1-D grid, two kinds of program, all independent): per
   (batch, chunk, block of heads) ``dt' = clamp(softplus?(dt + bias))`` and its
   in-chunk cumulative sum ``cs`` of ``dt' A`` (positions past the sequence
   count 0), and the scan's hand-off counters set to zero; per (batch, chunk,
   group, block of rows) the tiles of ``C B^T`` on or below the diagonal,
   shared by the group's heads.
2. ``_chunk_scan``: one program per (batch, chunk, block of p, head), all
   chunks in parallel. Each computes its chunk's own state
   ``S = sum_l exp(cs_end - cs_l) dt'_l B_l^T x_l``, waits for the state ``E``
   entering its chunk from the program of the previous chunk (same batch,
   head and block of p: a chain), hands ``exp(cs_end) E + S`` to the next one
   (or writes it as the final state), then writes its outputs a block of rows
   at a time: ``y_l = exp(cs_l) C_l E + sum_(s<=l) (C_l . B_s) exp(cs_l - cs_s)
   dt'_s x_s + D x_l``. Tiles below the diagonal need only 1-D exponentials
   (the decay factorises through the block's first row) and scale x, so ``B``,
   ``C`` and ``C B^T`` reach the products as loaded; the diagonal tile is
   masked, and its x tile also serves the D skip.

The hand-off: states go through a two-slot fp32 ring per chain in global
memory; a counter per chain says which chunk's state is there (store, CTA
barrier, release; acquire, then a load from L2 with ``.cg``). Programs draw
tickets from a counter in the order they start and take their (batch, chunk,
...) from the ticket, batch slowest, then chunk, so a program only waits for
one that has already started: the waits cannot deadlock, whatever order the
hardware schedules programs in (and the interpreter's sequential order works
too). Batch before chunk keeps a chain's next program a chunk's worth of
tickets behind (not a chunk of every batch), so the ring's slots are read
back from L2 while still there: at 8 x 8192 chunk-slowest tickets left 64 MB
of ring slots in flight, and the scan moved twice its compulsory DRAM bytes.

Intermediate layouts: ``dt'`` and ``cs`` are ``(b, h, chunks, Q)`` fp32,
``C B^T`` ``(b, chunks, g, Q, Q)`` (bf16 for bf16 inputs, else fp32), the ring
``(chains, 2, BN, BP)`` fp32. Head ``h`` reads group ``h // (heads /
groups)``. Shapes follow :mod:`bambaprof.ssm.contract`. Each launch records the
bytes it must move (inputs read once, outputs written once; the ring's
traffic, mostly in L2, is not counted) and its FLOPs into profiler traces
(:mod:`bambaprof.ssm.kernels.metadata`).

Launch options come from :func:`launch_config`; ``benchmarks/tune_triton_ssd.py``
measures the alternatives on a GPU.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
import triton
import triton.language as tl

from ...ranges import phase, profiler_enabled
from . import launch, ssd_sm90
from .grid import cdiv, next_power_of_2, register_cap
from .launch import LaunchRecorder, direct, memo_of
from .metadata import kernel_metadata
from .tickets import ticket_work, wait_chain


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _chunk_prep(x_ptr, dt_ptr, bias_ptr, A_ptr, B_ptr, C_ptr, dtp_ptr, cs_ptr, cb_ptr, flag_ptr, ticket_ptr,
                L, H, G, N, nchunks, n_hblocks, n_dt_progs, n_pblocks,
                s_dt_b, s_dt_l, s_dt_h, s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n, dt_lo, dt_hi,
                Q: tl.constexpr, BQ: tl.constexpr, BH: tl.constexpr, BM: tl.constexpr, BNC: tl.constexpr,
                NPB: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, CLAMP: tl.constexpr, PREC: tl.constexpr,
                DOT_F32: tl.constexpr, I64: tl.constexpr, CB_TILES: tl.constexpr = False):
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
        # the scan's hand-off counters start at zero: one per chain (batch, head, p block), and the tickets
        if c == 0:
            chains = (b * n_pblocks + tl.arange(0, NPB)[None, :]) * H + offs_h[:, None]  # as _chunk_scan numbers them
            tl.store(flag_ptr + chains, tl.zeros((BH, NPB), dtype=tl.int32),
                     mask=(offs_h[:, None] < H) & (tl.arange(0, NPB)[None, :] < n_pblocks))
            if pid == 0:
                tl.store(ticket_ptr, 0)
    else:
        # rows [mb BM, (mb + 1) BM) of one chunk's C B^T for group g, tiles on or below the diagonal (CB_TILES:
        # one of those tiles, kb, so that no program makes more than one product)
        nmb = (Q + BM - 1) // BM
        r = pid - n_dt_progs
        if CB_TILES:
            t = r % (nmb * (nmb + 1) // 2)  # tiles in the order (0, 0), (1, 0), (1, 1), (2, 0), ...
            r = r // (nmb * (nmb + 1) // 2)
            mb = ((tl.sqrt(8.0 * t + 1.0) - 1.0) * 0.5).to(tl.int32)  # the row of triangular index t, corrected
            mb = tl.where((mb + 1) * (mb + 2) // 2 <= t, mb + 1, mb)  # for the square root's rounding
            mb = tl.where(mb * (mb + 1) // 2 > t, mb - 1, mb)
            k_first = (t - mb * (mb + 1) // 2) * BM
            k_end = k_first + BM
        else:
            mb = r % nmb
            r = r // nmb
            k_first = 0
            k_end = (mb + 1) * BM
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
        for k0 in range(k_first, k_end, BM):
            offs_k = k0 + tl.arange(0, BM)
            pos_k = c * Q + offs_k
            ok_k = (offs_k < Q) & (pos_k < L)
            Bk = tl.load(B_ptr + b * s_B_b + pos_k[:, None] * s_B_l + g * s_B_g + offs_nc[None, :] * s_B_n,
                         mask=ok_k[:, None] & ok_nc[None, :], other=0.0).to(dot_t)
            cb = tl.dot(Cm, tl.trans(Bk), input_precision=PREC)
            tl.store(cb_ptr + (row + offs_m[:, None]) * Q + offs_k[None, :], cb.to(cb_ptr.dtype.element_ty),
                     mask=(offs_m[:, None] < Q) & (offs_k[None, :] < Q))


@triton.jit
def _chunk_scan(x_ptr, B_ptr, C_ptr, dtp_ptr, cs_ptr, cb_ptr, D_ptr, init_ptr, ring_ptr, flag_ptr, ticket_ptr,
                y_ptr, final_ptr,
                L, H, G, P, N, nchunks, heads_per_group, n_pblocks,
                s_x_b, s_x_l, s_x_h, s_x_p, s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
                s_y_b, s_y_l, s_y_h, s_y_p,
                Q: tl.constexpr, BM: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                HAS_D: tl.constexpr, HAS_INIT: tl.constexpr, PREC: tl.constexpr, DOT_F32: tl.constexpr,
                I64: tl.constexpr):
    # One program: one chunk of one head (a block of BP of its head dim). Programs take tickets in the order
    # they start; ticket -> (batch, chunk, p block, head), batch slowest, so the program a chunk waits for
    # (same chain, chunk - 1) holds a smaller ticket: it has started and never waits on this one (no deadlock).
    b, c, pb, h = ticket_work(ticket_ptr, H, n_pblocks, nchunks, I64)
    g = h // heads_per_group
    dot_t = tl.float32 if DOT_F32 else x_ptr.dtype.element_ty
    offs_p = pb * BP + tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    ok_p = offs_p < P
    ok_n = offs_n < N
    base = ((b * H + h) * nchunks + c) * Q  # the chunk's rows of dt' and cs
    x_h = x_ptr + b * s_x_b + h * s_x_h + offs_p[None, :] * s_x_p
    cs_end = tl.load(cs_ptr + base + Q - 1)  # positions past L have dt' = 0, so this is the last one's
    # 1. the chunk's own state, S = sum_l exp(cs_end - cs_l) dt'_l B_l^T x_l, (n x p); the weights scale x, so
    # B goes to the product as loaded
    S = tl.zeros((BN, BP), dtype=tl.float32)
    for k0 in range(0, Q, BM):
        offs_k = k0 + tl.arange(0, BM)
        pos_k = c * Q + offs_k
        ok_k = (offs_k < Q) & (pos_k < L)
        w = tl.exp(cs_end - tl.load(cs_ptr + base + offs_k, mask=offs_k < Q, other=0.0)) \
            * tl.load(dtp_ptr + base + offs_k, mask=offs_k < Q, other=0.0)
        Bk = tl.load(B_ptr + b * s_B_b + pos_k[:, None] * s_B_l + g * s_B_g + offs_n[None, :] * s_B_n,
                     mask=ok_k[:, None] & ok_n[None, :], other=0.0)
        xk = tl.load(x_h + pos_k[:, None] * s_x_l, mask=ok_k[:, None] & ok_p[None, :], other=0.0)
        S = tl.dot(tl.trans(Bk.to(dot_t)), (xk.to(tl.float32) * w[:, None]).to(dot_t), S, input_precision=PREC)
    # 2. the state entering the chunk, from the chain's previous chunk (or the initial state), and the one
    # leaving it, E' = exp(cs_end) E + S, handed to the next chunk through a two-slot ring in global memory.
    # The ring holds each chain's (BN x BP) slots whole (padding included), so its offsets are a scalar plus a
    # compile-time pattern; the initial and final states are (b, h, p, n): (BP x BN) tiles, contiguous along n.
    chain = (b * n_pblocks + pb) * H + h
    ring = ring_ptr + chain * 2 * BN * BP + offs_n[:, None] * BP + tl.arange(0, BP)[None, :]
    pn = (b * H + h) * P * N + offs_p[:, None] * N + offs_n[None, :]
    ok_pn = ok_p[:, None] & ok_n[None, :]
    if c == 0:
        if HAS_INIT:
            E = tl.trans(tl.load(init_ptr + pn, mask=ok_pn, other=0.0).to(tl.float32))
        else:
            E = tl.zeros((BN, BP), dtype=tl.float32)
    else:
        wait_chain(flag_ptr, chain, c)
        # .cg: from L2, never a stale line of this SM's L1 (slots are reused every other chunk)
        E = tl.load(ring + (c % 2) * BN * BP, cache_modifier=".cg")
    Ed = E.to(dot_t)
    E = E * tl.exp(cs_end) + S
    if c + 1 < nchunks:
        tl.store(ring + ((c + 1) % 2) * BN * BP, E)
        tl.debug_barrier()  # every thread's part is stored before the flag says so
        tl.atomic_xchg(flag_ptr + chain, (c + 1).to(tl.int32), sem="release")
    else:
        tl.store(final_ptr + pn, tl.trans(E), mask=ok_pn)
    # 3. the chunk's outputs, a block of BM rows at a time:
    # y_l = exp(cs_l) C_l E + sum_(s<=l) (C_l . B_s) exp(cs_l - cs_s) dt'_s x_s + D x_l
    for m0 in range(0, Q, BM):
        offs_m = m0 + tl.arange(0, BM)
        pos_m = c * Q + offs_m
        ok_q = offs_m < Q
        ok_m = ok_q & (pos_m < L)
        cs_m = tl.load(cs_ptr + base + offs_m, mask=ok_q, other=0.0)
        Cm = tl.load(C_ptr + b * s_C_b + pos_m[:, None] * s_C_l + g * s_C_g + offs_n[None, :] * s_C_n,
                     mask=ok_m[:, None] & ok_n[None, :], other=0.0)
        # rows are scaled by exp(cs_m - cs_m0) once at the end (cs_m0: the block's first row), so the tiles
        # below the diagonal need only a factor per position, on x: exp(cs_m - cs_k) = exp(cs_m - cs_m0)
        # exp(cs_m0 - cs_k), both <= 1 when A < 0; C B^T goes to the product as loaded
        cs_m0 = tl.load(cs_ptr + base + m0)
        acc = tl.dot(Cm.to(dot_t), Ed, input_precision=PREC) * tl.exp(cs_m0)
        cb_row = (((b * nchunks + c) * G + g) * Q + offs_m[:, None]) * Q
        for k0 in range(0, m0, BM):
            offs_k = k0 + tl.arange(0, BM)
            cb = tl.load(cb_ptr + cb_row + offs_k[None, :], mask=ok_q[:, None], other=0.0)
            v = tl.exp(cs_m0 - tl.load(cs_ptr + base + offs_k)) * tl.load(dtp_ptr + base + offs_k)
            pos_k = c * Q + offs_k
            xk = tl.load(x_h + pos_k[:, None] * s_x_l, mask=(pos_k < L)[:, None] & ok_p[None, :], other=0.0)
            acc = tl.dot(cb.to(dot_t), (xk.to(tl.float32) * v[:, None]).to(dot_t), acc, input_precision=PREC)
        acc = acc * tl.exp(cs_m - cs_m0)[:, None]
        # the diagonal tile, with its 2-D decay
        cb = tl.load(cb_ptr + cb_row + offs_m[None, :], mask=ok_q[:, None] & ok_q[None, :], other=0.0)
        dt_m = tl.load(dtp_ptr + base + offs_m, mask=ok_q, other=0.0)
        causal = offs_m[None, :] <= offs_m[:, None]
        # (C B^T above the diagonal may be unwritten when its tiles are smaller than these: select, not multiply)
        w = tl.where(causal, cb.to(tl.float32) * tl.exp(cs_m[:, None] - cs_m[None, :]) * dt_m[None, :], 0.0)
        xm = tl.load(x_h + pos_m[:, None] * s_x_l, mask=ok_m[:, None] & ok_p[None, :], other=0.0)
        acc = tl.dot(w.to(dot_t), xm.to(dot_t), acc, input_precision=PREC)
        if HAS_D:
            acc += tl.load(D_ptr + h).to(tl.float32) * xm.to(tl.float32)
        tl.store(y_ptr + b * s_y_b + pos_m[:, None] * s_y_l + h * s_y_h + offs_p[None, :] * s_y_p,
                 acc.to(y_ptr.dtype.element_ty), mask=ok_m[:, None] & ok_p[None, :])


@dataclass(frozen=True)
class LaunchConfig:
    """Block sizes and launch options of the forward kernels.

    ``cb_rows``: rows per ``C B^T`` tile of ``_chunk_prep``; ``scan_bm``: rows of y (and positions of
    the state update) per step of ``_chunk_scan``, ``scan_bp`` its head-dim block (each block of p is
    its own chain of states); warps and pipeline stages of ``_chunk_scan``. ``chunk``: the kernels' own
    chunk length, which tiles the model's chunk when it divides it (None: the model's chunk). The SSD is
    exact whatever the chunk, so only rounding and the work split change: a shorter chunk does fewer
    intra-chunk products and makes more programs, and lengthens each chain of state hand-offs (at Bamba-9B's shapes
    on Hopper, 128 and 64 were slower than the model's 256 for the Triton and the Gluon scans alike:
    ``h200-ssd-kernel-chunk.json``, ``h100-ssd-gluon-kernel-chunk.json``).
    ``scan_kernel``: ``"triton"`` (``_chunk_scan`` everywhere), one of ``ssd_sm90.FORMS`` (the Hopper chunk scan
    where it serves the inputs, H100/H200 and bf16; ``_chunk_scan`` elsewhere, with the options above), or
    ``"auto"`` (:func:`auto_scan`: a Gluon form where the scan has at least :data:`EAGER_GLUON_PROGRAMS` programs,
    a CUDA graph is being captured or the launch shortcut keeps whole forwards, else ``"triton"``): the Gluon scan
    takes less GPU time at every shape, but its launch costs 30 to 120 us more host time a forward (four TMA
    descriptors), which an eager forward at small shapes, bound by its host, pays in wall time, a graph once, and a
    forward launched whole from the shortcut's memo not at all.
    ``cb_tiles``: ``_chunk_prep`` makes each ``C B^T`` tile in a program of its own instead of a row of tiles
    in one (at most one product a program instead of ``Q / cb_rows``: a shorter longest program where there are
    few chunks; the same work and more programs elsewhere); None: where a row a program would make fewer than
    ``prep_programs`` programs. ``prep_bh``: heads one ``_chunk_prep`` dt' program covers at most (its cumulative
    sums run over the chunk, one a head), halved down to :data:`PREP_MIN_BH` where there would be fewer than
    ``prep_programs`` dt' programs (a forward of few chunks, bound by one program's latency; elsewhere 16 heads
    make each row of dt that a program reads one 32-byte sector); ``prep_warps``: ``_chunk_prep``'s warps.
    """

    cb_rows: int = 64
    scan_bm: int = 64
    scan_bp: int = 64
    scan_warps: int = 4
    scan_stages: int = 1
    scan_maxnreg: Optional[int] = 168
    chunk: Optional[int] = None
    scan_kernel: str = "auto"
    cb_tiles: Optional[bool] = None
    prep_bh: int = 16
    prep_warps: int = 4
    prep_programs: int = 64


#: The Gluon form ``scan_kernel="auto"`` runs (see :func:`auto_scan` for where): ``gluon_ordered`` (the
#: three-programs-an-SM kernel of ``gluon_slim`` with x's tiles weighted once for the tiles below the diagonal, as
#: ``gluon_scaled``, each program taking its work from its index in the launch instead of a ticket's atomic; see
#: :func:`.ssd_sm90_slim._work` for what that relies on). Side by side with ``gluon_scaled`` on an H100 SXM
#: (2026-12-06, ``benchmarks/results/h100-bench-ssd-gluon-ordered.json``, kernel us, ordered / scaled): 1x512 27.8 /
#: 30.0, 1x2048 81.5 / 84.5, 1x8192 270.5 / 278.6, 8x2048 525.4 / 536.8, 8x8192 2171.8 / 2121.3 (the clocks held
#: down to 1740 against 1965 MHz in the ordered row), outputs equal bit for bit. Until then ``auto`` ran
#: ``gluon_scaled`` from 1,024 programs and ``gluon_late`` below (in a CUDA graph), where ``gluon_scaled`` took 0.95x
#: ``gluon_late``'s kernel time at 1 x 2048 and ``gluon_ordered`` 0.93x at 1 x 512; before that ``gluon_slim`` from
#: 4,096 programs (``h100-bench-ssd-gluon-scaled.json``, ``-2.json``; the log has each step).
AUTO_FORM = "gluon_ordered"
#: Programs of the chunk scan (batch x chunks x heads x head-dim blocks) from which ``auto`` runs the Gluon scan
#: eagerly too; below, the Triton scan, whose launch costs less host time. Where the host is the bound (an eager
#: forward at 1x512), that host time is the forward's wall time; from 1x2048 a mixer's GPU time covers it. Side by
#: side on an H200 (2026-12-05, ``benchmarks/eager_scan_mixer.py``, ``h200-eager-scan.json``; ms, Triton scan /
#: ``gluon_slim`` / ``gluon_late``): four Bamba-9B mixers one after another, wall, 1x512 (256 programs) 1.325 /
#: 1.631 / 1.542, 1x2048 (1,024) 2.998 / 3.030 / 2.966, 1x8192 12.11 / 11.92 / 11.92; their GPU kernel time at 1x2048
#: 2.988 / 2.826 / 2.875. The core alone, synchronised after each call, still loses wall time with the Gluon scan
#: at 1x2048 (0.203 / 0.246 / 0.226 ms), which a model does not do. Again on an H100 SXM with ``gluon_ordered``
#: (2026-12-06, ``h100-eager-scan-split.json``): 1x512 1.322 / 1.578 ms, 1x2048 3.069 / 2.900 (Triton scan / Gluon).
#: With whole forwards kept (the shortcut's default since then) the rule gives way: ``auto`` runs the Gluon scan
#: eagerly at every size (``h100-launch-memo.json``: four mixers at 1x512, 1.695 / 1.402 and 1.094 / 1.082 ms).
EAGER_GLUON_PROGRAMS = 1024


def auto_scan(programs: int, capturing: bool, kept_forwards: bool = False) -> str:
    """The chunk scan ``scan_kernel="auto"`` runs for a forward of ``programs`` scan programs (batch x chunks x
    heads x head-dim blocks): eagerly below :data:`EAGER_GLUON_PROGRAMS` programs ``"triton"`` (the Gluon launch's
    host time would be the forward's), unless ``kept_forwards``; otherwise the Gluon form :data:`AUTO_FORM`: always
    inside a CUDA graph being captured (a graph pays the launch once), and eagerly at every size where the launch
    shortcut keeps whole forwards (``kept_forwards``: :class:`.launch.LaunchMemo` in use), which repeat a forward's
    launches without their Python, so that the Gluon launch costs no more host time than the Triton scan's."""
    if programs < EAGER_GLUON_PROGRAMS and not capturing and not kept_forwards:
        return "triton"
    return AUTO_FORM


#: Configurations by input width: 16-bit inputs use tensor cores; fp32's exact products need smaller tiles.
_CONFIGS = {
    2: LaunchConfig(),
    4: LaunchConfig(cb_rows=32, scan_bm=32, scan_bp=32, scan_maxnreg=None),
}

#: Set by the tuning script (``benchmarks/tune_triton_ssd.py``) to try other configurations.
config_override: Optional[LaunchConfig] = None


def _span(t: torch.Tensor) -> int:
    """Elements from a tensor's first to its last (with its strides): the largest offset a kernel forms."""
    return 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))


def _pow2(n: int, lo: int = 16) -> int:
    return max(lo, next_power_of_2(n))


@functools.lru_cache(maxsize=256)
def _clipped(cfg: LaunchConfig, Q: int, P: int) -> LaunchConfig:
    q, p = _pow2(Q), _pow2(P)
    return replace(cfg, cb_rows=min(cfg.cb_rows, q), scan_bm=min(cfg.scan_bm, q), scan_bp=min(cfg.scan_bp, p),
                   chunk=Q)


#: The environment variable that picks the forward's chunk scan (:func:`parse_scan`): ``auto``, ``triton``
#: (``_chunk_scan`` everywhere) or a form of ``ssd_sm90.FORMS`` (where it serves the inputs), each optionally with
#: the kernels' own chunk after a colon (``gluon_late:128``); unset, ``LaunchConfig``'s defaults.
SCAN_ENV = "BAMBAPROF_SSD_SCAN"

#: The kernels' own chunk a scan setting may name is a multiple of this (positions).
CHUNK_STEP = 16


def scan_names() -> List[str]:
    """Every chunk scan a setting may name: ``auto``, ``triton`` and the forms of ``ssd_sm90.FORMS``."""
    return ["auto", "triton", *sorted(ssd_sm90.FORMS)]


def parse_scan(value: str, label: str) -> str:
    """A chunk-scan setting, ``NAME`` or ``NAME:CHUNK``, normalised (case and spaces dropped): ``NAME`` one of
    :func:`scan_names`, ``CHUNK`` the kernels' own chunk (positions, a positive multiple of :data:`CHUNK_STEP`),
    which replaces the model's where it divides it (:func:`kernel_chunk`; elsewhere the model's chunk is used).

    Raises ValueError whose message starts with ``label`` (where the setting came from, e.g. ``--scan 'x'``)."""
    name, colon, chunk = value.strip().lower().partition(":")
    name, chunk = name.strip(), chunk.strip()
    if name not in scan_names():
        raise ValueError(f"{label} is not a chunk scan: use auto, triton or one of {', '.join(sorted(ssd_sm90.FORMS))}"
                         f" (optionally with the kernels' chunk after a colon, e.g. {AUTO_FORM}:128)")
    if not colon:
        return name
    if not (chunk.isdigit() and int(chunk) > 0 and int(chunk) % CHUNK_STEP == 0):
        raise ValueError(f"{label} names a kernel chunk that is not a positive multiple of {CHUNK_STEP} "
                         f"(positions; e.g. {name}:128)")
    return f"{name}:{int(chunk)}"


@functools.lru_cache(maxsize=None)
def scan_kernel_from_env() -> Optional[str]:
    """The chunk-scan setting ``BAMBAPROF_SSD_SCAN`` holds, normalised by :func:`parse_scan` (read once a process),
    None where it is unset or empty.

    Raises ValueError for a setting that names no scan or a kernel chunk that is not one."""
    value = os.environ.get(SCAN_ENV, "").strip()
    return parse_scan(value, f"{SCAN_ENV}={value.lower()!r}") if value else None


#: A chunk-scan setting (as :func:`parse_scan` returns it) that wins over ``BAMBAPROF_SSD_SCAN`` (None: that setting,
#: or the default), set for the length of a call by :func:`bambaprof.bench.scans.scan_variant` so that ``bench ssd
#: --scan`` times several in one process; the rest of the launch options stay those of the inputs' dtype.
scan_override: Optional[str] = None


@functools.lru_cache(maxsize=64)
def _with_scan(cfg: LaunchConfig, setting: str) -> LaunchConfig:
    """``cfg`` running the scan of a normalised setting (``NAME`` or ``NAME:CHUNK``), on its kernel chunk if named."""
    name, _, chunk = setting.partition(":")
    return replace(cfg, scan_kernel=name, chunk=int(chunk) if chunk else cfg.chunk)


def launch_config(dtype: torch.dtype, Q: int, P: int) -> LaunchConfig:
    """The launch options for inputs of ``dtype`` with the model's chunk ``Q`` and head dim ``P``: the kernels'
    chunk (``chunk``) set to the one they use, blocks clipped to it, the scan (and kernel chunk) named by
    :data:`scan_override` or else ``BAMBAPROF_SSD_SCAN`` where one is set (``config_override``, the tuning
    script's, wins over all)."""
    cfg = config_override
    if cfg is None:
        cfg = _CONFIGS[4 if dtype == torch.float32 else 2]
        setting = scan_override or scan_kernel_from_env()
        if setting is not None:
            cfg = _with_scan(cfg, setting)
    return _clipped(cfg, kernel_chunk(cfg, Q), P)


def kernel_chunk(cfg: LaunchConfig, Q: int) -> int:
    """The chunk length the kernels use for the model's chunk ``Q``: ``cfg.chunk`` where it divides ``Q``."""
    return cfg.chunk if cfg.chunk and cfg.chunk < Q and Q % cfg.chunk == 0 else Q


Tensor = torch.Tensor


class _ForwardPlan(NamedTuple):
    """What a forward's launches need that its shapes and launch configuration decide (grids, blocks,
    buffer shapes, the bytes and FLOPs each kernel records); made once per distinct shape."""

    cfg: LaunchConfig
    nchunks: int
    dot_f32: bool
    prec: str
    cb_dtype: torch.dtype
    n_pb: int
    n_hb: int
    bq: int  # blocks over the chunk, the state and the p blocks: powers of two, at least 16 (1 for p blocks)
    bn: int
    npb: int
    n_dt: int
    prep_bh: int  # heads a dt' program covers
    cb_tiles: bool  # a C B^T tile a prep program (else a row of tiles)
    prep_grid: Tuple[int]
    scan_grid: Tuple[int]
    ring_shape: Tuple[int, int, int, int]
    buffers_i64: bool  # the C B^T or ring buffer is too large for 32-bit offsets
    prep_io: int
    prep_flops: int
    scan_io: int
    scan_flops: int
    fused_io: int  # gluon_fused's one launch: both kernels' bytes but dt' and cs (written, then read back)


#: The fewest heads a ``_chunk_prep`` dt' program covers where ``LaunchConfig.prep_bh`` is halved for few chunks.
PREP_MIN_BH = 4


def _prep_heads(cfg: LaunchConfig, chunks: int, H: int) -> int:
    """Heads a dt' program covers for ``chunks`` chunks (over the batch) of ``H`` heads: ``cfg.prep_bh``, halved
    while that makes fewer than ``cfg.prep_programs`` programs, down to :data:`PREP_MIN_BH` (not below a smaller
    ``prep_bh``). With Bamba-9B's 128 heads, 1x512 (2 chunks) gets 4 heads a program (64 programs) and 1x2048 on 16.
    On an H100 the prep then took 3.2 us at 1x512 against 5.0 with 16 heads (the forward 25.8 against 27.4 us); at
    larger shapes fewer heads were slower (each row of dt a program reads fills less of a sector:
    ``benchmarks/results/h100-prep-forms.json``)."""
    bh = cfg.prep_bh
    while bh > PREP_MIN_BH and chunks * cdiv(H, bh) < cfg.prep_programs:
        bh //= 2
    return bh


@functools.lru_cache(maxsize=1024)
def _forward_plan(b: int, L: int, H: int, P: int, G: int, N: int, Q: int, dtype: torch.dtype, dt_size: int,
                  on_cuda: bool, has_init: bool, cfg: LaunchConfig) -> _ForwardPlan:
    nchunks = cdiv(L, Q)
    # the interpreter (CPU) multiplies 16-bit operands wrongly: there every product is fp32
    dot_f32 = dtype == torch.float32 or not on_cuda
    cb_dtype = torch.bfloat16 if dtype == torch.bfloat16 else torch.float32  # dtype of C B^T
    e = dtype.itemsize
    n_pb = cdiv(P, cfg.scan_bp)
    nmb = cdiv(Q, cfg.cb_rows)
    cb_tiles = cfg.cb_tiles if cfg.cb_tiles is not None else b * nchunks * G * nmb < cfg.prep_programs
    cb_programs = nmb * (nmb + 1) // 2 if cb_tiles else nmb  # per (batch, chunk, group)
    tiles = nmb * (nmb + 1) // 2 * cfg.cb_rows ** 2
    bn = _pow2(N)
    ring_shape = (b * n_pb * H, 2, bn, cfg.scan_bp)
    prep_bh = _prep_heads(cfg, b * nchunks, H)
    n_hb = cdiv(H, prep_bh)
    n_dt = b * nchunks * n_hb
    bc = 2 * b * L * G * N  # elements of B and C
    dtp = b * H * nchunks * Q  # elements of dt' (and of cs)
    cb_bytes = b * nchunks * G * tiles * cb_dtype.itemsize
    bm = cfg.scan_bm
    causal = b * nchunks * H * sum(min((i + 1) * bm, Q) for i in range(cdiv(Q, bm))) * bm
    prep_io = bc * e + b * L * H * dt_size + 2 * dtp * 4 + cb_bytes
    scan_io = (2 * b * L * H * P + bc) * e + 2 * dtp * 4 + cb_bytes + b * H * P * N * 4 * (2 if has_init else 1)
    return _ForwardPlan(
        cfg=cfg, nchunks=nchunks, dot_f32=dot_f32, prec="ieee" if dot_f32 else "tf32", cb_dtype=cb_dtype,
        n_pb=n_pb, n_hb=n_hb, bq=_pow2(Q), bn=bn, npb=next_power_of_2(n_pb), n_dt=n_dt, prep_bh=prep_bh,
        cb_tiles=cb_tiles,
        prep_grid=(n_dt + b * nchunks * G * cb_programs,),
        scan_grid=(nchunks * b * n_pb * H,), ring_shape=ring_shape,
        buffers_i64=max(b * nchunks * G * Q * Q, math.prod(ring_shape)) >= 2 ** 31,
        prep_io=prep_io,
        prep_flops=2 * b * nchunks * G * tiles * N,
        scan_io=scan_io,
        scan_flops=4 * b * L * H * N * P + 2 * causal * P,
        fused_io=prep_io + scan_io - 2 * (2 * dtp * 4),  # dt' and cs neither written nor read back
    )


def ssd_forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                D: Optional[Tensor] = None, dt_bias: Optional[Tensor] = None, dt_softplus: bool = False,
                dt_limit: Tuple[float, float] = (0.0, math.inf), initial_state: Optional[Tensor] = None,
                return_final_state: bool = False, wrap: Callable[[Callable], Callable] = direct
                ) -> Tuple[Tensor, Optional[Tensor]]:
    """The chunked SSD with the two kernels above; see :mod:`bambaprof.ssm.contract` for the shapes.

    Inputs are used in their dtype (bf16, fp16 or fp32; A, D, dt_bias any float);
    ``y`` has x's dtype, the final state is fp32. ``wrap`` is applied to each
    kernel before its launch (``torch.library.wrap_triton`` inside a custom op).
    """
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    dev = x.device
    f32 = torch.float32
    has_init = initial_state is not None
    cfg = launch_config(x.dtype, chunk_size, P)
    Q = cfg.chunk or chunk_size  # the kernels' chunk: the model's, or a length that tiles it
    plan = _forward_plan(b, L, H, P, G, N, Q, x.dtype, dt.element_size(), dev.type == "cuda", has_init, cfg)
    nchunks = plan.nchunks

    # an eager forward whose tensors and settings all repeat an earlier one's launches what that one launched
    memo = memo_of(_chunk_prep) if wrap is direct and x.is_cuda else None
    scan = cfg.scan_kernel
    if scan == "auto":  # the Gluon scan's launch costs host time an eager forward pays, a graph once
        scan = auto_scan(b * nchunks * H * plan.n_pb, x.is_cuda and torch.cuda.is_current_stream_capturing(),
                         memo is not None)
    if profiler_enabled():  # the same scan, launched in full under its ranges and byte counts
        memo = None
    form = ssd_sm90.FORMS.get(scan)
    shapes = ssd_sm90.tma_shapes(x, B, C, Q) if form is not None and cfg.scan_bp == ssd_sm90.BLOCK else None
    fused = shapes is not None and bool(form.get("fused"))  # gluon_fused: the prep's work in the scan's launch

    cb = torch.empty(b, nchunks, G, Q, Q, device=dev, dtype=plan.cb_dtype)
    final = torch.empty(b, H, P, N, device=dev, dtype=f32)
    # the states handed from chunk to chunk: two (state x p block) slots per chain, padded to the blocks
    ring = torch.empty(plan.ring_shape, device=dev, dtype=f32)
    y = torch.empty_like(x)
    init = initial_state.to(f32).contiguous() if has_init else None
    if fused:  # no dt', cs, flags or ticket: the counters come zeroed, kept per stream for eager launches
        from .ssd_sm90_fused import fused_chunk_scan, zeroed_counters

        keep = wrap is direct and not torch.cuda.is_current_stream_capturing()  # eager, not traced or captured
        chains = zeroed_counters(dev, b * H * plan.n_pb, "chains", keep)
        tiles = zeroed_counters(dev, 2 * b * nchunks * G, "tiles", keep)
        made: tuple = (cb, final, chains, tiles, ring, y)  # the counters' addresses key the memo: a kept buffer
        # that grew was freed, and a launch recorded on it must not replay
    else:
        dtp = torch.empty(b, H, nchunks, Q, device=dev, dtype=f32)
        cs = torch.empty_like(dtp)
        # the ticket counter and a hand-off counter per chain (zeroed by _chunk_prep), as two tensors, not views
        # of one: under torch.compile, functionalization clones each mutated argument and copies it back, and
        # views of one buffer would be copied back over each other (the compiled forward hung without CUDA graphs)
        flags = torch.empty(b * H * plan.n_pb, device=dev, dtype=torch.int32)
        ticket = torch.empty(1, device=dev, dtype=torch.int32)
        made = (dtp, cs, cb, final, flags, ticket, ring, y)
    i64 = plan.buffers_i64 or _span(x) >= 2 ** 31 or _span(dt) >= 2 ** 31 or _span(B) >= 2 ** 31 \
        or _span(C) >= 2 ** 31  # 32-bit offsets would overflow
    key: Optional[tuple] = None
    recorder: Optional[LaunchRecorder] = None
    if memo is not None:
        key = _forward_key((x, dt, A, B, C, D if D is not None else A, dt_bias if dt_bias is not None else A,
                            init if init is not None else A) + made,
                           (D is None, dt_bias is None, has_init, cfg, scan, i64, bool(dt_softplus),
                            float(dt_limit[0]), float(dt_limit[1])))
        if key is not None:
            if memo.run(key):
                return y, (final if return_final_state else None)
            wrap = recorder = memo.recorder()
    if fused:
        with phase("chunk_scan"), kernel_metadata("ssd_chunk_scan", plan.fused_io,
                                                  plan.prep_flops + plan.scan_flops, (x, B, C)):
            fused_chunk_scan(x, dt, dt_bias, A, B, C, D, init, ring, chains, tiles, cb, y, final, Q, plan.n_pb, i64,
                             wrap, bool(dt_softplus), dt_limit, shapes, diag_first=bool(form.get("diag_first")))
    else:
        with phase("chunk_prep"), kernel_metadata("ssd_chunk_prep", plan.prep_io, plan.prep_flops, (dt, B, C)):
            wrap(_chunk_prep)[plan.prep_grid](
                x, dt, dt_bias if dt_bias is not None else A, A, B, C, dtp, cs, cb, flags, ticket,
                L, H, G, N, nchunks, plan.n_hb, plan.n_dt, plan.n_pb, *dt.stride(), *B.stride(), *C.stride(),
                float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)),
                Q=Q, BQ=plan.bq, BH=plan.prep_bh, BM=cfg.cb_rows, BNC=plan.bn, NPB=plan.npb,
                HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus), CLAMP=tuple(dt_limit) != (0.0, math.inf),
                PREC=plan.prec, DOT_F32=plan.dot_f32, I64=i64, CB_TILES=plan.cb_tiles, num_warps=cfg.prep_warps)

        with phase("chunk_scan"), kernel_metadata("ssd_chunk_scan", plan.scan_io, plan.scan_flops, (x, B, C)):
            if shapes is not None:
                ssd_sm90.chunk_scan(x, B, C, dtp, cs, cb, D, init, ring, flags, ticket, y, final, Q, plan.n_pb, i64,
                                    wrap, shapes=shapes, **form)
            else:
                wrap(_chunk_scan)[plan.scan_grid](
                    x, B, C, dtp, cs, cb, D if D is not None else A,
                    init if init is not None else A, ring, flags, ticket, y, final,
                    L, H, G, P, N, nchunks, H // G, plan.n_pb, *x.stride(), *B.stride(), *C.stride(), *y.stride(),
                    Q=Q, BM=cfg.scan_bm, BP=cfg.scan_bp, BN=plan.bn, HAS_D=D is not None, HAS_INIT=has_init,
                    PREC=plan.prec, DOT_F32=plan.dot_f32, I64=i64, num_warps=cfg.scan_warps, num_stages=cfg.scan_stages,
                    **register_cap(cfg.scan_maxnreg))
    if memo is not None and key is not None and recorder is not None:
        memo.keep(key, recorder)
    return y, (final if return_final_state else None)


def _forward_key(tensors: tuple, settings: tuple) -> Optional[tuple]:
    """What an eager :func:`ssd_forward`'s launches depend on beyond its plan (see :class:`.launch.LaunchMemo`):
    the current device; each tensor's address (the inputs x, dt, A, B, C, D, ``dt_bias`` and the fp32 initial
    state, with A standing in for one absent, then the buffers the forward made, y last) and the first seven's
    dtypes (the buffers' follow from them and the plan), the shapes and strides the launches read
    (x's, B's and C's shapes; x's, dt's, B's, C's and y's strides); ``settings`` (which of those were absent, the
    launch configuration, the scan that runs, 64-bit offsets, dt's softplus and limits). None where a tensor is
    not a plain one (fake or functional tensors while tracing)."""
    if not launch._TENSOR_TYPES.issuperset(map(type, tensors)):
        return None
    x, dt, _, B, C = tensors[:5]
    return (launch.current_device(), tuple(map(launch._data_ptr, tensors)), tuple(map(launch._dtype, tensors[:7])),
            x.shape, x.stride(), dt.stride(), B.shape, B.stride(), C.shape, C.stride(), tensors[-1].stride(), settings)


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
               position: Optional[int] = None, wrap: Callable[[Callable], Callable] = direct
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
        wrap(_decode)[(b, H, cdiv(P, BP))](
            st, xs, dts, A, Bs, Cs, D if D is not None else A, dt_bias if dt_bias is not None else A, y, new,
            H, P, N, H // G, float(dt_limit[0]), float(min(dt_limit[1], 3.0e38)), BP=BP, BN=BN,
            HAS_D=D is not None, HAS_BIAS=dt_bias is not None, SOFTPLUS=bool(dt_softplus),
            CLAMP=tuple(dt_limit) != (0.0, math.inf))
    return y, new
