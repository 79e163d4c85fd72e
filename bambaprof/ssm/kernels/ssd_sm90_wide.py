"""The Hopper (Gluon) chunk scan with one head a program over eight warps: each warpgroup does half of every phase.

The slim form's program (:mod:`.ssd_sm90_slim`, four warps) makes 26 products of 64 x 64 x 64 one after the other
and waits for 26 tiles; its two-heads form (:mod:`.ssd_sm90_pair`) showed that halving a head's L2 traffic does
not make a program shorter, so the scan is held by each program's chain of waits and products. This form puts
two warpgroups on one head and halves that chain:

- the chunk's own state ``S^T`` (p x n) is one accumulator of 64 x 128 whose halves of n the two warpgroups hold
  (the A operand, x^T scaled by ``exp(cs_end - cs_l) dt'_l``, formed by both): four products a warpgroup, each
  on a B tile of 64 rows by all of n;
- the outputs are formed two blocks of 64 rows at a time, warpgroup 0 the first block, warpgroup 1 the second
  (an accumulator of 128 x 64): C of both blocks times E^T, then the ``C B^T`` tiles of both blocks' rows by a
  block of columns, each row weighted for its own block (factorised through its block's first row left of its
  diagonal, an exponential an element on it, 0 right of it). At a chunk of 256: 4 + 4 + 6 = 14 products a
  warpgroup instead of 26, 14 tiles of 16 KB (B: 64 x 128; C and ``C B^T``: 128 x 64) through one ring.

Shared memory: x 32 KB, the ring 48 KB (3 slots), E 16 KB: 98 KB, two programs an SM where registers allow
(:data:`MAX_REGISTERS`). It serves what :func:`.ssd_sm90.usable` allows with a chunk that is a multiple of 128 and
a state of 128 (:func:`serves`); the arithmetic is that of the ``gluon_late`` form.

Measured on an H100 beside the slim form (``benchmarks/results/h100-ssd-gluon-wide.json``): 1.04x to 1.22x its
kernel time at Bamba-9B's shapes. Halving a program's products takes a fifth off its time, not half, and two
programs an SM instead of three cost more; even at 1 x 512, where programs do not contend, it is 4% slower. It is
not ``auto``'s form.
"""

from __future__ import annotations

from .ssd_sm90 import UNSPECIALIZED, gluon
from .tickets import ticket_work

#: Slots of the ring of 16 KB tiles.
RING = 3
#: Registers a thread at most: two programs of 256 threads an SM.
MAX_REGISTERS = 128


def serves(chunk: int, N: int) -> bool:
    """Whether the wide form serves a chunk and a state size: a chunk that is a multiple of 128 (output blocks go
    two by two) and a state of 128 (a B tile of 64 x n fills a slot as two blocks of C rows do)."""
    return chunk % 128 == 0 and N == 128


