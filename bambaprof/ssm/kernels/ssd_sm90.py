"""The chunk scan of the ``triton`` variant written for Hopper (sm_90) in Gluon, Triton's tile-level language.

It does what :func:`bambaprof.ssm.kernels.ssd._chunk_scan` does (same inputs from ``_chunk_prep``, the same
tickets, hand-off ring and counters, the same outputs), with the data movement and the tensor-core products
spelled out instead of left to Triton's compiler:

- at its start a program asks the TMA unit for its chunk's rows of ``x`` (its block of 64 of the head dim),
  which stay in shared memory for the whole program, for its first tiles of ``B`` (a two-slot ring that
  ``C``'s tiles take over once the state is formed) and for its first tiles of ``C B^T`` (a three-slot ring,
  each slot refilled three tiles ahead), so that loads are asked for well before their products; its chunk's
  ``dt'`` and ``cs`` (cs in base 2) go to shared memory once, so no product waits on a global load;
- every product is a warpgroup MMA (``wgmma``) whose B operand is one of those tiles as loaded; the decay
  weights go on the A operand, formed in registers: ``x^T`` scaled by ``exp(cs_end - cs_l) dt'_l`` for the
  chunk's state, and ``C B^T`` scaled by ``exp(cs_l - cs_s) dt'_s`` (with the causal mask on the diagonal
  tile; left of it factorised through the block's first row unless ``FACTOR`` is off) for the outputs, so
  that each factor is at most 1 where A <= 0 and nothing overflows; each exponential is one ``ex2``; the forms
  of :data:`FORMS` leave a product in flight while the next A operand is formed (``ASYNC``), scale the
  outputs' tiles in bf16 pairs (``PACKED``), add ``D x`` through the tensor cores (``DMMA``), fold ``dt'`` into
  each weight's exponent (``LG2``) or release the next chunk's counter once the first output product is issued
  (``LATE``);
- ``y_l = exp(cs_l) C_l E + sum_(s<=l) (C_l . B_s) exp(cs_l - cs_s) dt'_s x_s + D x_l``, one block of 64 rows
  at a time; ``E`` (the state entering the chunk, from the chain's previous program) is written once to shared
  memory in the input dtype.

It serves bf16 inputs (fp16's ``C B^T`` is fp32) with a head dim that is a multiple of 64, a state of 64 or
128 and a chunk that is a multiple of 64 up to 256, where x, B and C can be read through 2-D TMA descriptors
(rows of every batch evenly spaced, last dimension contiguous, 16-byte aligned). Rows past the sequence in the
last chunk are read from the next batch (or zero-filled past the tensor); their ``dt'`` is 0, so they add
nothing (as long as they are finite). Gluon has no interpreter: on the CPU the Triton kernel is what runs and
is tested. The form ``gluon_slim`` runs :mod:`.ssd_sm90_slim`'s kernel instead: the same arithmetic in 74 KB of
shared memory, three programs an SM.
"""

from __future__ import annotations

import functools
from typing import Any, List, Optional, Tuple

import torch

from .grid import register_cap
from .tickets import ticket_work, wait_chain

try:  # Gluon: Triton 3.5 and later
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (
        fence_async_shared,
        mbarrier,
        tma,
        warpgroup_mma,
        warpgroup_mma_wait,
    )
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    #: TMA's global-to-shared copy: ``async_copy_global_to_shared`` up to Triton 3.6, ``async_load`` later
    _tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
    #: A barrier of the program's threads: ``thread_barrier`` up to Triton 3.6, ``barrier`` later
    _cta_barrier = getattr(gl, "thread_barrier", None) or gl.barrier
except ImportError:  # pragma: no cover - older Triton
    gluon = None


#: Rows of a tile (positions of the chunk) and columns of the head dim a program covers.
BLOCK = 64

#: Arguments of the Gluon scan kernels that Triton must not specialize on (``do_not_specialize``): with one chunk
#: (``nchunks`` = 1, a sequence of at most one chunk) Triton 3.6 made the count a constant and failed to lower every
#: form's kernel to LLVM (an assertion in ``ConvertTritonGPUToLLVM``), so a forward of up to 256 positions with the
#: Gluon scan did not compile; kept a runtime value, it compiles (``tests/ssm/test_gpu_ssd_sm90.py`` runs every form
#: on one chunk; ``tests/ssm/test_ssd_sm90_host.py`` checks the declaration, as Triton 3.9 compiles either way).
UNSPECIALIZED = ["nchunks"]

