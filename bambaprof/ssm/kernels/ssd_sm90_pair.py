"""The Hopper (Gluon) chunk scan with two heads a program, so that each tile of B, C and ``C B^T`` is read from L2
once for both.

Nsight Compute finds :mod:`.ssd_sm90_slim`'s scan L2-bound where its programs fill the GPU (L2 89% busy at 8 x
2048 on an H100, DRAM 38%): of a program's 240 KB of tiles, 208 KB are B, C and ``C B^T``, which every head of a
chunk reads again (one group for all heads in Bamba). This form gives a program two adjacent heads of one group
and eight warps, two warpgroups, and streams each shared tile through one ring of 64 x 64 slots (as the slim
form does) for both: 136 KB of L2 traffic a head instead of 240. The two heads' columns of x (heads ``h`` and
``h + 1``, 64 each: a head dim of 64) are one 64 x 128 tile, and

- the chunk's own state is formed with the heads stacked in M: ``S^T`` (128 = both heads' p, by a half of n) =
  ``x^T`` scaled by each head's weights ``exp(cs_end - cs_l) dt'_l`` (A, 128 x 64, in registers) times a B tile
  as loaded; warpgroup 0 holds the first head's rows, warpgroup 1 the second's;
- each block of 64 output rows is formed with the heads side by side in N: ``y`` (64 x 128) = C times
  ``[E_h | E_h+1]^T`` (both operands in shared memory), plus the ``C B^T`` tiles scaled by the decay weights
  times x's tile of both heads. The two warpgroups each compute their own head's 64 columns of a product, so
  the A operand (the weighted ``C B^T`` tile, in registers) may differ between them: each thread scales the
  tile with its own warpgroup's head's weights (its warpgroup read from ``%tid.x``), which the layout (A
  replicated over the N warps) leaves to each warpgroup's registers;
- the hand-off and the counters are those of two chains (one a head), waited for and released together.

Shared memory: x 64 KB, the ring 24 KB (3 slots), E 32 KB: one program (two heads) an SM, against the slim form's
three programs (three heads). It serves what :func:`.ssd_sm90.usable` allows where the head dim is 64 and a group
has an even number of heads (:func:`pairs_heads`); the arithmetic is that of the ``gluon_late`` form.

Measured on an H100 beside the slim form (``benchmarks/results/h100-ssd-gluon-pair.json``): 1.09x to 1.37x its
kernel time at Bamba-9B's shapes. A program of two heads takes about as long as the slim form's program of one,
so halving the L2 traffic a head does not make up for two heads an SM instead of three; it is not ``auto``'s form.
"""

from __future__ import annotations

from .ssd_sm90 import UNSPECIALIZED, gluon
from .tickets import ticket_work, wait_chain

#: Slots of the ring of 64 x 64 tiles (B, then per output block its C and ``C B^T`` tiles).
RING = 3


