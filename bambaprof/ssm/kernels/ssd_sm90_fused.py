"""The whole SSD forward in one launch on Hopper (the form ``gluon_fused``): ``gluon_ordered``'s chunk scan with the
prep kernel's work folded into it, so that no ``_chunk_prep`` runs before it.

``_chunk_prep`` does two things the scan reads: each (batch, chunk, head)'s ``dt'`` and ``cs``, and each (batch,
chunk, group)'s ``C B^T`` tiles on and below the diagonal. At Bamba-9B's shapes on an H100 it took 3.3 us at 1x512
and 5.3 at 1x2048 of a forward of 25.9 and 81 (``benchmarks/results/h100-prep-verify.json``): a launch and the
latency of a few loads and one product, which no form of it shortened further (``h100-prep-forms.json``). Here:

- a scan program forms its own chunk's ``dt'`` and ``cs`` from dt, ``dt_bias`` and A (:func:`_chunk_rows`; one
  program a chunk and head, so nothing is formed twice) while its TMA loads are in flight;
- the launch's programs come a chunk at a time: first the chunk's ``C B^T`` programs, one tile each (a product of
  64 x n by n x 64, :func:`_cb_tile`), then its scan programs, which wait for the chunk's tiles (a count per batch,
  chunk and group) only before the ring asks for the first of them, at the end of the state's loop, several
  microseconds after the tiles' programs started (:func:`.ssd_sm90_slim._cb_gate`). Programs are dispatched in index
  order on NVIDIA GPUs (the assumption ``gluon_ordered`` makes already), so a waiting program's tiles come from
  programs that started before it.

The counters (the chains' hand-off counters and the chunks' tile counts) are left at zero by the launch itself, so
no kernel zeroes them first: the last chunk's program of a chain zeroes its counter once it has waited on it, and
the last scan program of a chunk and group to finish zeroes its tile count and the count of programs done
(:func:`_leave_counters`). They live in buffers kept per device and stream (:func:`zeroed_counters`), zeroed once
when made: launches on one stream run one after another, so each finds them at zero; two streams get two buffers.
A kernel that dies midway (a device fault) would leave them dirty, but such a fault ends the CUDA context anyway.

Measured on an H100 SXM (``benchmarks/results/h100-bench-ssd-fused.json``): exact, and slower than the two kernels
at every shape (30.2 against 26.0 us at 1x512, 83.3 against 81.4 at 1x2048, 2220 against 2122 at 8x8192), so the
form stays opt-in.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch

from .grid import register_cap
from .ssd_sm90 import UNSPECIALIZED, gluon
from .tickets import ticket_decode

#: The keyed buffers of counters that launches leave at zero (:func:`zeroed_counters`).
_COUNTERS: Dict[tuple, torch.Tensor] = {}

if gluon is not None:
    from .ssd_sm90 import (
        _chunk_origin,
        _clamped,
        _cta_barrier,
        _lg2,
        _row_buffers,
        _tma_load,
        fence_async_shared,
        gl,
        mbarrier,
        warpgroup_mma,
        warpgroup_mma_wait,
    )
    from .ssd_sm90_slim import (
        _acc_layout,
        _after_state,
        _async_after_generic,
        _slim_buffers,
        _slim_done,
        _slim_issue,
        _slim_state,
    )

    @gluon.jit
    def _sum(a, b):
        return a + b

    @gluon.jit
    def _row_at(rows, offs, i: gl.constexpr):
        """Element ``i`` of a chunk's ``rows`` (a scalar)."""
        return gl.sum(gl.where(offs == i, rows, 0.0), axis=0)

    @gluon.jit
    def _chunk_rows(dt_ptr, bias_ptr, A_ptr, b, c, h, L, s_dt_b, s_dt_l, s_dt_h, dt_lo, dt_hi, Q: gl.constexpr,
                    HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr, CLAMP: gl.constexpr, WARPS: gl.constexpr = 4):
        """What ``ssd_sm90._staged_chunk`` reads from ``_chunk_prep``'s output, formed here from dt: ``dt' =
        clamp(softplus(dt + dt_bias))`` (each step as the forward asks for it; 0 past L), ``cs`` its cumulative sum
        times A in base 2 (``cs log2(e)``) and ``cs log2(e) - log2(dt')`` in shared memory, and ``cs`` (base 2) at the
        chunk's end and at each block's first row: ``cs_sm, dt_sm, cs_end, c0, c1, c2, c3``. The caller waits at a
        barrier before any thread reads the shared rows."""
        LOG2E: gl.constexpr = 1.4426950408889634
        BM: gl.constexpr = 64
        NB: gl.constexpr = Q // BM
        NB2: gl.constexpr = 1 if NB == 1 else (2 if NB == 2 else 4)
        cs_sm, dt_sm = _row_buffers(Q)
        SPT: gl.constexpr = max(NB2 * BM // (32 * WARPS), 1)  # rows a thread (a chunk of 64: some threads repeat)
        offs = gl.arange(0, NB2 * BM, layout=gl.BlockedLayout([SPT], [32], [WARPS], [0]))
        pos = c * Q + offs
        ok = (offs < Q) & (pos < L)
        dt = gl.load(dt_ptr + b * s_dt_b + pos * s_dt_l + h * s_dt_h, mask=ok, other=0.0).to(gl.float32)
        if HAS_BIAS:
            dt += gl.load(bias_ptr + h).to(gl.float32)
        if SOFTPLUS:  # as ssd._softplus
            dt = gl.where(dt > 20.0, dt, gl.log(1.0 + gl.exp(gl.minimum(dt, 20.0))))
        if CLAMP:
            dt = gl.minimum(gl.maximum(dt, dt_lo), dt_hi)
        dt = gl.where(ok, dt, 0.0)
        cs = gl.associative_scan(dt * gl.load(A_ptr + h).to(gl.float32), 0, _sum) * LOG2E
        cs_sm.store(cs)
        dt_sm.store(cs - _lg2(dt))
        return (cs_sm, dt_sm, _row_at(cs, offs, Q - 1), _row_at(cs, offs, 0), _row_at(cs, offs, _clamped(1, NB) * BM),
                _row_at(cs, offs, _clamped(2, NB) * BM), _row_at(cs, offs, _clamped(3, NB) * BM))

    @gluon.jit
    def _cb_tile(b_desc, c_desc, ring, es, bars, cb_ptr, count_ptr, bc, r, L, G, nchunks, Q: gl.constexpr,
                 N: gl.constexpr, I64: gl.constexpr):
        """A ``C B^T`` program: tile ``t = r % T`` (T = NB (NB + 1) / 2, in the order (0, 0), (1, 0), (1, 1), ...) of
        group ``g = r // T`` of chunk ``bc`` (batch ``bc // nchunks``), ``C_m B_k^T`` over n (C's rows of block m
        and B's of block k, each a half of n at a time into the ring's and E's slots), stored in the input dtype
        where ``_chunk_prep`` stores it; then the chunk and group's tile count raised (a release, once every
        thread's stores are ordered before it, for the generic and the async proxy)."""
        NB: gl.constexpr = Q // 64
        NH: gl.constexpr = N // 64
        T: gl.constexpr = NB * (NB + 1) // 2
        g = r // T
        t = r % T
        m = t * 0
        while (m + 1) * (m + 2) // 2 <= t:
            m += 1
        k = t - m * (m + 1) // 2
        b = bc // nchunks
        c = bc % nchunks
        if I64:
            b = b.to(gl.int64)
            c = c.to(gl.int64)
        row0 = (b * L + c * Q).to(gl.int32)
        mbarrier.init(bars[0], count=1)
        fence_async_shared()
        mbarrier.expect(bars[0], 2 * NH * b_desc.block_type.nbytes)
        for half in gl.static_range(NH):
            _tma_load(c_desc, [row0 + m * 64, (g * N + half * 64).to(gl.int32)], bars[0], ring[half])
            _tma_load(b_desc, [row0 + k * 64, (g * N + half * 64).to(gl.int32)], bars[0], es[half])
        mbarrier.wait(bars[0], 0)
        acc = gl.zeros([64, 64], gl.float32, _acc_layout())
        for half in gl.static_range(NH):
            acc = warpgroup_mma(ring[half], es[half].permute((1, 0)), acc, use_acc=half > 0, is_async=True)
        acc = warpgroup_mma_wait(0, deps=[acc])
        mbarrier.invalidate(bars[0])
        offs_i = gl.arange(0, 64, layout=gl.SliceLayout(1, _acc_layout()))
        offs_j = gl.arange(0, 64, layout=gl.SliceLayout(0, _acc_layout()))
        rows = ((b * nchunks + c) * G + g) * Q + m * 64 + offs_i
        gl.store(cb_ptr + rows[:, None] * Q + k * 64 + offs_j[None, :], acc.to(cb_ptr.dtype.element_ty))
        _async_after_generic(r)
        _cta_barrier()  # every thread's part of the tile stored before the count says so
        gl.atomic_add(count_ptr + bc * G + g, 1, sem="release")

    @gluon.jit
    def _leave_counters(flag_ptr, count_ptr, chain, bcg, n_bcg, c, nchunks, users):
        """A scan program's last step: the counters it leaves at zero for the next launch. The chain's counter,
        where this is its last chunk (no program reads it after this one has waited on it); and, by the last of the
        ``users`` programs of its chunk and group to get here (a count of those done, at ``count_ptr + n_bcg``), the
        tile count ``count_ptr[bcg]`` (every program that reads it has waited on it) and that count of the done."""
        if c > 0:
            if c + 1 == nchunks:
                gl.store(flag_ptr + chain, 0)
        done = gl.atomic_add(count_ptr + n_bcg + bcg, 1)
        if done + 1 == users:
            gl.store(count_ptr + bcg, 0)
            gl.store(count_ptr + n_bcg + bcg, 0)

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90_fused(x_desc, b_desc, c_desc, cb_desc, dt_ptr, bias_ptr, A_ptr, D_ptr, init_ptr, ring_ptr,
                               flag_ptr, count_ptr, cb_ptr, y_ptr, final_ptr,
                               L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l, s_y_h,
                               s_dt_b, s_dt_l, s_dt_h, dt_lo, dt_hi,
                               Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                               I64: gl.constexpr, HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr,
                               CLAMP: gl.constexpr, R: gl.constexpr = 3, DIAG_FIRST: gl.constexpr = False):
        """``gluon_ordered`` (or with ``DIAG_FIRST`` ``gluon_diag_first``) with the prep folded in (the module's
        docstring): program ``pid`` is, within chunk ``pid // (G T + H n_pblocks)`` (T tiles a group), a ``C B^T``
        program for its first G T indices, else a scan program, in the order of :func:`.tickets.ticket_decode`."""
        NB: gl.constexpr = Q // 64
        NH: gl.constexpr = N // 64
        T: gl.constexpr = NB * (NB + 1) // 2
        REFILL: gl.constexpr = 2  # gluon_scaled's outputs
        per_chunk = G * T + H * n_pblocks
        pid = gl.program_id(0)
        bc = pid // per_chunk
        r = pid % per_chunk
        xs, ring, es, x_bars, bars = _slim_buffers(x_desc, Q, N, R)
        if r < G * T:
            _cb_tile(b_desc, c_desc, ring, es, bars, cb_ptr, count_ptr, bc, r, L, G, nchunks, Q, N, I64)
        else:
            b, c, pb, h = ticket_decode(bc * (H * n_pblocks) + r - G * T, H, n_pblocks, nchunks, I64)
            row0, col0, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)
            g = h // heads_per_group
            n_bcg = gl.num_programs(0) // per_chunk * G  # (batch, chunk, group)s in the launch
            bcg = bc * G + g
            _slim_issue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, row0, h * P + pb * 64, col0, cb_row,
                        NB, NH, R, count_ptr + bcg, True)
            cs_sm, dt_sm, cs_end, c0, c1, c2, c3 = _chunk_rows(dt_ptr, bias_ptr, A_ptr, b, c, h, L, s_dt_b, s_dt_l,
                                                               s_dt_h, dt_lo, dt_hi, Q, HAS_BIAS, SOFTPLUS, CLAMP)
            d_h = 0.0
            if HAS_D:
                d_h = gl.load(D_ptr + h).to(gl.float32)
            _cta_barrier()
            S0, S1 = _slim_state(b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, dt_sm, cs_end, row0, col0, cb_row,
                                 NB, NH, R, 0, False, REFILL, count_ptr + bcg, True)
            chain = (b * n_pblocks + pb) * H + h
            _after_state(S0, S1, b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, cs_end,
                         d_h, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, y_ptr, b, c, h, pb, H, P, L, nchunks,
                         s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH, R, N, HAS_D, HAS_INIT, True, REFILL,
                         DIAG_FIRST)
            _slim_done(x_bars, bars, NB, R)
            _leave_counters(flag_ptr, count_ptr, chain, bcg, n_bcg, c, nchunks, heads_per_group * n_pblocks)