#: The forms of the kernel by ``LaunchConfig.scan_kernel``: ``factor``, the decay left of the diagonal factorised
#: through each block's first row (else 2-D on every tile); ``pipelined``, each product asynchronous, its
#: successor's A operand formed while it runs (else every product waited for as issued); ``packed``, the outputs'
#: ``C B^T`` tiles scaled in bf16 pairs (Hopper's packed multiply) by weights rounded to bf16, instead of in fp32;
#: ``d_mma``, the skip ``D x`` as two small tensor-core products chained behind each block's diagonal tile (``diag``
#: of D's bf16 part, then of the rest), instead of x's tile read into registers and multiplied elementwise;
#: ``lg2``, each column's ``dt'`` folded into its exponent (``exp(-cs_s) dt'_s = 2 ** (-cs_s log2(e) + log2(dt'_s))``,
#: one ``lg2`` a position when the chunk is read), so that a weight is one subtraction and one ``ex2``, no multiply;
#: ``late``, the state handed to the next chunk announced (its counter's release, whose fence waits for the stores)
#: once the first output product is issued, instead of before the outputs begin; ``slim``, the arithmetic of
#: ``gluon_late`` by :mod:`.ssd_sm90_slim`'s kernel: one ring of 64 x 64 tiles, 74 KB a program, three an SM;
#: ``pair``, the same arithmetic by :mod:`.ssd_sm90_pair`'s kernel: two heads a program, each shared tile read once
#: for both (where the head dim is 64 and a group's heads are even; the slim kernel elsewhere); ``wide``, the same
#: arithmetic by :mod:`.ssd_sm90_wide`'s kernel: one head over two warpgroups, each doing half of every phase (where
#: the chunk is a multiple of 128 and the state 128; the slim kernel elsewhere). Both are slower than ``slim`` on an
#: H100 (1.09x to 1.37x and 1.04x to 1.22x its kernel time at Bamba-9B's shapes); ``stay``, the slim kernel's
#: programs resident (three an SM), each taking ticket after ticket and its next one while the current one's outputs
#: are formed: 1.08x to 1.15x slim's kernel time on an H100 (the loop's values spill at 168 registers); ``scaled``,
#: with ``slim``: x's tiles weighted once for the ``C B^T`` tiles below the diagonal, which are then products of
#: shared memory as loaded, taken by Horner's rule (:func:`.ssd_sm90_slim._scaled_outputs`); ``ordered``, with ``slim``
#: (not ``stay``): each program's work from its index in the launch instead of a ticket (:func:`.ssd_sm90_slim._work`);
#: ``diag_first``, with ``scaled``: a program whose chain has not yet handed its state on forms output block 0's
#: diagonal product while it waits (:func:`.ssd_sm90_slim._diag_first`).
FORMS = {"gluon": dict(factor=True, pipelined=False), "gluon_2d": dict(factor=False, pipelined=False),
         "gluon_async": dict(factor=True, pipelined=True),
         "gluon_packed": dict(factor=True, pipelined=True, packed=True),
         "gluon_lean": dict(factor=True, pipelined=True, packed=True, d_mma=True),
         "gluon_lg2": dict(factor=True, pipelined=True, packed=True, lg2=True),
         "gluon_late": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True),
         "gluon_slim": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True),
         "gluon_pair": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, pair=True),
         "gluon_wide": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, wide=True),
         "gluon_stay": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True, stay=True),
         "gluon_scaled": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True, scaled=True),
         "gluon_ordered": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True, scaled=True,
                               ordered=True),
         "gluon_diag_first": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True,
                                  scaled=True, ordered=True, diag_first=True),
         "gluon_fused": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True, scaled=True,
                             ordered=True, fused=True),
         "gluon_fused_diag_first": dict(factor=True, pipelined=True, packed=True, lg2=True, late=True, slim=True,
                                        scaled=True, ordered=True, diag_first=True, fused=True)}