def pairs_heads(P: int, H: int, G: int) -> bool:
    """Whether the pair form serves a head dim ``P``, ``H`` heads and ``G`` groups: a head dim of 64 (two heads'
    columns of x are one 128-wide tile) and an even number of heads in each group."""
    return P == 64 and H % 2 == 0 and (H // G) % 2 == 0


if gluon is not None:
    from .ssd_sm90 import (
        _chunk_origin,
        _cta_barrier,
        _ex2,
        _pick,
        _staged_chunk,
        _store_rows,
        fence_async_shared,
        gl,
        mbarrier,
        warpgroup_mma,
        warpgroup_mma_wait,
    )
    from .ssd_sm90_slim import (
        _at,
        _cb_operand,
        _ce_products,
        _refill,
        _ring_buffers,
        _slim_issue,
        _state_block,
        _state_done,
        _tiles,
    )

    @gluon.jit
    def _second_warpgroup(like):
        """Whether each thread is in the program's second warpgroup (``%tid.x >= 128``), as a tensor shaped and laid
        out like ``like`` (int32). Its value differs between the copies of an element that a layout replicates
        over warpgroups, which is what lets each warpgroup scale its own A operand."""
        wg = gl.inline_asm_elementwise("{ .reg .u32 t; mov.u32 t, %tid.x; shr.u32 $0, t, 7; }", "=r,r", [like],
                                       dtype=gl.int32, is_pure=True, pack=1)
        return wg == 1

    @gluon.jit
    def _pair_hand_on(S, layout: gl.constexpr, col0: gl.constexpr, es, ring_ptr, init_ptr, final_ptr, chain0, b, h0,
                      c, H, nchunks, end0, end1, N: gl.constexpr, HAS_INIT: gl.constexpr):
        """Columns ``col0 .. col0 + 64`` of n of both heads' hand-off: rows 0-63 of ``S`` (128 x 64 fp32 in
        ``layout``) are head ``h0``'s own state (its chain ``chain0``), rows 64-127 head ``h0 + 1``'s (chain
        ``chain0 + 1``). E (from each chain's ring slot, or the initial state) goes to ``es`` in its dtype and
        ``E' = exp(cs_end) E + S`` on (``end0``, ``end1``: each head's cs at the chunk's end, base 2). The caller
        has waited for both chains and releases both."""
        BP: gl.constexpr = 64
        rows = gl.arange(0, 2 * BP, layout=gl.SliceLayout(1, layout))
        second = rows >= BP
        offs_n = col0 + gl.arange(0, 64, layout=gl.SliceLayout(0, layout))
        tile = (rows % BP)[:, None] * N + offs_n[None, :]
        chain = chain0 + second.to(gl.int32)
        ring = ring_ptr + (chain * (2 * BP * N))[:, None] + tile
        pn = ((b * H + h0 + second.to(gl.int32)) * (BP * N))[:, None] + tile
        if c == 0:
            if HAS_INIT:
                E = gl.load(init_ptr + pn)
            else:
                E = gl.zeros([2 * BP, 64], gl.float32, layout)
        else:
            E = gl.load(ring + (c % 2) * BP * N, cache_modifier=".cg")
        es.store(E.to(es.dtype))
        E = E * gl.exp2(gl.where(second, end1, end0))[:, None] + S
        if c + 1 < nchunks:
            gl.store(ring + ((c + 1) % 2) * BP * N, E)
        else:
            gl.store(final_ptr + pn, E)

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90_pair(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr,
                              flag_ptr, ticket_ptr, y_ptr, final_ptr,
                              L, H, G, nchunks, heads_per_group, s_y_b, s_y_l, s_y_h,
                              Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                              I64: gl.constexpr, R: gl.constexpr = 3):
        BM: gl.constexpr = 64
        BP: gl.constexpr = 64  # the head dim
        W2: gl.constexpr = 2 * BP  # both heads' columns
        NB: gl.constexpr = Q // BM
        NH: gl.constexpr = N // 64
        dtype: gl.constexpr = x_desc.dtype
        # the state: both heads' p stacked in M (warpgroup 0 the first head's rows), by a half of n
        s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[8, 1],
                                                           instr_shape=[16, 64, 16])
        sa_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=s_layout, k_width=2)
        # an output block: 64 rows by both heads' p side by side in N (warpgroup 0 the first head's columns)
        o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                           instr_shape=[16, 64, 16])
        oa_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)

        # ticket -> (batch, chunk, pair of heads), batch slowest, as the other forms take theirs
        b, c, pb, pair = ticket_work(ticket_ptr, H // 2, 1, nchunks, I64)
        h0 = 2 * pair
        row0, col0, cb_row = _chunk_origin(b, c, h0, L, G, nchunks, heads_per_group, Q, N)

        xs, x_bars = _ring_buffers(x_desc, NB)
        ring, bars = _ring_buffers(cb_desc, R)
        tile_layout: gl.constexpr = cb_desc.layout
        es = _tiles(dtype, W2, 64, tile_layout, NH)
        # the barriers made, TMA asked for both heads' x tiles (64 x 128) and the ring's first items
        _slim_issue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, row0, h0 * BP, col0, cb_row, NB, NH, R)

        # each head's cs (base 2) and cs log2(e) - log2(dt') in shared memory
        cs0, dt0, end0, a0, a1, a2, a3 = _staged_chunk(cs_ptr, dtp_ptr, ((b * H + h0) * nchunks + c) * Q, Q, True, 8)
        cs1, dt1, end1, e0, e1, e2, e3 = _staged_chunk(cs_ptr, dtp_ptr, ((b * H + h0 + 1) * nchunks + c) * Q, Q,
                                                       True, 8)
        if HAS_D:
            d0 = gl.load(D_ptr + h0).to(gl.float32)
            d1 = gl.load(D_ptr + h0 + 1).to(gl.float32)
        _cta_barrier()

        # 1. both heads' own states in halves of n: A = x^T of both heads (128 x 64), each row scaled by its head's
        # weights; B the ring's tile as loaded; a product left in flight while the next A operand is formed
        S0 = gl.zeros([W2, 64], gl.float32, s_layout)
        S1 = gl.zeros([W2, 64], gl.float32, s_layout)
        k_vec: gl.constexpr = gl.SliceLayout(0, sa_layout)
        second_row = (gl.arange(0, W2, layout=gl.SliceLayout(1, sa_layout)) >= BP)[:, None]
        s_prev = gl.zeros([W2, BM], dtype, sa_layout)
        for j in gl.static_range(NB):
            w0 = _ex2(end0 - dt0.slice(j * BM, BM).load(k_vec))
            w1 = _ex2(end1 - dt1.slice(j * BM, BM).load(k_vec))
            mbarrier.wait(x_bars[j], 0)
            xt = xs[j].permute((1, 0)).load(sa_layout)
            a = (xt.to(gl.float32) * gl.where(second_row, w1[None, :], w0[None, :])).to(dtype)
            S0, S1, s_prev = _state_block(a, s_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring,
                                          j, NB, NH, R)
        S0, S1 = _state_done(s_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, NB, NH, R)

        # 2. the hand-off of both chains (adjacent: same batch, heads h0 and h0 + 1), a half of n at a time
        chain0 = b * H + h0
        if c > 0:
            wait_chain(flag_ptr, chain0, c)
            wait_chain(flag_ptr, chain0 + 1, c)
        _pair_hand_on(S0, s_layout, 0, es[0], ring_ptr, init_ptr, final_ptr, chain0, b, h0, c, H, nchunks,
                      end0, end1, N, HAS_INIT)
        if NH > 1:
            _pair_hand_on(S1, s_layout, 64, es[1], ring_ptr, init_ptr, final_ptr, chain0, b, h0, c, H,
                          nchunks, end0, end1, N, HAS_INIT)
        fence_async_shared()
        _cta_barrier()

        # 3. the outputs, 64 rows by both heads' columns: C [E_h | E_h+1]^T, then each C B^T tile scaled by the
        # weights of the head of this thread's warpgroup (its own copy of the A operand) times x's tile of both
        offs_i = gl.arange(0, BM, layout=gl.SliceLayout(1, o_layout))
        offs_c = gl.arange(0, W2, layout=gl.SliceLayout(0, o_layout))
        second_col = offs_c >= BP
        offs_ai = gl.arange(0, BM, layout=gl.SliceLayout(1, oa_layout))
        offs_aj = gl.arange(0, BM, layout=gl.SliceLayout(0, oa_layout))
        mine_row = _second_warpgroup(offs_ai)
        mine_col = _second_warpgroup(offs_aj)
        o_prev = gl.zeros([BM, BM], dtype, oa_layout)  # the A operand of the output product in flight
        for m in gl.static_range(NB):
            acc = _ce_products(gl.zeros([BM, W2], gl.float32, o_layout), b_desc, c_desc, cb_desc, ring, es, bars,
                               flag_ptr, chain0, c, nchunks, row0, col0, cb_row, m, NB, NH, R, 2)
            m0 = _pick(m, a0, a1, a2, a3)
            m1 = _pick(m, e0, e1, e2, e3)
            cs_i0 = cs0.slice(m * BM, BM).load(gl.SliceLayout(1, o_layout))
            cs_i1 = cs1.slice(m * BM, BM).load(gl.SliceLayout(1, o_layout))
            # this warpgroup's head's cs on the block's rows, and at its first row
            cs_ai = gl.where(mine_row, cs1.slice(m * BM, BM).load(gl.SliceLayout(1, oa_layout)),
                             cs0.slice(m * BM, BM).load(gl.SliceLayout(1, oa_layout)))
            m_col = gl.where(mine_col, m1, m0)
            for k in gl.static_range(m + 1):
                dt_k = gl.where(mine_col, dt1.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout)),
                                dt0.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout)))
                a = _cb_operand(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, m_col, cs_ai, dt_k, offs_ai,
                                offs_aj, oa_layout, m, k, NB, NH, R)
                if k == 0:
                    acc = warpgroup_mma_wait(0, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, NH - 1), NB, NH,
                            R)
                    acc = acc * gl.where(second_col, gl.exp2(m1), gl.exp2(m0))[None, :]
                else:
                    acc, o_prev = warpgroup_mma_wait(0, deps=[acc, o_prev])
                if k == m:
                    acc = acc * gl.where(second_col[None, :], _ex2(cs_i1 - m1)[:, None], _ex2(cs_i0 - m0)[:, None])
                acc = warpgroup_mma(a, xs[k], acc, is_async=True)
                o_prev = a
            acc, o_prev = warpgroup_mma_wait(0, deps=[acc, o_prev])
            if HAS_D:
                acc += gl.where(second_col, d1, d0)[None, :] * xs[m].load(o_layout).to(gl.float32)
            pos = c * Q + m * BM + offs_i
            cols = (h0 + second_col.to(gl.int32)) * s_y_h + offs_c % BP
            _store_rows(y_ptr, acc, b, pos, 0, cols, L, s_y_b, s_y_l)
        for j in gl.static_range(NB):
            mbarrier.invalidate(x_bars[j])
        for j in gl.static_range(R):
            mbarrier.invalidate(bars[j])
