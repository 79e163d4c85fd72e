"""The Hopper (Gluon) chunk scan in 74 KB of shared memory, so that three programs share an SM instead of two.

:mod:`.ssd_sm90`'s scan keeps 106 KB of shared memory a program (x's tiles, a two-slot ring of 64 x n tiles of
B then C, a three-slot ring of ``C B^T`` tiles, E), which allows two programs (8 warps) an H100 or H200 SM
(228 KB, 1 KB of it reserved a program). Nsight Compute finds it latency-bound there: a warp issues one
instruction every 8 cycles, each scheduler has two warps to choose from, and one in five stall samples is a
program's prologue (its ticket's atomic, its ``dt'`` and ``cs`` read from L2).

This form does the same arithmetic as that one's ``gluon_late`` form (``factor``, ``pipelined``, ``packed``,
``lg2`` and ``late``; see :data:`.ssd_sm90.FORMS`) with every tile that streams through the program in one
ring of ``RING`` slots of 64 x 64 (8 KB): the chunk's B tiles (each 64 rows by one half of n), then for each
block of 64 output rows its C tiles, then its ``C B^T`` tiles left of and on the diagonal. x's tiles
(32 KB at a chunk of 256) and E (the state entering the chunk, bf16, 16 KB at n = 128) stay as they were:
with three slots, 74 KB a program, three programs (12 warps) an SM, as far as registers allow (at most 168 a
thread). A slot is refilled with the item ``RING`` places on once what read it is done: a tensor-core product
(B, C: the products keep one in flight, so the slot of the product before is free once the next is issued)
or a read into registers (``C B^T``, scaled there). Every tile and mbarrier is an allocation of its own (tuples
indexed by constants, :func:`_ring_buffers`), and a slot that only products read is refilled without a barrier
of the kernel's own (:func:`_products_only`): Triton's shared-memory hazard analysis then adds one ``bar.sync``
a refill instead of two, 55 in all at Bamba-9B's shapes against 102 (offline sm_90, Triton 3.6). On an H100 that
left the kernel's time where it was from 1x2048 up and took 2.5% off at 1x512, with the same bits
(``benchmarks/results/h100-split-buffers.json``).

The state is formed as two accumulators of 64 x 64 (p by a half of n), each chunk's state handed on in halves
too, so that no phase holds both the whole state and its hand-off's addresses in registers. The skip term is
``D x`` read from x's tile in shared memory. It serves what :func:`.ssd_sm90.usable` allows.

With ``SCALED`` (the form ``gluon_scaled``, ``auto``'s from 1,024 programs in the thirtieth session) the outputs are
formed by :func:`_scaled_outputs`: x's tile k, once output block k no longer needs it as loaded, is weighted in place
for the blocks below, so that each ``C B^T`` tile below the diagonal goes to the tensor cores from shared memory as
loaded (no registers, no scaling) and a scalar a tile goes on the accumulator. On an H100 that made the outputs 9%
shorter at 1x512 (9.7 against 10.7 us a program, ``benchmarks/scan_phases.py``), and the kernel took 0.97x to 0.99x
the plain form's time from 1x2048 up in two runs (``benchmarks/results/h100-bench-ssd-gluon-scaled.json``,
``-2.json``; 0.96x to 0.98x on an H200, ``h200-bench-ssd-gluon-scaled.json``).

With ``ORDERED`` as well (the form ``gluon_ordered``, ``auto``'s at every size) a program takes its work from its
index in the launch rather than from a ticket (:func:`_work`): on an H100 0.93x to 0.97x ``gluon_scaled``'s kernel
time up to 8x2048 and 0.99x at 8x8192 (``benchmarks/results/h100-bench-ssd-gluon-ordered.json``, ``-2.json``).

With ``DIAG_FIRST`` too (the form ``gluon_diag_first``) a program that finds its chain's previous chunk not yet done
(one look at the counter) forms output block 0's diagonal product while it waits (:func:`_diag_first`); block 0
then adds it to ``exp(cs_i) C E``; a program that does not wait forms the product in its own accumulator too and adds
it alike, so that y does not depend on which programs waited (twenty forwards a shape equal bit for bit). At 1x512
the last chunk's programs wait about 4.4 us on an H100 and then spend 4.1 on the hand-off and 10.6 on the outputs,
all on the launch's critical path; the form took 25.7 against ``gluon_ordered``'s 26.0 us there and 0.4% to 0.6%
more from 1x8192 (``benchmarks/results/h100-bench-ssd-diag-first-sums.json``), so ``auto`` keeps ``gluon_ordered``.
"""

from __future__ import annotations

from .ssd_sm90 import UNSPECIALIZED, gluon
from .tickets import chain_pending, ticket_decode, ticket_work, wait_chain

#: Slots of the ring of 64 x 64 tiles: 3 keeps a program in 74 KB (three an SM).
RING = 3
#: Registers a thread at most, so that three programs of 128 threads fit an SM's 65,536 (Triton 3.9 needs 179
#: for Bamba's shapes uncapped; at 168 it keeps about ten scalars on the stack, 40 bytes, read some 16 times).
MAX_REGISTERS = 168
#: Programs of the resident form (``gluon_stay``) an SM: as many as fit (74 KB and 168 registers a program).
RESIDENT = 3