if gluon is not None:

    @gluon.jit
    def _ring_load(desc, r0, c0, bars, bufs, i: gl.constexpr, SLOTS: gl.constexpr, LIMIT: gl.constexpr):
        """Item ``i`` of a static sequence of tiles into slot ``i % SLOTS`` of a ring (nothing past ``LIMIT``),
        once every thread is done with the item that slot held."""
        if i < LIMIT:
            _cta_barrier()
            mbarrier.expect(bars.index(i % SLOTS), desc.block_type.nbytes)
            _tma_load(desc, [r0, c0], bars.index(i % SLOTS), bufs.index(i % SLOTS))

    @gluon.jit
    def _cb_tile(cb_desc, cb_row, bars, bufs, i: gl.constexpr, NB: gl.constexpr):
        """Item ``i`` of the C B^T tiles in the order the outputs use them: block m's tiles 0..m, m = 0, 1, ..."""
        if i < NB * (NB + 1) // 2:
            m: gl.constexpr = _tile_row(i)
            k: gl.constexpr = i - m * (m + 1) // 2
            _ring_load(cb_desc, cb_row + m * 64, k * 64, bars, bufs, i, 3, NB * (NB + 1) // 2)

    @gluon.constexpr_function
    def _tile_row(i):
        m = 0
        while (m + 1) * (m + 2) // 2 <= i:
            m += 1
        return m

    @gluon.jit
    def _bc_tile(b_desc, c_desc, row0, g, bars, bufs, i: gl.constexpr, NB: gl.constexpr, N: gl.constexpr):
        """Item ``i`` of B's tiles then C's (2 NB of them) into the two-slot ring they share."""
        if i < NB:
            _ring_load(b_desc, row0 + i * 64, g * N, bars, bufs, i, 2, 2 * NB)
        else:
            _ring_load(c_desc, row0 + (i - NB) * 64, g * N, bars, bufs, i, 2, 2 * NB)

    @gluon.jit
    def _ex2(x):
        """``2 ** x`` elementwise, one ``MUFU.EX2`` (``ex2.approx.ftz``: results below 2**-126 flush to 0, which a
        decay weight at most 1 loses nothing by), where ``gl.exp`` adds a scaling and a range check around it."""
        return gl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=gl.float32, is_pure=True,
                                         pack=1)

    @gluon.jit
    def _clock_after(v):
        """The SM's cycle counter (``%clock64``), read once ``v`` (an int32 scalar) is in a register: the phase
        stamps of ``benchmarks/scan_phases.py`` (the kernels' ``TIMED`` hooks)."""
        return gl.inline_asm_elementwise("mov.u64 $0, %clock64;", "=l,r", [v], dtype=gl.int64, is_pure=False,
                                         pack=1)

    @gluon.jit
    def _lg2(x):
        """``log2(x)`` elementwise, one ``MUFU.LG2`` (``lg2.approx.ftz.f32``: 0 gives -inf)."""
        return gl.inline_asm_elementwise("lg2.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=gl.float32, is_pure=True,
                                         pack=1)

    @gluon.constexpr_function
    def _clamped(j, n):
        return min(j, n - 1)

    @gluon.jit
    def _store_rows(y_ptr, acc, b, pos, head, cols, L, s_y_b, s_y_l):
        """An output block ``acc`` into batch b's y in y's dtype: rows ``pos`` (the chunk's positions, those past
        ``L`` left out) by columns ``head + cols`` (offsets: the head's first, then the block's)."""
        yp = y_ptr + b * s_y_b + pos[:, None] * s_y_l + head + cols[None, :]
        gl.store(yp, acc.to(y_ptr.dtype.element_ty), mask=(pos < L)[:, None])

    @gluon.jit
    def _pick(m: gl.constexpr, a0, a1, a2, a3):
        """``(a0, a1, a2, a3)[m]`` for a compile-time ``m``."""
        if m == 0:
            r = a0
        elif m == 1:
            r = a1
        elif m == 2:
            r = a2
        else:
            r = a3
        return r

    @gluon.jit
    def _staged_chunk(cs_ptr, dtp_ptr, base, Q: gl.constexpr, LG2: gl.constexpr, WARPS: gl.constexpr = 4):
        """A chunk's ``cs`` in base 2 (``cs log2(e)``) and its ``dt'`` (with ``LG2``: ``cs log2(e) - log2(dt')``,
        what a column's weight subtracts, +inf where dt' = 0 so that its weight is 0) in shared memory, from the
        rows at ``base``; with ``cs`` (base 2) at the chunk's end and at the first row of each of its blocks of 64
        (positions past L have dt' = 0, so the end is the last one's). One round trip to L2 while the TMA loads
        are in flight; the caller waits at a barrier before any thread reads them. ``WARPS``: the program's warps."""
        cs_sm, dt_sm = _row_buffers(Q)
        cs_end, c0, c1, c2, c3 = _stage_rows(cs_sm, dt_sm, cs_ptr, dtp_ptr, base, Q, LG2, WARPS)
        return cs_sm, dt_sm, cs_end, c0, c1, c2, c3

    @gluon.jit
    def _row_buffers(Q: gl.constexpr):
        """Shared memory for a chunk's ``cs`` and ``dt'`` rows (fp32, the chunk rounded up to 64, 128 or 256)."""
        NB: gl.constexpr = Q // 64
        NB2: gl.constexpr = 1 if NB == 1 else (2 if NB == 2 else 4)
        vec_smem: gl.constexpr = gl.SwizzledSharedLayout(vec=1, per_phase=1, max_phase=1, order=[0])
        return (gl.allocate_shared_memory(gl.float32, [NB2 * 64], vec_smem),
                gl.allocate_shared_memory(gl.float32, [NB2 * 64], vec_smem))

    @gluon.jit
    def _stage_rows(cs_sm, dt_sm, cs_ptr, dtp_ptr, base, Q: gl.constexpr, LG2: gl.constexpr,
                    WARPS: gl.constexpr = 4):
        """What :func:`_staged_chunk` stages, into buffers the caller made (:func:`_row_buffers`): the chunk's rows
        stored there, its ``cs`` (base 2) at its end and at each block's first row returned."""
        LOG2E: gl.constexpr = 1.4426950408889634
        BM: gl.constexpr = 64
        NB: gl.constexpr = Q // BM
        NB2: gl.constexpr = 1 if NB == 1 else (2 if NB == 2 else 4)
        offs = gl.arange(0, NB2 * BM, layout=gl.BlockedLayout([8 // WARPS], [32], [WARPS], [0]))
        cs_rows = gl.load(cs_ptr + base + offs, mask=offs < Q, other=0.0) * LOG2E
        cs_sm.store(cs_rows)
        dt_rows = gl.load(dtp_ptr + base + offs, mask=offs < Q, other=0.0)
        if LG2:
            dt_rows = cs_rows - _lg2(dt_rows)
        dt_sm.store(dt_rows)
        cs_end = gl.load(cs_ptr + base + Q - 1) * LOG2E
        c0 = gl.load(cs_ptr + base) * LOG2E
        c1 = gl.load(cs_ptr + base + _clamped(1, NB) * BM) * LOG2E
        c2 = gl.load(cs_ptr + base + _clamped(2, NB) * BM) * LOG2E
        c3 = gl.load(cs_ptr + base + _clamped(3, NB) * BM) * LOG2E
        return cs_end, c0, c1, c2, c3

    @gluon.jit
    def _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q: gl.constexpr, N: gl.constexpr):
        """Where chunk ``c`` of batch ``b`` starts for head ``h``: its first row in x, B and C read as (b L, ...),
        its group's first column of B and C, and its first row of ``C B^T`` (all int32, as TMA takes them)."""
        g = h // heads_per_group
        return ((b * L + c * Q).to(gl.int32), (g * N).to(gl.int32),
                (((b * nchunks + c) * G + g) * Q).to(gl.int32))

    @gluon.jit
    def _hand_on(S, layout: gl.constexpr, col0: gl.constexpr, W: gl.constexpr, es, ring_ptr, init_ptr, final_ptr,
                 flag_ptr, chain, b, h, c, pb, H, P, nchunks, cs_end, BP: gl.constexpr, N: gl.constexpr,
                 HAS_INIT: gl.constexpr, WAIT: gl.constexpr):
        """Columns ``col0 .. col0 + W`` of n of the state hand-off (with ``WAIT``, once the chain's previous chunk
        has announced its state on its counter; the caller has waited otherwise): E (the state entering the
        chunk, from the chain's two-slot ring, or the initial state) to
        ``es`` in its dtype, and ``E' = exp(cs_end) E + S`` (``S`` the chunk's own state, p x W fp32 in
        ``layout``) on to the ring (or out as the final state). The caller releases the next chunk's counter."""
        if WAIT:
            if c > 0:
                wait_chain(flag_ptr, chain, c)
        E = _hand_load(layout, col0, W, ring_ptr, init_ptr, chain, b, h, c, pb, H, P, BP, N, HAS_INIT)
        _hand_store(E, S, layout, col0, W, es, ring_ptr, final_ptr, chain, b, h, c, pb, H, P, nchunks, cs_end, BP,
                    N)

    @gluon.jit
    def _hand_load(layout: gl.constexpr, col0: gl.constexpr, W: gl.constexpr, ring_ptr, init_ptr, chain, b, h, c,
                   pb, H, P, BP: gl.constexpr, N: gl.constexpr, HAS_INIT: gl.constexpr):
        """Columns ``col0 .. col0 + W`` of n of E, the state entering chunk ``c`` (p x W fp32 in ``layout``): from
        the chain's two-slot ring (the caller has waited for the chain's counter), or the initial state (or 0)."""
        offs_p = gl.arange(0, BP, layout=gl.SliceLayout(1, layout))
        offs_n = col0 + gl.arange(0, W, layout=gl.SliceLayout(0, layout))
        if c == 0:
            if HAS_INIT:
                pn = (b * H + h) * P * N + (pb * BP + offs_p[:, None]) * N + offs_n[None, :]
                E = gl.load(init_ptr + pn)
            else:
                E = gl.zeros([BP, W], gl.float32, layout)
        else:
            tile = offs_p[:, None] * N + offs_n[None, :]
            E = gl.load(ring_ptr + chain * 2 * BP * N + tile + (c % 2) * BP * N, cache_modifier=".cg")
        return E

    @gluon.jit
    def _hand_store(E, S, layout: gl.constexpr, col0: gl.constexpr, W: gl.constexpr, es, ring_ptr, final_ptr, chain,
                    b, h, c, pb, H, P, nchunks, cs_end, BP: gl.constexpr, N: gl.constexpr):
        """The rest of :func:`_hand_on` for E's columns ``col0 .. col0 + W`` (from :func:`_hand_load`): E to ``es``
        in its dtype, ``E' = exp(cs_end) E + S`` on to the chain's ring (or out as the final state)."""
        offs_p = gl.arange(0, BP, layout=gl.SliceLayout(1, layout))
        offs_n = col0 + gl.arange(0, W, layout=gl.SliceLayout(0, layout))
        es.store(E.to(es.dtype))
        E = E * gl.exp2(cs_end) + S
        if c + 1 < nchunks:
            tile = offs_p[:, None] * N + offs_n[None, :]
            gl.store(ring_ptr + chain * 2 * BP * N + tile + ((c + 1) % 2) * BP * N, E)
        else:
            pn = (b * H + h) * P * N + (pb * BP + offs_p[:, None]) * N + offs_n[None, :]
            gl.store(final_ptr + pn, E)

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _chunk_scan_sm90(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr, flag_ptr,
                         ticket_ptr, y_ptr, final_ptr,
                         L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l, s_y_h,
                         Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                         I64: gl.constexpr, FACTOR: gl.constexpr, ASYNC: gl.constexpr,
                         PACKED: gl.constexpr, DMMA: gl.constexpr = False, LG2: gl.constexpr = False,
                         LATE: gl.constexpr = False):
        BM: gl.constexpr = 64
        BP: gl.constexpr = 64
        NB: gl.constexpr = Q // BM
        dtype: gl.constexpr = x_desc.dtype
        # the state S^T (p x n) and an output block (rows x p) as wgmma accumulators; A operands in registers
        s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                           instr_shape=[16, N, 16])
        o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                           instr_shape=[16, BP, 16])
        sa_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=s_layout, k_width=2)
        oa_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
        e_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BP, N], dtype)

        # ticket -> (batch, chunk, p block, head), batch slowest: the program a chunk waits for has started
        b, c, pb, h = ticket_work(ticket_ptr, H, n_pblocks, nchunks, I64)
        g = h // heads_per_group  # B's and C's tiles here are 64 x n: their column is g N
        row0, _, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)

        # shared memory: x's tiles (all of the chunk), a two-slot ring for B's then C's tiles, a three-slot ring
        # for the C B^T tiles, E; barriers: one per x tile, one per slot of each ring
        xs = gl.allocate_shared_memory(dtype, [NB, BM, BP], x_desc.layout)
        bcs = gl.allocate_shared_memory(dtype, [2, BM, N], b_desc.layout)
        cbs = gl.allocate_shared_memory(dtype, [3, BM, BM], cb_desc.layout)
        es = gl.allocate_shared_memory(dtype, [BP, N], e_layout)
        x_bars = gl.allocate_shared_memory(gl.int64, [NB, 1], mbarrier.MBarrierLayout())
        bc_bars = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
        cb_bars = gl.allocate_shared_memory(gl.int64, [3, 1], mbarrier.MBarrierLayout())
        for j in gl.static_range(NB):
            mbarrier.init(x_bars.index(j), count=1)
        for j in gl.static_range(2):
            mbarrier.init(bc_bars.index(j), count=1)
        for j in gl.static_range(3):
            mbarrier.init(cb_bars.index(j), count=1)
        fence_async_shared()
        for j in gl.static_range(NB):
            mbarrier.expect(x_bars.index(j), x_desc.block_type.nbytes)
            _tma_load(x_desc, [row0 + j * BM, h * P + pb * BP], x_bars.index(j), xs.index(j))
        for i in gl.static_range(2):
            _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, i, NB, N)
        for i in gl.static_range(3):  # the outputs' first tiles of C B^T arrive while the state is formed
            _cb_tile(cb_desc, cb_row, cb_bars, cbs, i, NB)

        # the chunk's dt' and cs (cs in base 2: cs log2(e), so that every decay is one ex2) go to shared memory
        # once; each tile's factors are read from there (a global load in the loops would put a round trip to L2
        # before every product)
        cs_sm, dt_sm, cs_end, c0, c1, c2, c3 = _staged_chunk(cs_ptr, dtp_ptr, ((b * H + h) * nchunks + c) * Q, Q,
                                                             LG2)
        if HAS_D:
            d_h = gl.load(D_ptr + h).to(gl.float32)
        _cta_barrier()  # dt' and cs are in shared memory before any thread reads them

        # 1. the chunk's own state, S^T = sum_l x_l^T exp(cs_end - cs_l) dt'_l B_l (p x n): x^T is the A operand,
        # scaled in registers, B goes to the product as loaded
        S = gl.zeros([BP, N], gl.float32, s_layout)
        k_vec: gl.constexpr = gl.SliceLayout(0, sa_layout)
        a_prev = gl.zeros([BP, BM], dtype, sa_layout)  # the A operand of the product in flight (when ASYNC)
        for j in gl.static_range(NB):
            if LG2:
                w = _ex2(cs_end - dt_sm.slice(j * BM, BM).load(k_vec))
            else:
                w = _ex2(cs_end - cs_sm.slice(j * BM, BM).load(k_vec)) * dt_sm.slice(j * BM, BM).load(k_vec)
            mbarrier.wait(x_bars.index(j), 0)
            xt = xs.index(j).permute((1, 0)).load(sa_layout)
            a = (xt.to(gl.float32) * w[None, :]).to(dtype)  # in fp32: the state's rounding carries to later chunks
            if ASYNC and j > 0:  # the previous product (formed while this operand was) is done: refill its slot
                S, a_prev = warpgroup_mma_wait(0, deps=[S, a_prev])
                _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, j + 1, NB, N)
            mbarrier.wait(bc_bars.index(j % 2), (j // 2) % 2)
            S = warpgroup_mma(a, bcs.index(j % 2), S, is_async=ASYNC)
            if ASYNC:
                a_prev = a
            else:
                _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, j + 2, NB, N)  # the slot is free: the tile after next
        if ASYNC:
            S, a_prev = warpgroup_mma_wait(0, deps=[S, a_prev])
            _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, NB + 1, NB, N)

        # 2. the state entering the chunk, from the chain's previous chunk (or the initial state), and the one
        # leaving it, E' = exp(cs_end) E + S, handed on through the chain's two-slot ring (p x n, fp32)
        chain = (b * n_pblocks + pb) * H + h
        _hand_on(S, s_layout, 0, N, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks,
                 cs_end, BP, N, HAS_INIT, True)
        if not LATE and c + 1 < nchunks:
            _cta_barrier()  # every thread's part is stored before the counter says so
            gl.atomic_xchg(flag_ptr + chain, (c + 1).to(gl.int32), sem="release")
        fence_async_shared()
        _cta_barrier()  # E in shared memory for the products; with LATE also the ring's part of every thread stored

        # 3. the outputs, a block of BM rows at a time: exp(cs_i) C_i E, then the tiles of C B^T on and left of
        # the diagonal, each scaled by exp(cs_i - cs_s) dt'_s (masked on the diagonal), times x's tiles as loaded
        offs_i = gl.arange(0, BM, layout=gl.SliceLayout(1, o_layout))
        offs_p = gl.arange(0, BP, layout=gl.SliceLayout(0, o_layout))
        offs_ai = gl.arange(0, BM, layout=gl.SliceLayout(1, oa_layout))
        offs_aj = gl.arange(0, BM, layout=gl.SliceLayout(0, oa_layout))
        if HAS_D and DMMA:
            # D x on the tensor cores: diag(D) as two bf16 A operands, D rounded to bf16 and the rest of it (so the
            # two products carry about 16 bits of D), times each block's x tile as loaded, chained behind the
            # diagonal tile's product (after every row factor); formed once, live for the whole output phase
            d_hi = d_h.to(dtype).to(gl.float32)
            on_diagonal = offs_aj[None, :] == offs_ai[:, None]
            a_dhi = gl.where(on_diagonal, d_hi, 0.0).to(dtype)
            a_dlo = gl.where(on_diagonal, d_h - d_hi, 0.0).to(dtype)
        for m in gl.static_range(NB):
            mbarrier.wait(bc_bars.index((NB + m) % 2), ((NB + m) // 2) % 2)
            acc = gl.zeros([BM, BP], gl.float32, o_layout)
            acc = warpgroup_mma(bcs.index((NB + m) % 2), es.permute((1, 0)), acc, use_acc=False, is_async=ASYNC)
            if LATE and m == 0 and c + 1 < nchunks:  # the release's fence waits while the first product runs
                gl.atomic_xchg(flag_ptr + chain, (c + 1).to(gl.int32), sem="release")
            if not ASYNC:
                _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, NB + m + 2, NB, N)
            cs_i = cs_sm.slice(m * BM, BM).load(gl.SliceLayout(1, o_layout))
            cs_m0 = _pick(m, c0, c1, c2, c3)
            cs_ai = cs_sm.slice(m * BM, BM).load(gl.SliceLayout(1, oa_layout))
            for k in gl.static_range(m + 1):
                # the A operand of tile k (formed while the previous product runs, when ASYNC)
                cs_k = cs_sm.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout))
                dt_k = dt_sm.slice(k * BM, BM).load(gl.SliceLayout(0, oa_layout))
                # the tile's place in the C B^T ring's sequence is m (m + 1) / 2 + k
                mbarrier.wait(cb_bars.index((m * (m + 1) // 2 + k) % 3), ((m * (m + 1) // 2 + k) // 3) % 2)
                cb = cbs.index((m * (m + 1) // 2 + k) % 3).load(oa_layout)
                _cb_tile(cb_desc, cb_row, cb_bars, cbs, m * (m + 1) // 2 + k + 3, NB)  # the slot is read: the tile three ahead
                # the tile's weights: exp(cs_m0 - cs_s) dt'_s a column left of the diagonal (with FACTOR: there
                # exp(cs_i - cs_s) = exp(cs_i - cs_m0) exp(cs_m0 - cs_s), both <= 1 when A <= 0, the row factor going
                # on the accumulator before the diagonal tile), else exp(cs_i - cs_s) dt'_s an element; with LG2
                # dt_k holds cs_k - log2(dt'_k), so a weight is one ex2
                if FACTOR and k < m:
                    if LG2:
                        wk = _ex2(cs_m0 - dt_k)[None, :]
                    else:
                        wk = (_ex2(cs_m0 - cs_k) * dt_k)[None, :]
                elif LG2:
                    wk = _ex2(cs_ai[:, None] - dt_k[None, :])
                else:
                    wk = _ex2(cs_ai[:, None] - cs_k[None, :]) * dt_k[None, :]
                if PACKED:  # bf16 pairs scaled by bf16 weights, one HMUL2 for two (outputs only)
                    wt = cb * wk.to(dtype)
                else:
                    wt = cb.to(gl.float32) * wk
                if k == m:
                    wt = gl.where(offs_aj[None, :] <= offs_ai[:, None], wt, 0.0)
                a = wt.to(dtype)
                # the accumulator's row factors: exp(cs_i) on C E (exp(cs_m0) when FACTOR, and exp(cs_i - cs_m0)
                # on everything before the diagonal tile)
                if ASYNC:
                    if k == 0:  # the C E product is done: its C tile's slot takes the tile after next
                        acc = warpgroup_mma_wait(0, deps=[acc])
                        _bc_tile(b_desc, c_desc, row0, g, bc_bars, bcs, NB + m + 2, NB, N)
                    else:
                        acc, a_prev = warpgroup_mma_wait(0, deps=[acc, a_prev])
                if k == 0:
                    if FACTOR:
                        acc = acc * gl.exp2(cs_m0)
                    else:
                        acc = acc * _ex2(cs_i)[:, None]
                if FACTOR and k == m:
                    acc = acc * _ex2(cs_i - cs_m0)[:, None]
                acc = warpgroup_mma(a, xs.index(k), acc, is_async=ASYNC)
                if ASYNC:
                    a_prev = a
                if HAS_D and DMMA and k == m:
                    acc = warpgroup_mma(a_dhi, xs.index(m), acc, is_async=ASYNC)
                    acc = warpgroup_mma(a_dlo, xs.index(m), acc, is_async=ASYNC)
            if ASYNC:
                if HAS_D and DMMA:  # the D operands stay untouched until their products are done
                    acc, a_prev, a_dhi, a_dlo = warpgroup_mma_wait(0, deps=[acc, a_prev, a_dhi, a_dlo])
                else:
                    acc, a_prev = warpgroup_mma_wait(0, deps=[acc, a_prev])
            if HAS_D and not DMMA:
                acc += d_h * xs.index(m).load(o_layout).to(gl.float32)
            pos = c * Q + m * BM + offs_i
            _store_rows(y_ptr, acc, b, pos, h * s_y_h, pb * BP + offs_p, L, s_y_b, s_y_l)
        for j in gl.static_range(NB):
            mbarrier.invalidate(x_bars.index(j))
        for j in gl.static_range(2):
            mbarrier.invalidate(bc_bars.index(j))
        for j in gl.static_range(3):
            mbarrier.invalidate(cb_bars.index(j))


def usable(x: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk: int) -> bool:
    """Whether :func:`chunk_scan` serves these inputs: a Hopper-class CUDA GPU, Gluon, bf16 inputs, head dim a
    multiple of 64, state 64 or 128, chunk a multiple of 64 up to 256, and x, B and C readable as 2-D TMA
    tensors (last dimension contiguous, heads or groups packed, batches evenly spaced, 16-byte aligned)."""
    return tma_shapes(x, B, C, chunk) is not None


def tma_shapes(x: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk: int) -> Optional[tuple]:
    """The 2-D shapes and strides (:func:`_flat_rows`) through which :func:`chunk_scan` reads x, B and C, where
    it serves these inputs (see :func:`usable`), else None."""
    if gluon is None or not x.is_cuda or x.dtype != torch.bfloat16:
        return None
    if B.dtype != x.dtype or C.dtype != x.dtype or _major(x.get_device()) != 9:
        return None
    b, L, H, P = x.shape
    N = B.shape[3]
    if P % BLOCK or N not in (64, 128) or chunk % BLOCK or chunk > 256:
        return None
    shapes = (_flat_rows(x), _flat_rows(B), _flat_rows(C))
    return None if None in shapes else shapes


@functools.lru_cache(maxsize=None)
def _sm_count(device: int) -> int:
    """The streaming multiprocessors of a CUDA device (asked once a device)."""
    return torch.cuda.get_device_properties(device).multi_processor_count


@functools.lru_cache(maxsize=None)
def _major(device: int) -> int:
    """The compute capability's major version of a CUDA device (asked once a device)."""
    return torch.cuda.get_device_capability(device)[0]


def _flat_rows(t: torch.Tensor) -> Optional[Tuple[List[int], List[int]]]:
    """The shape and strides (elements) of ``t`` (b, L, k, d) read as a 2-D tensor (b L, k d) without a copy, or
    None where its strides or its alignment do not allow it (TMA: last dimension contiguous, rows 16-byte
    aligned, the base 16-byte aligned)."""
    b, L, k, d = t.shape
    sb, sl, sk, sd = t.stride()
    if sd != 1 or (k > 1 and sk != d) or (b > 1 and sb != L * sl) or (sl * t.element_size()) % 16:
        return None
    if t.data_ptr() % 16:
        return None
    return [b * L, k * d], [sl, 1]


def _descriptor(tensor: torch.Tensor, rows: Tuple[List[int], List[int]], block: list, layout: Any) -> Any:
    """Gluon's ``TensorDescriptor`` of ``tensor`` read as the 2-D ``rows`` (shape and strides, as
    :func:`_flat_rows` gives them), its fields set directly, with ``tensor`` itself as the base: Triton reads
    a descriptor's base for its dtype and address only (its shape and strides are the descriptor's), so no
    view is made (about 2 us of host time each, three a forward), and ``__post_init__``, which only asserts
    what :func:`_flat_rows` and the layouts made here satisfy, is skipped (about 2 us each, four a forward). A
    Triton whose descriptor is not such a dataclass gets one through its constructor, over a 2-D view."""
    shape, strides = rows
    fields = _descriptor_defaults()
    if fields is None:
        return TensorDescriptor(tensor.as_strided(shape, strides), list(shape), list(strides), block, layout)
    descriptor = object.__new__(TensorDescriptor)
    descriptor.__dict__.update(fields, base=tensor, shape=shape, strides=strides, block_shape=block, layout=layout)
    return descriptor


@functools.lru_cache(maxsize=1)
def _descriptor_defaults() -> Optional[dict]:
    """The defaults of ``TensorDescriptor``'s optional fields, where it is a plain dataclass whose fields past
    base, shape, strides, block shape and layout all have one (padding, and ``round_f32_to_tf32`` in 3.9)."""
    import dataclasses

    if not dataclasses.is_dataclass(TensorDescriptor) or hasattr(TensorDescriptor, "__slots__"):
        return None
    fields = dataclasses.fields(TensorDescriptor)
    if [f.name for f in fields[:5]] != ["base", "shape", "strides", "block_shape", "layout"] or \
            any(f.default is dataclasses.MISSING for f in fields[5:]):
        return None
    return {f.name: f.default for f in fields[5:]}


@functools.lru_cache(maxsize=None)
def _descriptor_layouts(N: int) -> Any:
    """The shared-memory layouts of x's and C B^T's tiles (64 x 64) and of B's and C's (64 x N), bf16 (made
    once: Gluon's ``get_default_for`` costs about 6 us of host time a call)."""
    return (gl.NVMMASharedLayout.get_default_for([BLOCK, BLOCK], gl.bfloat16),
            gl.NVMMASharedLayout.get_default_for([BLOCK, N], gl.bfloat16))


@functools.lru_cache(maxsize=None)
def _pair_layout() -> Any:
    """The shared-memory layout of two heads' x tile (64 x 128, bf16) of :mod:`.ssd_sm90_pair`'s kernel."""
    return gl.NVMMASharedLayout.get_default_for([BLOCK, 2 * BLOCK], gl.bfloat16)


@functools.lru_cache(maxsize=None)
def _tall_layout() -> Any:
    """The shared-memory layout of two blocks' rows of C or ``C B^T`` (128 x 64, bf16) of :mod:`.ssd_sm90_wide`'s
    kernel."""
    return gl.NVMMASharedLayout.get_default_for([2 * BLOCK, BLOCK], gl.bfloat16)


def descriptor_signature(N: int, slim: bool = False, pair: bool = False, wide: bool = False) -> dict:
    """The types of the kernel's four TMA descriptors (x, B, C, C B^T) as Triton's compiler names them (for an
    ahead-of-time compile, :func:`bambaprof.ssm.kernels.aot.resource_usage`); ``slim``: those of
    :mod:`.ssd_sm90_slim`'s kernel, whose B and C tiles are 64 x 64; ``pair``: :mod:`.ssd_sm90_pair`'s, the same
    with x's tiles 64 x 128; ``wide``: :mod:`.ssd_sm90_wide`'s, whose C and ``C B^T`` tiles are 128 x 64."""
    x_layout, bc_layout = _descriptor_layouts(N)
    small = f"tensordesc<bf16[{BLOCK}, {BLOCK}],{x_layout!r}>"
    if wide:
        tall = f"tensordesc<bf16[{2 * BLOCK}, {BLOCK}],{_tall_layout()!r}>"
        return {"x_desc": small, "b_desc": f"tensordesc<bf16[{BLOCK}, {N}],{bc_layout!r}>", "c_desc": tall,
                "cb_desc": tall}
    bc = small if slim or pair else f"tensordesc<bf16[{BLOCK}, {N}],{bc_layout!r}>"
    x = f"tensordesc<bf16[{BLOCK}, {2 * BLOCK}],{_pair_layout()!r}>" if pair else small
    return {"x_desc": x, "b_desc": bc, "c_desc": bc, "cb_desc": small}


def _cb_rows(cb: torch.Tensor, Q: int) -> Tuple[List[int], List[int]]:
    """The 2-D shape and strides (elements) through which the kernels read ``C B^T`` (b, chunks, g, Q, Q): rows of
    Q, ``(b chunks g Q, Q)``."""
    return [cb.numel() // Q, Q], [Q, 1]


def slim_descriptors(x: torch.Tensor, B: torch.Tensor, C: torch.Tensor, cb: torch.Tensor, Q: int,
                     shapes: tuple) -> tuple:
    """The TMA descriptors of x, B, C and ``C B^T`` as :mod:`.ssd_sm90_slim`'s kernels (and
    :mod:`.ssd_sm90_fused`'s) read them: tiles of 64 x 64 in one shared-memory layout; ``shapes``:
    :func:`tma_shapes` of x, B and C."""
    layout = _descriptor_layouts(B.shape[3])[0]
    small = [BLOCK, BLOCK]
    (xr, Br, Cr), cbr = shapes, _cb_rows(cb, Q)
    return tuple(_descriptor(t, rows, small, layout) for t, rows in ((x, xr), (B, Br), (C, Cr), (cb, cbr)))


def chunk_scan(x: torch.Tensor, B: torch.Tensor, C: torch.Tensor, dtp: torch.Tensor, cs: torch.Tensor,
               cb: torch.Tensor, D: Optional[torch.Tensor], initial_state: Optional[torch.Tensor], ring: torch.Tensor,
               flags: torch.Tensor, ticket: torch.Tensor, y: torch.Tensor, final: torch.Tensor, Q: int,
               n_pblocks: int, i64: bool, wrap: Any, factor: bool = True, pipelined: bool = False,
               packed: bool = False, d_mma: bool = False, lg2: bool = False, late: bool = False, slim: bool = False,
               pair: bool = False, wide: bool = False, stay: bool = False, scaled: bool = False,
               ordered: bool = False, diag_first: bool = False, fused: bool = False,
               ring_slots: Optional[int] = None,
               max_registers: Optional[int] = None,
               shapes: Optional[tuple] = None) -> None:
    """Launch the Gluon chunk scan (see the module docstring); buffers as ``ssd_forward`` makes them, ``ring``
    holding (chains, 2, 64, n) fp32, ``cb`` (b, chunks, g, Q, Q) in x's dtype. ``factor``: the decay of the
    tiles left of the diagonal factorised through the block's first row (a factor a column, one a row on the
    accumulator) instead of one exponential an element; ``pipelined``: each product left in flight while the
    next one's A operand is formed; ``packed``: the outputs' ``C B^T`` tiles scaled in bf16 pairs; ``d_mma``: the
    skip ``D x`` as two tensor-core products (``diag(D)`` in a bf16 part and the rest) instead of elementwise;
    ``lg2``: each position's ``dt'`` folded into its weight's exponent; ``late``: the next chunk's counter released
    once the first output product is issued; ``slim``: :mod:`.ssd_sm90_slim`'s kernel (the arithmetic of
    ``gluon_late`` in 74 KB of shared memory, three programs an SM; the other options are its own), with
    ``ring_slots`` slots in its ring (None: ``ssd_sm90_slim.RING``) and at most ``max_registers`` registers a thread
    (None: ``ssd_sm90_slim.MAX_REGISTERS``; 0: uncapped); ``pair``: :mod:`.ssd_sm90_pair`'s kernel (that
    arithmetic with two heads a program, eight warps), where :func:`.ssd_sm90_pair.pairs_heads` allows, else the
    slim one; ``wide``: :mod:`.ssd_sm90_wide`'s kernel (that arithmetic with one head over two warpgroups), where
    :func:`.ssd_sm90_wide.serves` allows, else the slim one; ``stay``, with ``slim``: the slim kernel's programs
    resident, three an SM, taking tickets until they run out; ``scaled``, with ``slim`` (not ``stay``): the slim
    kernel's outputs by :func:`.ssd_sm90_slim._scaled_outputs`; ``ordered``, with ``slim`` (not ``stay``): the slim
    kernel's programs take their work from their index in the launch (:func:`.ssd_sm90_slim._work`); ``diag_first``,
    with ``scaled``: block 0's diagonal product formed during the chain's wait (:func:`.ssd_sm90_slim._diag_first`).
    ``shapes``:
    :func:`tma_shapes` of x, B and C where the caller has them. ``fused`` (``gluon_fused``) launches through
    :func:`.ssd_sm90_fused.fused_chunk_scan`, which takes dt rather than the prep's outputs: not here."""
    if fused:
        raise ValueError("the fused form launches through ssd_sm90_fused.fused_chunk_scan (it takes dt, not dt')")
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    nchunks = (L + Q - 1) // Q
    x_layout, bc_layout = _descriptor_layouts(N)
    xr, Br, Cr = shapes or (_flat_rows(x), _flat_rows(B), _flat_rows(C))
    cbr = _cb_rows(cb, Q)
    if pair:  # where the pair or the wide kernel does not serve these shapes, the slim one runs
        from .ssd_sm90_pair import pairs_heads

        pair = pairs_heads(P, H, G)
        slim = slim or not pair
    if wide:
        from .ssd_sm90_wide import serves

        wide = serves(Q, N)
        slim = slim or not wide
    # what every kernel takes: the tensors (D and the initial state stand in for themselves where absent), the
    # sizes, y's strides, and the compile-time options
    tensors = (cs, dtp, D if D is not None else cs, initial_state if initial_state is not None else cs, ring, flags,
               ticket, y, final)
    strides = y.stride()[:3]
    sizes = (L, H, G, P, nchunks, H // G, n_pblocks)
    options = dict(Q=Q, N=N, HAS_D=D is not None, HAS_INIT=initial_state is not None, I64=i64)
    programs = nchunks * b * n_pblocks * H
    small = [BLOCK, BLOCK]
    if wide:
        from .ssd_sm90_wide import MAX_REGISTERS as WIDE_REGISTERS
        from .ssd_sm90_wide import RING as WIDE_RING
        from .ssd_sm90_wide import _chunk_scan_sm90_wide

        tall = _tall_layout()
        descriptors = (_descriptor(x, xr, small, x_layout), _descriptor(B, Br, [BLOCK, N], bc_layout),
                       _descriptor(C, Cr, [2 * BLOCK, BLOCK], tall), _descriptor(cb, cbr, [2 * BLOCK, BLOCK], tall))
        wrap(_chunk_scan_sm90_wide)[(programs,)](
            *descriptors, *tensors, *sizes, *strides, **options, R=ring_slots or WIDE_RING, num_warps=8,
            **register_cap(WIDE_REGISTERS if max_registers is None else max_registers))
        return
    if slim and not pair:
        from .ssd_sm90_slim import MAX_REGISTERS, RESIDENT, RING, _chunk_scan_sm90_slim, _chunk_scan_sm90_stay

        descriptors = slim_descriptors(x, B, C, cb, Q, (xr, Br, Cr))
        cap = register_cap(MAX_REGISTERS if max_registers is None else max_registers)
        if stay:
            wrap(_chunk_scan_sm90_stay)[(min(programs, RESIDENT * _sm_count(x.get_device())),)](
                *descriptors, *tensors, *sizes, *strides, programs, **options, R=ring_slots or RING, num_warps=4,
                **cap)
        else:
            wrap(_chunk_scan_sm90_slim)[(programs,)](*descriptors, *tensors, *sizes, *strides, **options,
                                                     R=ring_slots or RING, SCALED=scaled, ORDERED=ordered,
                                                     DIAG_FIRST=diag_first, num_warps=4, **cap)
        return
    cb_desc = _descriptor(cb, cbr, small, x_layout)
    if pair:
        from .ssd_sm90_pair import RING as PAIR_RING
        from .ssd_sm90_pair import _chunk_scan_sm90_pair

        descriptors = (_descriptor(x, xr, [BLOCK, 2 * BLOCK], _pair_layout()), _descriptor(B, Br, small, x_layout),
                       _descriptor(C, Cr, small, x_layout), cb_desc)
        wrap(_chunk_scan_sm90_pair)[(nchunks * b * H // 2,)](
            *descriptors, *tensors, L, H, G, nchunks, H // G, *strides, **options, R=ring_slots or PAIR_RING,
            num_warps=8, **register_cap(max_registers or 0))
        return
    # B's and C's tiles 64 x n in the first kernel (the slim kernels' are 64 x 64: slim_descriptors)
    descriptors = (_descriptor(x, xr, small, x_layout), _descriptor(B, Br, [BLOCK, N], bc_layout),
                   _descriptor(C, Cr, [BLOCK, N], bc_layout), cb_desc)
    wrap(_chunk_scan_sm90)[(programs,)](
        *descriptors, *tensors, *sizes, *strides, **options, FACTOR=factor, ASYNC=pipelined, PACKED=packed,
        DMMA=d_mma, LG2=lg2, LATE=late, num_warps=4)