if gluon is not None:
    from .ssd_sm90 import (
        _chunk_origin,
        _cta_barrier,
        _ex2,
        _hand_on,
        _pick,
        _staged_chunk,
        _store_rows,
        _tma_load,
        fence_async_shared,
        gl,
        mbarrier,
        warpgroup_mma,
        warpgroup_mma_wait,
    )
    from .ssd_sm90_slim import _mbarriers, _ring_wait

    @gluon.constexpr_function
    def _item(i, NB, NH, part):
        """Field ``part`` of item ``i`` of the ring's sequence: ``(0, j, 0)`` B's rows j (64 x n), ``(1, q, half)``
        C's rows of block pair q (128 rows) and a half of n, ``(2, q, k)`` the ``C B^T`` tile of pair q's rows and
        column block k; the NB B tiles first, then pair by pair NH of C and 2q + 2 of ``C B^T``."""
        i, NB, NH, part = (getattr(v, "value", v) for v in (i, NB, NH, part))
        if i < NB:
            fields = (0, i, 0)
        else:
            i -= NB
            q = 0
            while i >= NH + 2 * q + 2:
                i -= NH + 2 * q + 2
                q += 1
            fields = (1, q, i) if i < NH else (2, q, i - NH)
        return fields[part]

    @gluon.constexpr_function
    def _ring_items(NB, NH):
        """Items of the sequence: NB of B, then for each of the NB / 2 pairs NH of C and 2q + 2 of ``C B^T``."""
        NB, NH = (getattr(v, "value", v) for v in (NB, NH))
        NQ = NB // 2
        return NB + NQ * NH + NQ * (NQ + 1)

    @gluon.constexpr_function
    def _at(q, NB, NH, offset):
        """The place in the sequence of block pair q's item ``offset``: its C items from 0, ``C B^T`` from NH."""
        q, NB, NH, offset = (getattr(v, "value", v) for v in (q, NB, NH, offset))
        return NB + q * NH + q * (q + 1) + offset

    @gluon.jit
    def _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i: gl.constexpr, NB: gl.constexpr,
                   NH: gl.constexpr, R: gl.constexpr):
        """Ask TMA for item ``i`` into slot ``i % R`` (a B tile into the slot seen as 64 x n), once every thread is
        done with what the slot held."""
        if i < _ring_items(NB, NH):
            kind: gl.constexpr = _item(i, NB, NH, 0)
            r: gl.constexpr = _item(i, NB, NH, 1)
            k: gl.constexpr = _item(i, NB, NH, 2)
            _cta_barrier()
            mbarrier.expect(bars[i % R], c_desc.block_type.nbytes)
            if kind == 0:
                _tma_load(b_desc, [row0 + r * 64, col0], bars[i % R], _b_view(ring, i % R, b_desc))
            elif kind == 1:
                _tma_load(c_desc, [row0 + r * 128, col0 + k * 64], bars[i % R], ring.index(i % R))
            else:
                _tma_load(cb_desc, [cb_row + r * 128, k * 64], bars[i % R], ring.index(i % R))

    @gluon.jit
    def _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i: gl.constexpr, NB: gl.constexpr,
                NH: gl.constexpr, R: gl.constexpr):
        """Item ``i`` is done with: its slot takes item ``i + R``."""
        _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i + R, NB, NH, R)

    if hasattr(gl.shared_memory_descriptor, "reinterpret"):  # Triton 3.7 and later

        @gluon.jit
        def _b_view(ring, slot: gl.constexpr, b_desc):
            """Slot ``slot`` of the ring (128 x 64) seen as a B tile (64 x n, n = 128: the same 16 KB)."""
            return ring.index(slot).reinterpret(b_desc.dtype, b_desc.block_type.shape, b_desc.layout)
    else:

        @gluon.jit
        def _b_view(ring, slot: gl.constexpr, b_desc):
            """Slot ``slot`` of the ring (128 x 64) seen as a B tile (64 x n, n = 128: the same 16 KB)."""
            return ring.index(slot)._reinterpret(b_desc.dtype, b_desc.block_type.shape, b_desc.layout)

    @gluon.jit
    def _x_tile(xs, k: gl.constexpr):
        """x's tile of block k (64 x 64): half k % 2 of buffer k // 2."""
        return xs.index(k // 2).slice((k % 2) * 64, 64)


    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90_wide(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr,
                              flag_ptr, ticket_ptr, y_ptr, final_ptr,
                              L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l, s_y_h,
                              Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                              I64: gl.constexpr, R: gl.constexpr = 3):
        BM: gl.constexpr = 64
        BP: gl.constexpr = 64
        NB: gl.constexpr = Q // BM
        NQ: gl.constexpr = NB // 2
        NH: gl.constexpr = N // 64
        dtype: gl.constexpr = x_desc.dtype
        # the state S^T (p x n), its halves of n one a warpgroup; its A operand (x^T scaled) held by both
        st_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                            instr_shape=[16, 64, 16])
        sta_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=st_layout, k_width=2)
        # two output blocks (128 rows x p), one a warpgroup
        o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[8, 1],
                                                           instr_shape=[16, 64, 16])
        oa_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)

        b, c, pb, h = ticket_work(ticket_ptr, H, n_pblocks, nchunks, I64)
        row0, col0, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)

        # x's tiles two blocks to a buffer (each 128 x 64: block k is half k % 2 of buffer k // 2)
        xs = gl.allocate_shared_memory(dtype, [NQ, 2 * BM, BP], c_desc.layout)
        ring = gl.allocate_shared_memory(dtype, [R, 2 * BM, 64], c_desc.layout)
        es = gl.allocate_shared_memory(dtype, [BP, N], b_desc.layout)
        x_bars = _mbarriers(NB)
        bars = _mbarriers(R)
        for j in gl.static_range(NB):
            mbarrier.init(x_bars[j], count=1)
        for j in gl.static_range(R):
            mbarrier.init(bars[j], count=1)
        fence_async_shared()
        for j in gl.static_range(NB):
            mbarrier.expect(x_bars[j], x_desc.block_type.nbytes)
            _tma_load(x_desc, [row0 + j * BM, h * P + pb * BP], x_bars[j], _x_tile(xs, j))
        for i in gl.static_range(R):
            _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i, NB, NH, R)

        cs_sm, dt_sm, cs_end, c0, c1, c2, c3 = _staged_chunk(cs_ptr, dtp_ptr, ((b * H + h) * nchunks + c) * Q, Q,
                                                             True, 8)
        if HAS_D:
            d_h = gl.load(D_ptr + h).to(gl.float32)
        _cta_barrier()

        # 1. the chunk's own state, S^T = sum_l x_l^T exp(cs_end - cs_l) dt'_l B_l: a product a block of rows, each
        # warpgroup its half of n, one left in flight while the next A operand is formed
        S = gl.zeros([BP, N], gl.float32, st_layout)
        k_vec: gl.constexpr = gl.SliceLayout(0, sta_layout)
        s_prev = gl.zeros([BP, BM], dtype, sta_layout)
        for j in gl.static_range(NB):
            w = _ex2(cs_end - dt_sm.slice(j * BM, BM).load(k_vec))
            mbarrier.wait(x_bars[j], 0)
            xt = _x_tile(xs, j).permute((1, 0)).load(sta_layout)
            a = (xt.to(gl.float32) * w[None, :]).to(dtype)
            _ring_wait(bars, j, R)
            S = warpgroup_mma(a, _b_view(ring, j % R, b_desc), S, is_async=True)
            S, a, s_prev = warpgroup_mma_wait(1, deps=[S, a, s_prev])
            if j > 0:
                _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, j - 1, NB, NH, R)
            s_prev = a
        S, s_prev = warpgroup_mma_wait(0, deps=[S, s_prev])
        _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, NB - 1, NB, NH, R)

        # 2. the hand-off, once the chain's previous chunk has announced its state
        chain = (b * n_pblocks + pb) * H + h
        _hand_on(S, st_layout, 0, N, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks,
                 cs_end, BP, N, HAS_INIT, True)
        fence_async_shared()
        _cta_barrier()

        # 3. the outputs, two blocks of 64 rows (q's 2q and 2q + 1) at a time: exp(cs_i) C_i E, then the C B^T
        # tiles of both blocks' rows by column block k, each row weighted for its own block: left of its diagonal
        # exp(cs_m0 - cs_s) dt'_s (its block's first row m0; the row factor exp(cs_i - cs_m0) goes on the
        # accumulator before its diagonal tile), on it exp(cs_i - cs_s) dt'_s masked causally, right of it 0
        rows = gl.arange(0, 2 * BM, layout=gl.SliceLayout(1, o_layout))
        top = rows < BM
        offs_p = gl.arange(0, BP, layout=gl.SliceLayout(0, o_layout))
        a_rows = gl.arange(0, 2 * BM, layout=gl.SliceLayout(1, oa_layout))
        a_top = (a_rows < BM)[:, None]
        a_cols = gl.arange(0, BM, layout=gl.SliceLayout(0, oa_layout))
        on_or_below = a_cols[None, :] <= (a_rows % BM)[:, None]
        o_prev = gl.zeros([2 * BM, BM], dtype, oa_layout)
        for q in gl.static_range(NQ):
            acc = gl.zeros([2 * BM, BP], gl.float32, o_layout)
            for half in gl.static_range(NH):
                _ring_wait(bars, _at(q, NB, NH, half), R)
                acc = warpgroup_mma(ring.index(_at(q, NB, NH, half) % R), es.slice(half * 64, 64, dim=1).permute((1, 0)),
                                    acc, use_acc=half > 0, is_async=True)
                if q == 0 and half == 0 and c + 1 < nchunks:  # the release's fence waits while the product runs
                    gl.atomic_xchg(flag_ptr + chain, (c + 1).to(gl.int32), sem="release")
                if half > 0:
                    acc = warpgroup_mma_wait(1, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(q, NB, NH, half - 1),
                            NB, NH, R)
            c_top = _pick(2 * q, c0, c1, c2, c3)
            c_bot = _pick(2 * q + 1, c0, c1, c2, c3)
            cs_r = cs_sm.slice(q * 2 * BM, 2 * BM).load(gl.SliceLayout(1, o_layout))
            cs_ar = cs_sm.slice(q * 2 * BM, 2 * BM).load(gl.SliceLayout(1, oa_layout))
            for k in gl.static_range(2 * q + 2):
                dt_k = dt_sm.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout))
                _ring_wait(bars, _at(q, NB, NH, NH + k), R)
                cb = ring.index(_at(q, NB, NH, NH + k) % R).load(oa_layout)
                _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(q, NB, NH, NH + k), NB,
                        NH, R)
                if k < 2 * q:  # left of both blocks' diagonals
                    wk = gl.where(a_top, _ex2(c_top - dt_k)[None, :], _ex2(c_bot - dt_k)[None, :])
                    wt = cb * wk.to(dtype)
                elif k == 2 * q:  # the first block's diagonal, left of the second's
                    diag = gl.where(on_or_below, _ex2(cs_ar[:, None] - dt_k[None, :]), 0.0)
                    wk = gl.where(a_top, diag, _ex2(c_bot - dt_k)[None, :])
                    wt = cb * wk.to(dtype)
                else:  # right of the first block's diagonal, the second's diagonal
                    wk = gl.where(a_top, 0.0, gl.where(on_or_below, _ex2(cs_ar[:, None] - dt_k[None, :]), 0.0))
                    wt = gl.where(a_top, 0.0, cb * wk.to(dtype))
                a = wt.to(dtype)
                if k == 0:  # the C E products are done: the last C item's slot takes the item R on
                    acc = warpgroup_mma_wait(0, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(q, NB, NH, NH - 1),
                            NB, NH, R)
                    acc = acc * gl.where(top, gl.exp2(c_top), gl.exp2(c_bot))[:, None]
                else:
                    acc, o_prev = warpgroup_mma_wait(0, deps=[acc, o_prev])
                if k == 2 * q:
                    acc = acc * gl.where(top, _ex2(cs_r - c_top), 1.0)[:, None]
                elif k == 2 * q + 1:
                    acc = acc * gl.where(top, 1.0, _ex2(cs_r - c_bot))[:, None]
                acc = warpgroup_mma(a, _x_tile(xs, k), acc, is_async=True)
                o_prev = a
            acc, o_prev = warpgroup_mma_wait(0, deps=[acc, o_prev])
            if HAS_D:
                acc += d_h * xs.index(q).load(o_layout).to(gl.float32)
            pos = c * Q + q * 2 * BM + rows
            _store_rows(y_ptr, acc, b, pos, h * s_y_h, pb * BP + offs_p, L, s_y_b, s_y_l)
        for j in gl.static_range(NB):
            mbarrier.invalidate(x_bars[j])
        for j in gl.static_range(R):
            mbarrier.invalidate(bars[j])