if gluon is not None:
    from .ssd_sm90 import (
        _chunk_origin,
        _clock_after,
        _cta_barrier,
        _ex2,
        _hand_on,
        _pick,
        _row_buffers,
        _stage_rows,
        _staged_chunk,
        _store_rows,
        _tma_load,
        fence_async_shared,
        gl,
        mbarrier,
        warpgroup_mma,
        warpgroup_mma_wait,
    )

    @gluon.constexpr_function
    def _item(i, NB, NH, part):
        """Field ``part`` of what item ``i`` of the ring's sequence is: ``(0, j, half)`` B's rows j (a block of 64)
        and half of n, ``(1, m, half)`` C's, ``(2, m, k)`` the ``C B^T`` tile of output block m and column block k;
        the B tiles of the NB blocks first, then block by block NH tiles of C and m + 1 of ``C B^T``."""
        i, NB, NH, part = (getattr(v, "value", v) for v in (i, NB, NH, part))
        if i < NB * NH:
            fields = (0, i // NH, i % NH)
        else:
            i -= NB * NH
            m = 0
            while i >= NH + m + 1:
                i -= NH + m + 1
                m += 1
            fields = (1, m, i) if i < NH else (2, m, i - NH)
        return fields[part]

    @gluon.constexpr_function
    def _ring_items(NB, NH):
        """Items of the sequence: NB NH of B, NB NH of C, NB (NB + 1) / 2 of ``C B^T``."""
        NB, NH = (getattr(v, "value", v) for v in (NB, NH))
        return 2 * NB * NH + NB * (NB + 1) // 2

    @gluon.constexpr_function
    def _at(m, NB, NH, offset):
        """The place in the sequence of output block m's item ``offset``: its C tiles from 0, its ``C B^T``
        tiles from NH."""
        m, NB, NH, offset = (getattr(v, "value", v) for v in (m, NB, NH, offset))
        return NB * NH + m * NH + m * (m + 1) // 2 + offset

    @gluon.constexpr_function
    def _products_only(i, NB, NH, R, REFILL):
        """Whether the item the slot of item ``i`` held before (item ``i - R``) was read by tensor-core products
        only, so that its product's completion (waited for by the thread that asks for item ``i``) frees the slot
        for the whole warpgroup: with ``REFILL`` 1 the B and C tiles, with 2 the ``C B^T`` tiles below the diagonal
        too (``gluon_scaled``'s outputs); never the diagonal's (read into registers), nor a slot not used before."""
        i, NB, NH, R, REFILL = (getattr(v, "value", v) for v in (i, NB, NH, R, REFILL))
        if REFILL == 0 or i < R:
            return False
        kind, m, k = (_item(i - R, NB, NH, part) for part in range(3))
        return kind < 2 or (REFILL == 2 and k < m)

    @gluon.constexpr_function
    def _refill_mode(SCALED):
        """:func:`_products_only`'s ``REFILL`` for the slim kernel (one warpgroup): 2 with ``SCALED``, whose ``C B^T``
        tiles below the diagonal only products read, else 1."""
        return 2 if getattr(SCALED, "value", SCALED) else 1

    @gluon.jit
    def _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i: gl.constexpr, NB: gl.constexpr,
                   NH: gl.constexpr, R: gl.constexpr, REFILL: gl.constexpr = 0):
        """Ask TMA for item ``i`` of the sequence into slot ``i % R`` (nothing past its end), once every thread
        is done with what the slot held: after a barrier, or with ``REFILL`` where only products read it
        (:func:`_products_only`) without one of its own, as a warpgroup's product is complete for all of its warps
        once one has waited for it (a program of one warpgroup only)."""
        if i < _ring_items(NB, NH):
            kind: gl.constexpr = _item(i, NB, NH, 0)
            r: gl.constexpr = _item(i, NB, NH, 1)
            k: gl.constexpr = _item(i, NB, NH, 2)
            if not _products_only(i, NB, NH, R, REFILL):
                _cta_barrier()
            mbarrier.expect(bars[i % R], b_desc.block_type.nbytes)
            if kind == 0:
                _tma_load(b_desc, [row0 + r * 64, col0 + k * 64], bars[i % R], ring[i % R])
            elif kind == 1:
                _tma_load(c_desc, [row0 + r * 64, col0 + k * 64], bars[i % R], ring[i % R])
            else:
                _tma_load(cb_desc, [cb_row + r * 64, k * 64], bars[i % R], ring[i % R])

    @gluon.jit
    def _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i: gl.constexpr, NB: gl.constexpr,
                NH: gl.constexpr, R: gl.constexpr, REFILL: gl.constexpr = 0):
        """Item ``i`` is done with (its product or its read into registers): its slot takes item ``i + R``."""
        _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i + R, NB, NH, R, REFILL)

    @gluon.jit
    def _ring_wait(bars, i: gl.constexpr, R: gl.constexpr):
        """Wait for item ``i`` of the sequence to be in its slot."""
        mbarrier.wait(bars[i % R], (i // R) % 2)

    @gluon.constexpr_function
    def _acc_layout():
        """The accumulators' layout: every accumulator is 64 x 64 (a half of the state S^T, p x n/2, or an output
        block, rows x p), one warpgroup's."""
        return gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, 64, 16])

    @gluon.constexpr_function
    def _operand_layout():
        """The layout of a product's A operand in registers."""
        return gl.DotOperandLayout(operand_index=0, parent=_acc_layout(), k_width=2)

    @gluon.jit
    def _slim_buffers(x_desc, Q: gl.constexpr, N: gl.constexpr, R: gl.constexpr):
        """Shared memory: x's tiles (all of the chunk), the ring, E in halves of n; an mbarrier per x tile and per
        slot; each tile and mbarrier an allocation of its own (:func:`_ring_buffers`)."""
        NB: gl.constexpr = Q // 64
        xs, x_bars = _ring_buffers(x_desc, NB)
        ring, bars = _ring_buffers(x_desc, R)
        layout: gl.constexpr = x_desc.layout
        es = _tiles(x_desc.dtype, 64, 64, layout, N // 64)
        return xs, ring, es, x_bars, bars

    @gluon.jit
    def _tiles(dtype: gl.constexpr, rows: gl.constexpr, cols: gl.constexpr, layout: gl.constexpr,
               count: gl.constexpr):
        """``count`` tiles of ``rows`` x ``cols`` in shared memory, each its own allocation (a tuple, indexed by
        constants; see :func:`_ring_buffers`)."""
        tiles = ()
        for _ in gl.static_range(count):
            tiles = tiles + (gl.allocate_shared_memory(dtype, [rows, cols], layout),)
        return tiles

    @gluon.jit
    def _ring_buffers(desc, count: gl.constexpr):
        """``count`` tiles of ``desc`` (:func:`_tiles`) and an mbarrier a tile, each its own allocation. Triton's
        shared-memory hazard analysis takes an allocation as one buffer: with a ring's slots in one, each refill
        was preceded by two ``bar.sync`` (before the mbarrier's ``expect``, which the waits on any slot had read,
        and before the copy, whose slot a product of another slot's item had read); apart, by one. The slim
        kernel at Bamba-9B's shapes (offline sm_90 PTX, Triton 3.6): 102 ``bar.sync`` with one allocation each for
        the ring, its mbarriers, x's tiles, theirs and E; 64 with the ring's slots and mbarriers apart; 55 with x's
        tiles, their mbarriers and E's halves apart too."""
        shape: gl.constexpr = desc.block_type.shape
        layout: gl.constexpr = desc.layout
        return _tiles(desc.dtype, shape[0], shape[1], layout, count), _mbarriers(count)

    @gluon.jit
    def _mbarriers(count: gl.constexpr):
        """``count`` mbarriers, each its own allocation (a tuple; see :func:`_ring_buffers`)."""
        bars = ()
        for _ in gl.static_range(count):
            bars = bars + (gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout()),)
        return bars

    @gluon.jit
    def _slim_issue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, row0, x_col, col0, cb_row,
                    NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, cb_count=0, CB_WAIT: gl.constexpr = False):
        """A program's start: its barriers made, TMA asked for all of its chunk's x tiles (columns from ``x_col``)
        and the ring's first R items (with ``CB_WAIT``, a ``C B^T`` tile among them once the chunk's tiles are
        stored: :func:`_cb_gate`)."""
        for j in gl.static_range(NB):
            mbarrier.init(x_bars[j], count=1)
        for j in gl.static_range(R):
            mbarrier.init(bars[j], count=1)
        fence_async_shared()
        for j in gl.static_range(NB):
            mbarrier.expect(x_bars[j], x_desc.block_type.nbytes)
            _tma_load(x_desc, [row0 + j * 64, x_col], x_bars[j], xs[j])
        for i in gl.static_range(R):
            _cb_gate(cb_count, i, NB, NH, CB_WAIT)
            _ring_item(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, i, NB, NH, R)

    @gluon.jit
    def _cb_gate(cb_count, i: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, CB_WAIT: gl.constexpr):
        """With ``CB_WAIT`` (``gluon_fused``, whose ``C B^T`` tiles other programs of the launch store): before the
        ring's item ``i`` is asked for, if it is the chunk's first ``C B^T`` tile, wait until the count at
        ``cb_count`` says all of the chunk's NB (NB + 1) / 2 tiles are stored (an acquire), then order the TMA
        reads after what the acquire saw (:func:`_async_after_generic`). The first such tile is asked for at
        the program's start or once a B tile's product is done (its place, NB NH + NH, is at most NB NH - 1 + R
        with R = 3 and at most two halves of n), so the state's loop and the start are the only places it gates."""
        if CB_WAIT:
            if i == _at(0, NB, NH, NH):
                wait_chain(cb_count, 0, NB * (NB + 1) // 2)
                _async_after_generic(gl.program_id(0))

    @gluon.jit
    def _async_after_generic(v):
        """``fence.proxy.async.global``: global memory accesses of the generic proxy (plain loads and stores, the
        atomics) ordered with this thread's later (and earlier) ones of the async proxy (TMA), so that a tile
        another program stored with plain stores and announced by a release is what a TMA load then reads.
        ``v`` (an int32 scalar) only anchors the instruction."""
        gl.inline_asm_elementwise("fence.proxy.async.global; mov.u32 $0, $1;", "=r,r", [v], dtype=gl.int32,
                                  is_pure=False, pack=1)

    @gluon.jit
    def _slim_prologue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, cs_ptr, dtp_ptr, D_ptr, b, c, h, pb,
                       H, P, nchunks, row0, col0, cb_row, Q: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr,
                       R: gl.constexpr, HAS_D: gl.constexpr):
        """:func:`_slim_issue`, then the chunk's cs (base 2) and cs log2(e) - log2(dt') (what a column's weight
        subtracts) staged in shared memory, head h's D, and the barrier after: ``cs_sm, dt_sm, cs_end, c0, c1, c2, c3,
        d_h`` (``ssd_sm90._staged_chunk``'s, and D_h or 0)."""
        _slim_issue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, row0, h * P + pb * 64, col0, cb_row, NB,
                    NH, R)
        cs_sm, dt_sm, cs_end, c0, c1, c2, c3 = _staged_chunk(cs_ptr, dtp_ptr, ((b * H + h) * nchunks + c) * Q, Q,
                                                             True)
        d_h = 0.0
        if HAS_D:
            d_h = gl.load(D_ptr + h).to(gl.float32)
        _cta_barrier()
        return cs_sm, dt_sm, cs_end, c0, c1, c2, c3, d_h

    @gluon.jit
    def _slim_state(b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, dt_sm, cs_end, row0, col0, cb_row,
                    NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, wait_ptr=0, TIMED: gl.constexpr = False,
                    REFILL: gl.constexpr = 0, cb_count=0, CB_WAIT: gl.constexpr = False):
        """1. the chunk's own state in halves of n, S_half^T = sum_l x_l^T exp(cs_end - cs_l) dt'_l B_l,half: one
        A operand a block of rows, a product a half, each left in flight while the next is issued. ``TIMED``
        (``benchmarks/scan_phases.py``): the cycles spent waiting for x's tiles and for the ring's B tiles (each
        block's, waited for before its products) stored at ``wait_ptr`` and ``wait_ptr + 1``. ``CB_WAIT``: the refills
        gated by :func:`_cb_gate`."""
        o_layout: gl.constexpr = _acc_layout()
        oa_layout: gl.constexpr = _operand_layout()
        dtype: gl.constexpr = b_desc.dtype
        S0 = gl.zeros([64, 64], gl.float32, o_layout)
        S1 = gl.zeros([64, 64], gl.float32, o_layout)
        k_vec: gl.constexpr = gl.SliceLayout(0, oa_layout)
        a_prev = gl.zeros([64, 64], dtype, oa_layout)
        if TIMED:
            x_wait = (row0 * 0).to(gl.int64)
            ring_wait = (row0 * 0).to(gl.int64)
        for j in gl.static_range(NB):
            w = _ex2(cs_end - dt_sm.slice(j * 64, 64).load(k_vec))
            if TIMED:
                t0 = _clock_after(row0)
                mbarrier.wait(x_bars[j], 0)
                x_wait += _clock_after(row0) - t0
            mbarrier.wait(x_bars[j], 0)
            xt = xs[j].permute((1, 0)).load(oa_layout)
            a = (xt.to(gl.float32) * w[None, :]).to(dtype)
            if TIMED:
                t0 = _clock_after(row0)
                for half in gl.static_range(NH):
                    _ring_wait(bars, j * NH + half, R)
                ring_wait += _clock_after(row0) - t0
            S0, S1, a_prev = _state_block(a, a_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring,
                                          j, NB, NH, R, REFILL, cb_count, CB_WAIT)
        if TIMED:
            gl.store(wait_ptr, x_wait)
            gl.store(wait_ptr + 1, ring_wait)
        return _state_done(a_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, NB, NH, R,
                           REFILL, cb_count, CB_WAIT)

    @gluon.jit
    def _state_block(a, a_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, j: gl.constexpr,
                     NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, REFILL: gl.constexpr = 0, cb_count=0,
                     CB_WAIT: gl.constexpr = False):
        """Block j's products of the state, ``a`` (its A operand) times each half of n's B tile from the ring into
        ``S0`` and ``S1``, each left in flight while the next is issued; the slot of the product before is refilled
        once it is done. Returns the accumulators and ``a`` (the operand now in flight)."""
        for half in gl.static_range(NH):
            _ring_wait(bars, j * NH + half, R)
            if half == 0:
                S0 = warpgroup_mma(a, ring[(j * NH + half) % R], S0, is_async=True)
            else:
                S1 = warpgroup_mma(a, ring[(j * NH + half) % R], S1, is_async=True)
            # the product before this one is done: its slot takes the item R on
            S0, S1, a, a_prev = warpgroup_mma_wait(1, deps=[S0, S1, a, a_prev])
            if j * NH + half > 0:
                _cb_gate(cb_count, j * NH + half - 1 + R, NB, NH, CB_WAIT)
                _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, j * NH + half - 1, NB, NH, R, REFILL)
        return S0, S1, a

    @gluon.jit
    def _state_done(a_prev, S0, S1, b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, NB: gl.constexpr,
                    NH: gl.constexpr, R: gl.constexpr, REFILL: gl.constexpr = 0, cb_count=0,
                    CB_WAIT: gl.constexpr = False):
        """The state's last products waited for, the last B tile's slot refilled: ``S0, S1``."""
        S0, S1, a_prev = warpgroup_mma_wait(0, deps=[S0, S1, a_prev])
        _cb_gate(cb_count, NB * NH - 1 + R, NB, NH, CB_WAIT)
        _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, NB * NH - 1, NB, NH, R, REFILL)
        return S0, S1

    @gluon.jit
    def _slim_hand_off(S0, S1, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks, cs_end,
                       N: gl.constexpr, HAS_INIT: gl.constexpr, WAIT: gl.constexpr = True):
        """2. the hand-off, a half of n at a time, once the chain's previous chunk has announced its state (with
        ``WAIT``; the caller has waited otherwise). Reading both halves of E before either half's stores, and
        storing ``exp(cs_end) E + S`` on only after E is in shared memory, were tried and lost on an H100
        (``benchmarks/forms/ssd-hand-off-order.patch``)."""
        o_layout: gl.constexpr = _acc_layout()
        if WAIT:
            if c > 0:
                wait_chain(flag_ptr, chain, c)
        _hand_on(S0, o_layout, 0, 64, es[0], ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P,
                 nchunks, cs_end, 64, N, HAS_INIT, False)
        if N > 64:
            _hand_on(S1, o_layout, 64, 64, es[1], ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb,
                     H, P, nchunks, cs_end, 64, N, HAS_INIT, False)
        fence_async_shared()
        _cta_barrier()  # E in shared memory for the products, every thread's part of E' stored

    @gluon.jit
    def _waited(bars, first: gl.constexpr, count: gl.constexpr, R: gl.constexpr, h):
        """``TIMED`` hooks: the cycles spent waiting for the ring's items ``first`` to ``first + count - 1``."""
        t0 = _clock_after(h)
        for j in gl.static_range(count):
            _ring_wait(bars, first + j, R)
        return _clock_after(h) - t0

    @gluon.jit
    def _block_offsets():
        """Row and column offsets of a 64 x 64 output block: in the accumulators' layout (rows, columns of p),
        then in the A operand's (rows, columns)."""
        o_layout: gl.constexpr = _acc_layout()
        oa_layout: gl.constexpr = _operand_layout()
        return (gl.arange(0, 64, layout=gl.SliceLayout(1, o_layout)),
                gl.arange(0, 64, layout=gl.SliceLayout(0, o_layout)),
                gl.arange(0, 64, layout=gl.SliceLayout(1, oa_layout)),
                gl.arange(0, 64, layout=gl.SliceLayout(0, oa_layout)))

    @gluon.jit
    def _slim_outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr, chain,
                      y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q: gl.constexpr,
                      NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, HAS_D: gl.constexpr, wait_ptr=0,
                      TIMED: gl.constexpr = False, REFILL: gl.constexpr = 0):
        """3. the outputs, a block of 64 rows at a time: exp(cs_i) C_i E, then the C B^T tiles on and left of the
        diagonal scaled by exp(cs_i - cs_s) dt'_s (factorised through the block's first row left of it).
        ``TIMED`` (``benchmarks/scan_phases.py``): the cycles spent waiting for the ring's tiles (each waited for
        just before the helper that waits for it) stored at ``wait_ptr``, and the cycle counter at the end of
        each of the first four blocks at ``wait_ptr + 1 + m``."""
        o_layout: gl.constexpr = _acc_layout()
        oa_layout: gl.constexpr = _operand_layout()
        dtype: gl.constexpr = b_desc.dtype
        BM: gl.constexpr = 64
        offs_i, offs_p, offs_ai, offs_aj = _block_offsets()
        a_prev = gl.zeros([BM, BM], dtype, oa_layout)
        ring_wait = (h * 0).to(gl.int64)
        for m in gl.static_range(NB):
            acc, ring_wait = _block_start(b_desc, c_desc, cb_desc, ring, es, bars, flag_ptr, chain, c, nchunks, row0,
                                          col0, cb_row, h, ring_wait, m, NB, NH, R, TIMED, REFILL)
            cs_i = cs_sm.slice(m * BM, BM).load(gl.SliceLayout(1, o_layout))
            cs_m0 = _pick(m, c0, c1, c2, c3)
            cs_ai = cs_sm.slice(m * BM, BM).load(gl.SliceLayout(1, oa_layout))
            for k in gl.static_range(m + 1):
                dt_k = dt_sm.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout))
                if TIMED:
                    ring_wait += _waited(bars, _at(m, NB, NH, NH + k), 1, R, h)
                a = _cb_operand(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, cs_m0, cs_ai, dt_k, offs_ai,
                                offs_aj, oa_layout, m, k, NB, NH, R)
                if k == 0:  # the C E products are done: the last C tile's slot takes the item R on
                    acc = warpgroup_mma_wait(0, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, NH - 1), NB, NH, R,
                            REFILL)
                    acc = acc * gl.exp2(cs_m0)
                else:
                    acc, a_prev = warpgroup_mma_wait(0, deps=[acc, a_prev])
                if k == m:
                    acc = acc * _ex2(cs_i - cs_m0)[:, None]
                acc = warpgroup_mma(a, xs[k], acc, is_async=True)
                a_prev = a
            acc, a_prev = warpgroup_mma_wait(0, deps=[acc, a_prev])
            if HAS_D:
                acc += d_h * xs[m].load(o_layout).to(gl.float32)
            _block_end(acc, y_ptr, b, c, h, pb, L, s_y_b, s_y_l, s_y_h, offs_i, offs_p, wait_ptr, m, Q, NB, TIMED, False)
        if TIMED:
            gl.store(wait_ptr, ring_wait)

    @gluon.jit
    def _anchor(k: gl.constexpr, c0, c1, c2, c3):
        """The cs (base 2) the tiles of x below the diagonal are weighted to: 0 before the chunk (``k`` = 0), else
        block k's first row's."""
        if k == 0:
            r = c0 * 0.0
        else:
            r = _pick(k, c0, c1, c2, c3)
        return r

    @gluon.jit
    def _scaled_outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr,
                        chain, y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row,
                        Q: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, HAS_D: gl.constexpr,
                        wait_ptr=0, TIMED: gl.constexpr = False, REFILL: gl.constexpr = 0,
                        DIAG_FIRST: gl.constexpr = False, early=False, acc_d=0):
        """3. the outputs as :func:`_slim_outputs` forms them, but with x's tiles weighted once for the tiles below
        the diagonal: once output block k is stored, x's tile k in shared memory is replaced by
        ``x'_s = exp(a_(k+1) - cs_s) dt'_s x_s`` (``a_j``: the anchors, :func:`_anchor`), so that each ``C B^T``
        tile below the diagonal is a product as loaded, A and B both from shared memory, no registers. Block m's
        accumulator takes them by Horner's rule: ``C E`` first, then before product k it is scaled by
        ``exp(a_(k+1) - a_k)``, and before the diagonal one by ``exp(cs_i - a_m)`` a row; every exponent is at most
        0. The diagonal tile is scaled an element in registers as before, and multiplies x's tile as loaded.
        ``TIMED``: the waits and block stamps of :func:`_slim_outputs`. With ``DIAG_FIRST`` and ``early`` (the
        program formed block 0's diagonal product ``acc_d`` while it waited for the chain, :func:`_diag_first`),
        block 0 is ``exp(cs_i) C E + acc_d``."""
        o_layout: gl.constexpr = _acc_layout()
        BM: gl.constexpr = 64
        offs_i, offs_p, offs_ai, offs_aj = _block_offsets()
        ring_wait = (h * 0).to(gl.int64)
        for m in gl.static_range(NB):
            acc, ring_wait = _block_start(b_desc, c_desc, cb_desc, ring, es, bars, flag_ptr, chain, c, nchunks, row0,
                                          col0, cb_row, h, ring_wait, m, NB, NH, R, TIMED, REFILL)
            # the product in flight before each of block m's is item _at(m, NB, NH, NH + k - 1) (for k = 0, the last
            # C tile's): its slot is refilled once it is done
            for k in gl.static_range(m):  # below the diagonal: C B^T tile (m, k) times x'_k, both as stored
                if TIMED:
                    ring_wait += _waited(bars, _at(m, NB, NH, NH + k), 1, R, h)
                _ring_wait(bars, _at(m, NB, NH, NH + k), R)
                acc = warpgroup_mma_wait(0, deps=[acc])
                _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, NH + k - 1), NB, NH,
                        R, REFILL)
                acc = acc * gl.exp2(_anchor(k + 1, c0, c1, c2, c3) - _anchor(k, c0, c1, c2, c3))
                acc = warpgroup_mma(ring[_at(m, NB, NH, NH + k) % R], xs[k], acc, is_async=True)
            if DIAG_FIRST and m == 0:
                # (new names in the branches: with one half of n, acc is still the in-flight product's accumulator)
                if early:
                    cs_i = cs_sm.slice(0, BM).load(gl.SliceLayout(1, o_layout))
                    ce = warpgroup_mma_wait(0, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(0, NB, NH, NH - 1), NB, NH,
                            R, REFILL)
                    block = ce * _ex2(cs_i)[:, None] + acc_d
                else:  # the early branch's sum, so that y does not depend on whether the program waited
                    a = _diagonal_operand(b_desc, c_desc, cb_desc, ring, bars, cs_sm, dt_sm, row0, col0, cb_row,
                                          offs_ai, offs_aj, 0, NB, NH, R)
                    late_d = warpgroup_mma(a, xs[0], gl.zeros([64, 64], gl.float32, o_layout), use_acc=False,
                                           is_async=True)  # issued behind the C E product still in flight
                    cs_i = cs_sm.slice(0, BM).load(gl.SliceLayout(1, o_layout))
                    ce = warpgroup_mma_wait(1, deps=[acc])
                    _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(0, NB, NH, NH - 1), NB, NH,
                            R, REFILL)
                    late_d, a = warpgroup_mma_wait(0, deps=[late_d, a])
                    block = ce * _ex2(cs_i)[:, None] + late_d
                acc = block
            else:
                acc, ring_wait = _diagonal(acc, b_desc, c_desc, cb_desc, xs, ring, bars, cs_sm, dt_sm, c0, c1, c2,
                                           c3, row0, col0, cb_row, h, ring_wait, offs_ai, offs_aj, m, NB, NH, R, TIMED,
                                           REFILL)
            acc = _weigh_x(acc, xs, dt_sm, c0, c1, c2, c3, d_h, m, NB, HAS_D)
            _block_end(acc, y_ptr, b, c, h, pb, L, s_y_b, s_y_l, s_y_h, offs_i, offs_p, wait_ptr, m, Q, NB, TIMED, True)
        if TIMED:
            gl.store(wait_ptr, ring_wait)

    @gluon.jit
    def _weigh_x(acc, xs, dt_sm, c0, c1, c2, c3, d_h, m: gl.constexpr, NB: gl.constexpr, HAS_D: gl.constexpr):
        """The end of :func:`_scaled_outputs`' output block m: x's tile m weighted in place for the blocks below
        (once every warp has read it as loaded), and ``D x`` added to ``acc``; returns ``acc``."""
        o_layout: gl.constexpr = _acc_layout()
        if HAS_D or m + 1 < NB:
            xm = xs[m].load(o_layout).to(gl.float32)
        if m + 1 < NB:
            w = _ex2(_anchor(m + 1, c0, c1, c2, c3) - dt_sm.slice(m * 64, 64).load(gl.SliceLayout(1, o_layout)))
            _cta_barrier()
            xs[m].store((xm * w[:, None]).to(xs[m].dtype))
            fence_async_shared()
        if HAS_D:
            acc += d_h * xm
        return acc

    @gluon.jit
    def _diagonal_operand(b_desc, c_desc, cb_desc, ring, bars, cs_sm, dt_sm, row0, col0, cb_row, offs_ai, offs_aj,
                          m: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr):
        """Block m's ``C B^T`` tile on the diagonal as its product's A operand (:func:`_cb_operand`): weighted by
        ``exp(cs_i - cs_s) dt'_s`` an element, masked above the diagonal."""
        oa_layout: gl.constexpr = _operand_layout()
        cs_ai = cs_sm.slice(m * 64, 64).load(gl.SliceLayout(1, oa_layout))
        dt_m = dt_sm.slice(m * 64, 64).load(gl.SliceLayout(0, oa_layout))
        # (on the diagonal the operand's weights take the rows' cs, cs_ai; its cs_m0 argument goes unused)
        return _cb_operand(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, cs_ai, cs_ai, dt_m, offs_ai,
                           offs_aj, oa_layout, m, m, NB, NH, R)

    @gluon.jit
    def _diagonal(acc, b_desc, c_desc, cb_desc, xs, ring, bars, cs_sm, dt_sm, c0, c1, c2, c3, row0, col0, cb_row, h,
                  ring_wait, offs_ai, offs_aj, m: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr,
                  TIMED: gl.constexpr, REFILL: gl.constexpr):
        """:func:`_scaled_outputs`'s block m after its products below the diagonal (the last left in flight): its
        ``C B^T`` tile on the diagonal formed while that product runs (:func:`_diagonal_operand`), the accumulator
        scaled by ``exp(cs_i - a_m)`` a row, then the diagonal's product waited for. Returns the accumulator and
        ``ring_wait``."""
        o_layout: gl.constexpr = _acc_layout()
        if TIMED:
            ring_wait += _waited(bars, _at(m, NB, NH, NH + m), 1, R, h)
        a = _diagonal_operand(b_desc, c_desc, cb_desc, ring, bars, cs_sm, dt_sm, row0, col0, cb_row, offs_ai, offs_aj,
                              m, NB, NH, R)
        cs_i = cs_sm.slice(m * 64, 64).load(gl.SliceLayout(1, o_layout))
        acc = warpgroup_mma_wait(0, deps=[acc])
        _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, NH + m - 1), NB, NH, R,
                REFILL)
        acc = acc * _ex2(cs_i - _anchor(m, c0, c1, c2, c3))[:, None]
        acc = warpgroup_mma(a, xs[m], acc, is_async=True)
        acc, a = warpgroup_mma_wait(0, deps=[acc, a])
        return acc, ring_wait

    @gluon.jit
    def _diag_first(b_desc, c_desc, cb_desc, xs, ring, bars, cs_sm, dt_sm, flag_ptr, chain, c, row0, col0,
                    cb_row, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr):
        """``gluon_diag_first``'s wait for the chain: where the previous chunk has not yet announced its state
        (one look at its counter, :func:`.tickets.chain_pending`), block 0's diagonal product
        ``(C B^T (0, 0) * exp(cs_i - cs_s) dt'_s, masked) x_0`` is formed while the program waits, instead of on the
        outputs' path once the state has come (its ``C B^T`` tile, ring item ``_at(0, NB, NH, NH)``, is in the ring
        by the state's end). Returns ``early`` (whether it was) and the product (fp32, 0 where not); either way the
        chain's state is in its ring on return."""
        offs_i, offs_p, offs_ai, offs_aj = _block_offsets()
        early = c < 0
        if c > 0:
            early = chain_pending(flag_ptr, chain, c)
        acc_d = gl.zeros([64, 64], gl.float32, _acc_layout())
        if early:
            a = _diagonal_operand(b_desc, c_desc, cb_desc, ring, bars, cs_sm, dt_sm, row0, col0, cb_row, offs_ai,
                                  offs_aj, 0, NB, NH, R)
            acc_d = warpgroup_mma(a, xs[0], acc_d, use_acc=False, is_async=True)
            wait_chain(flag_ptr, chain, c)
            acc_d, a = warpgroup_mma_wait(0, deps=[acc_d, a])
        return early, acc_d

    @gluon.jit
    def _outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr, chain, y_ptr,
                 b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q: gl.constexpr, NB: gl.constexpr,
                 NH: gl.constexpr, R: gl.constexpr, HAS_D: gl.constexpr, SCALED: gl.constexpr, wait_ptr=0,
                 TIMED: gl.constexpr = False, REFILL: gl.constexpr = 0, DIAG_FIRST: gl.constexpr = False, early=False,
                 acc_d=0):
        """3. the outputs, by :func:`_scaled_outputs` with ``SCALED`` (``gluon_scaled``), else :func:`_slim_outputs`."""
        if SCALED:
            _scaled_outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr,
                            chain, y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH,
                            R, HAS_D, wait_ptr, TIMED, REFILL, DIAG_FIRST, early, acc_d)
        else:
            _slim_outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr,
                          chain, y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH, R,
                          HAS_D, wait_ptr, TIMED, REFILL)

    @gluon.jit
    def _after_state(S0, S1, b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, cs_end, d_h,
                     ring_ptr, init_ptr, final_ptr, flag_ptr, chain, y_ptr, b, c, h, pb, H, P, L, nchunks, s_y_b, s_y_l,
                     s_y_h, row0, col0, cb_row, Q: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr,
                     N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr, SCALED: gl.constexpr,
                     REFILL: gl.constexpr, DIAG_FIRST: gl.constexpr = False):
        """A slim program after its state's products (``S0``, ``S1``): with ``DIAG_FIRST`` the chain's wait
        (:func:`_diag_first`), the hand-off (:func:`_slim_hand_off`, which waits otherwise), then the outputs
        (:func:`_outputs`)."""
        early = False
        acc_d = 0
        if DIAG_FIRST:  # the chain waited for here, so the hand-off does not wait
            early, acc_d = _diag_first(b_desc, c_desc, cb_desc, xs, ring, bars, cs_sm, dt_sm, flag_ptr, chain, c, row0,
                                       col0, cb_row, NB, NH, R)
        _slim_hand_off(S0, S1, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks, cs_end, N,
                       HAS_INIT, not DIAG_FIRST)
        _outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr, chain, y_ptr,
                 b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH, R, HAS_D, SCALED, 0, False,
                 REFILL, DIAG_FIRST, early, acc_d)

    @gluon.jit
    def _block_start(b_desc, c_desc, cb_desc, ring, es, bars, flag_ptr, chain, c, nchunks, row0, col0, cb_row, h,
                     ring_wait, m: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr,
                     TIMED: gl.constexpr, REFILL: gl.constexpr):
        """Output block m's start in either output form: its ``C E`` products (:func:`_ce_products`) into a fresh
        accumulator; with ``TIMED`` the cycles spent waiting for its C tiles added to ``ring_wait`` first.
        Returns the accumulator and ``ring_wait``."""
        if TIMED:
            ring_wait += _waited(bars, _at(m, NB, NH, 0), NH, R, h)
        acc = _ce_products(gl.zeros([64, 64], gl.float32, _acc_layout()), b_desc, c_desc, cb_desc, ring, es, bars,
                           flag_ptr, chain, c, nchunks, row0, col0, cb_row, m, NB, NH, R, 1, REFILL)
        return acc, ring_wait

    @gluon.jit
    def _block_end(acc, y_ptr, b, c, h, pb, L, s_y_b, s_y_l, s_y_h, offs_i, offs_p, wait_ptr, m: gl.constexpr,
                   Q: gl.constexpr, NB: gl.constexpr, TIMED: gl.constexpr, WEIGHTED: gl.constexpr):
        """Output block m's end in either output form: its rows of y stored; with ``WEIGHTED`` (the scaled form,
        which has just weighted x's tile m in place) a barrier before a later block's product reads that tile; with
        ``TIMED`` the cycle counter stamped at ``wait_ptr + 1 + m`` (the first four blocks)."""
        pos = c * Q + m * 64 + offs_i
        _store_rows(y_ptr, acc, b, pos, h * s_y_h, pb * 64 + offs_p, L, s_y_b, s_y_l)
        if WEIGHTED:
            if m + 1 < NB:
                _cta_barrier()  # every thread's part of x'_m stored before a product reads it
        if TIMED:
            if m < 4:
                gl.store(wait_ptr + 1 + m, _clock_after(h))

    @gluon.jit
    def _ce_products(acc, b_desc, c_desc, cb_desc, ring, es, bars, flag_ptr, chain, c, nchunks, row0, col0, cb_row,
                     m: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr, R: gl.constexpr, CHAINS: gl.constexpr,
                     REFILL: gl.constexpr = 0):
        """Output block m's ``C E`` products into ``acc`` (C's tiles from the ring, E's halves of n from ``es``),
        the last left in flight; at block 0, once its first product is issued, the next chunk's counters of the
        ``CHAINS`` chains from ``chain`` released (the release's fence waits while the product runs)."""
        for half in gl.static_range(NH):
            _ring_wait(bars, _at(m, NB, NH, half), R)
            acc = warpgroup_mma(ring[_at(m, NB, NH, half) % R], es[half].permute((1, 0)), acc,
                                use_acc=half > 0, is_async=True)
            if m == 0 and half == 0 and c + 1 < nchunks:
                for k in gl.static_range(CHAINS):
                    gl.atomic_xchg(flag_ptr + chain + k, (c + 1).to(gl.int32), sem="release")
            if half > 0:  # the first half's product is done: its slot takes the item R on
                acc = warpgroup_mma_wait(1, deps=[acc])
                _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, half - 1), NB, NH, R,
                        REFILL)
        return acc

    @gluon.jit
    def _cb_operand(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, cs_m0, cs_ai, dt_k, offs_ai, offs_aj,
                    oa_layout: gl.constexpr, m: gl.constexpr, k: gl.constexpr, NB: gl.constexpr, NH: gl.constexpr,
                    R: gl.constexpr):
        """The A operand of output block m's product with x's tile k: its ``C B^T`` tile from the ring (the slot
        refilled once the tile is in registers) scaled by the decay weights, ``exp(cs_m0 - cs_s) dt'_s`` a column
        left of the diagonal (``cs_m0``: the block's first row's cs, base 2), ``exp(cs_i - cs_s) dt'_s`` an element
        on it (``cs_ai``: the block's rows' cs) with the causal mask; ``dt_k``: tile k's ``cs - log2(dt')``."""
        _ring_wait(bars, _at(m, NB, NH, NH + k), R)
        cb = ring[_at(m, NB, NH, NH + k) % R].load(oa_layout)
        # the tile is in registers: its slot takes the item R on
        _refill(b_desc, c_desc, cb_desc, row0, col0, cb_row, bars, ring, _at(m, NB, NH, NH + k), NB, NH, R)
        if k < m:
            wk = _ex2(cs_m0 - dt_k)[None, :]
        else:
            wk = _ex2(cs_ai[:, None] - dt_k[None, :])
        wt = cb * wk.to(cb.dtype)
        if k == m:
            wt = gl.where(offs_aj[None, :] <= offs_ai[:, None], wt, 0.0)
        return wt.to(cb.dtype)

    @gluon.jit
    def _work(ticket_ptr, H, n_pblocks, nchunks, I64: gl.constexpr, ORDERED: gl.constexpr):
        """The program's ``(batch, chunk, p block, head)``: by its ticket (:func:`.tickets.ticket_work`), or with
        ``ORDERED`` by its index in the launch, in the tickets' order (:func:`.tickets.ticket_decode`), which takes
        the ticket's atomic off the program's start. The chain's previous chunk then has a smaller index and is
        dispatched first where the GPU dispatches a grid's programs in index order, as NVIDIA's do (CUB's
        decoupled look-back scans, behind ``torch.cumsum``, rely on it too). The CUDA programming model does not
        promise that order, so the ticketed forms stay (``gluon_scaled`` is ``gluon_ordered``'s arithmetic with
        tickets)."""
        if ORDERED:
            b, c, pb, h = ticket_decode(gl.program_id(0), H, n_pblocks, nchunks, I64)
        else:
            b, c, pb, h = ticket_work(ticket_ptr, H, n_pblocks, nchunks, I64)
        return b, c, pb, h

    @gluon.jit
    def _slim_done(x_bars, bars, NB: gl.constexpr, R: gl.constexpr):
        for j in gl.static_range(NB):
            mbarrier.invalidate(x_bars[j])
        for j in gl.static_range(R):
            mbarrier.invalidate(bars[j])

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90_slim(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr,
                              flag_ptr, ticket_ptr, y_ptr, final_ptr,
                              L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l, s_y_h,
                              Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                              I64: gl.constexpr, R: gl.constexpr = 3, SCALED: gl.constexpr = False,
                              ORDERED: gl.constexpr = False, DIAG_FIRST: gl.constexpr = False):
        NB: gl.constexpr = Q // 64
        NH: gl.constexpr = N // 64  # halves of n: each B or C tile is 64 rows by 64 of n
        REFILL: gl.constexpr = _refill_mode(SCALED)
        b, c, pb, h = _work(ticket_ptr, H, n_pblocks, nchunks, I64, ORDERED)
        row0, col0, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)
        xs, ring, es, x_bars, bars = _slim_buffers(x_desc, Q, N, R)
        cs_sm, dt_sm, cs_end, c0, c1, c2, c3, d_h = _slim_prologue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars,
                                                                   bars, cs_ptr, dtp_ptr, D_ptr, b, c, h, pb, H, P,
                                                                   nchunks, row0, col0, cb_row, Q, NB, NH, R, HAS_D)
        S0, S1 = _slim_state(b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, dt_sm, cs_end, row0, col0, cb_row, NB,
                             NH, R, 0, False, REFILL)
        chain = (b * n_pblocks + pb) * H + h
        gl.static_assert(SCALED or not DIAG_FIRST, "DIAG_FIRST takes SCALED's outputs")
        _after_state(S0, S1, b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, cs_end, d_h,
                     ring_ptr, init_ptr, final_ptr, flag_ptr, chain, y_ptr, b, c, h, pb, H, P, L, nchunks, s_y_b, s_y_l,
                     s_y_h, row0, col0, cb_row, Q, NB, NH, R, N, HAS_D, HAS_INIT, SCALED, REFILL, DIAG_FIRST)
        _slim_done(x_bars, bars, NB, R)

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90_stay(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr,
                              flag_ptr, ticket_ptr, y_ptr, final_ptr,
                              L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l, s_y_h, tickets,
                              Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                              I64: gl.constexpr, R: gl.constexpr = 3):
        """The slim program resident: it works through tickets until they run out (``tickets`` in all), taking its
        next one while the outputs of the current one are formed, so that the ticket's atomic is not on the way of
        a program's start. Each ticket is the slim kernel's program, its barriers made anew. Measured on an H100
        (``benchmarks/results/h100-ssd-gluon-stay.json``): 1.08x to 1.15x the slim kernel's time, the loop keeping
        its invariants live (231 registers uncapped, 160 bytes spilled at 168)."""
        NB: gl.constexpr = Q // 64
        NH: gl.constexpr = N // 64
        xs, ring, es, x_bars, bars = _slim_buffers(x_desc, Q, N, R)
        cs_sm, dt_sm = _row_buffers(Q)
        t = gl.atomic_add(ticket_ptr, 1)
        while t < tickets:
            b, c, pb, h = ticket_decode(t, H, n_pblocks, nchunks, I64)
            row0, col0, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)
            _slim_issue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, row0, h * P + pb * 64, col0, cb_row,
                        NB, NH, R)
            cs_end, c0, c1, c2, c3 = _stage_rows(cs_sm, dt_sm, cs_ptr, dtp_ptr, ((b * H + h) * nchunks + c) * Q, Q,
                                                 True)
            d_h = 0.0
            if HAS_D:
                d_h = gl.load(D_ptr + h).to(gl.float32)
            _cta_barrier()
            S0, S1 = _slim_state(b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, dt_sm, cs_end, row0, col0, cb_row,
                                 NB, NH, R)
            chain = (b * n_pblocks + pb) * H + h
            _slim_hand_off(S0, S1, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks,
                           cs_end, N, HAS_INIT)
            t_next = gl.atomic_add(ticket_ptr, 1)  # in flight while this chunk's outputs are formed
            _slim_outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr,
                          chain, y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH, R,
                          HAS_D)
            _cta_barrier()  # every thread past its last wait and read before the barriers and buffers are made anew
            _slim_done(x_bars, bars, NB, R)
            t = t_next