def zeroed_counters(device: torch.device, n: int, kind: str, keep: bool) -> torch.Tensor:
    """``n`` int32 counters at zero for a launch of :func:`_chunk_scan_sm90_fused` (``kind``: ``"chains"`` or
    ``"tiles"``, two buffers, as ``ssd_forward`` keeps its flags and ticket apart). With ``keep`` (eager launches on
    the current stream of ``device``) a buffer kept per device, stream and kind, zeroed once when made or grown: the
    launch leaves every counter it uses at zero (:func:`_leave_counters`), so the next launch on that stream finds
    them so. Otherwise (a CUDA graph being captured, a launch traced by torch.compile) a fresh ``torch.zeros``,
    which the graph or the compiled code then replays."""
    if not keep:
        return torch.zeros(n, device=device, dtype=torch.int32)
    stream = torch.cuda.current_stream(device)
    key = (device.index, stream.cuda_stream, kind)
    buf = _COUNTERS.get(key)
    if buf is None or buf.numel() < n:
        buf = _COUNTERS[key] = torch.zeros(max(n, 2 * (buf.numel() if buf is not None else 0)), device=device,
                                           dtype=torch.int32)
    return buf[:n]


def fused_chunk_scan(x: torch.Tensor, dt: torch.Tensor, dt_bias: Optional[torch.Tensor], A: torch.Tensor,
                     B: torch.Tensor, C: torch.Tensor, D: Optional[torch.Tensor],
                     initial_state: Optional[torch.Tensor], ring: torch.Tensor, flags: torch.Tensor,
                     cb_counts: torch.Tensor, cb: torch.Tensor, y: torch.Tensor, final: torch.Tensor, Q: int,
                     n_pblocks: int, i64: bool, wrap: Any, dt_softplus: bool, dt_limit: Tuple[float, float],
                     shapes: tuple, diag_first: bool = False, ring_slots: Optional[int] = None,
                     max_registers: Optional[int] = None) -> None:
    """Launch :func:`_chunk_scan_sm90_fused`: the forward's prep and scan in one launch. ``flags`` (a counter a
    chain, ``b H n_pblocks``) and ``cb_counts`` (two a batch, chunk and group) at zero, as :func:`zeroed_counters`
    gives them; ``cb`` as ``ssd_forward`` makes it (its programs fill it); ``shapes``: ``ssd_sm90.tma_shapes`` of
    x, B and C; the rest as ``ssd_sm90.chunk_scan`` takes them, with dt, ``dt_bias``, A, ``dt_softplus`` and
    ``dt_limit`` as ``ssd_forward`` does."""
    from .ssd_sm90 import slim_descriptors
    from .ssd_sm90_slim import MAX_REGISTERS, RING

    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    nchunks = (L + Q - 1) // Q
    nb = Q // 64
    descriptors = slim_descriptors(x, B, C, cb, Q, shapes)
    lo, hi = float(dt_limit[0]), float(dt_limit[1])
    programs = b * nchunks * (G * nb * (nb + 1) // 2 + H * n_pblocks)
    wrap(_chunk_scan_sm90_fused)[(programs,)](
        *descriptors, dt, dt_bias if dt_bias is not None else A, A, D if D is not None else A,
        initial_state if initial_state is not None else ring, ring, flags, cb_counts, cb, y, final,
        L, H, G, P, nchunks, H // G, n_pblocks, *y.stride()[:3], *dt.stride(), lo, min(hi, 3.0e38),
        Q=Q, N=N, HAS_D=D is not None, HAS_INIT=initial_state is not None, I64=i64, HAS_BIAS=dt_bias is not None,
        SOFTPLUS=bool(dt_softplus), CLAMP=(lo, hi) != (0.0, math.inf), R=ring_slots or RING, DIAG_FIRST=diag_first,
        num_warps=4, **register_cap(MAX_REGISTERS if max_registers is None else max_registers))
