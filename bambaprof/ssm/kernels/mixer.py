"""The ``triton`` variant's mixer kernels around the SSD core: a causal depthwise conv1d with SiLU, and the
gated RMSNorm, each one pass over memory in the model's dtype (no float32 round trips outside the kernels).

- :func:`conv1d_silu`: ``silu(bias + sum_k w[c, k] * x[t - (K-1) + k, c])`` for a channels-last input
  ``(b, L, C)`` (any row stride: the conv part of ``in_proj``'s output is read in place), zero before ``t=0``;
  accumulation in float32, one rounding to the input's dtype.
- :func:`mixer_decode_step`: a whole decode token between ``in_proj`` and the norm in one launch: conv + SiLU
  against a circular conv state, the SSM step (dt, ``A = -exp(A_log)``, state update, ``y = C.state + D x``),
  both states updated in place and the position kept on the device (a CUDA graph replays it); given the gate,
  also the gated norm (``gated_rmsnorm``'s), by each batch row's last program to finish: a whole token between
  ``in_proj`` and ``out_proj`` in one launch (the eager ``triton`` mixer's path);
- :func:`gated_rmsnorm`: ``weight * rms_normalise(x * silu(z))`` over the last dimension, the normalised value
  rounded to ``x``'s dtype before the weight multiplies it, as :class:`~bambaprof.model.norm.RMSNormGated`
  does; the product written in ``out_dtype`` (the ``out_proj`` input);
- :func:`add_rmsnorm`: the decoder's residual add and the RMSNorm after it (``rmsnorm`` without the add), so
  an eager token of the ``triton`` variant takes one launch for each norm and no separate adds.

The conv, the decode step and the gated norm also go through ``torch.library`` ops (``bambaprof::conv1d_silu``,
``bambaprof::mixer_decode_step``, ``bambaprof::gated_rmsnorm``; see :mod:`bambaprof.ssm.kernels.ops`) for
compiled callers; ``rmsnorm`` and ``add_rmsnorm`` are eager only (compiled code keeps torch's adds and norms,
which inductor fuses). All record their bytes and FLOPs into profiler traces
(:mod:`bambaprof.ssm.kernels.metadata`).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import triton
import triton.language as tl

from .grid import cdiv, next_power_of_2
from .launch import direct
from .metadata import kernel_metadata
from .ops import WRAP, library_op

Tensor = torch.Tensor


@triton.jit
def _conv1d_silu_kernel(x_ptr, w_ptr, b_ptr, out_ptr, L, C, stride_xb, stride_xl, stride_ob, stride_ol,
                        K: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr):
    pid_l, pid_c, pid_b = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    x_base = x_ptr + pid_b.to(tl.int64) * stride_xb
    acc = tl.zeros((BLOCK_L, BLOCK_C), dtype=tl.float32)
    for k in tl.static_range(K):
        src = t - (K - 1) + k
        ok = (src >= 0) & (src < L)
        xv = tl.load(x_base + src.to(tl.int64)[:, None] * stride_xl + c[None, :], mask=ok[:, None] & c_ok[None, :],
                     other=0.0).to(tl.float32)
        wv = tl.load(w_ptr + c * K + k, mask=c_ok, other=0.0).to(tl.float32)
        acc += xv * wv[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + c, mask=c_ok, other=0.0).to(tl.float32)[None, :]
    acc = acc * tl.sigmoid(acc)
    out = out_ptr + pid_b.to(tl.int64) * stride_ob + t.to(tl.int64)[:, None] * stride_ol + c[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=(t < L)[:, None] & c_ok[None, :])


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _conv_tap_sum(state_row, w_ptr, c, ok, new, pos, K: tl.constexpr):
    """Causal conv at one channel block: ``new`` (the current input) and the K-1 previous inputs read from a
    circular state row (the input of time tau sits in slot tau % K), in float32."""
    acc = new.to(tl.float32) * tl.load(w_ptr + c * K + (K - 1), mask=ok, other=0.0).to(tl.float32)
    for k in tl.static_range(K - 1):
        slot = (pos + 1 + k) % K  # the input of time pos - (K - 1) + k
        acc += tl.load(state_row + slot, mask=ok, other=0.0).to(tl.float32) * \
            tl.load(w_ptr + c * K + k, mask=ok, other=0.0).to(tl.float32)
    return acc


@triton.jit
def _mixer_decode_kernel(xbc_ptr, dt_ptr, conv_ptr, w_ptr, cb_ptr, ssm_ptr, counter_ptr, A_log_ptr, D_ptr,
                         dt_bias_ptr, y_ptr, z_ptr, nw_ptr, out_ptr, stride_xbc, stride_dt, stride_cb, stride_cc,
                         stride_sb, stride_sh, stride_sp, stride_y, stride_z, stride_out, H, P, N, GN, INTER,
                         heads_per_group, n_programs, row_programs, dt_lo, dt_hi, eps,
                         K: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr, HAS_CONV_BIAS: tl.constexpr,
                         HAS_D: tl.constexpr, HAS_DT_BIAS: tl.constexpr, CLAMP: tl.constexpr,
                         NORM: tl.constexpr = False, NBLOCK: tl.constexpr = 1024, ONE_PASS: tl.constexpr = False):
    b, h, pb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    # every program takes one ticket; all tickets of one step share its position (a step is one launch)
    pos = tl.atomic_add(counter_ptr, 1) // n_programs
    b64 = b.to(tl.int64)
    g = h // heads_per_group
    p = pb * BP + tl.arange(0, BP)
    n = tl.arange(0, BN)
    ok_p, ok_n = p < P, n < N
    xbc = xbc_ptr + b64 * stride_xbc
    conv = conv_ptr + b64 * stride_cb
    slot_now = pos % K  # holds the input of time pos - K, which no program of this step reads
    # conv + SiLU of this program's x channels and of its group's B and C channels, rounded to the input dtype
    cx = h * P + p
    cB = INTER + g * N + n
    cC = INTER + GN + g * N + n
    new_x = tl.load(xbc + cx, mask=ok_p, other=0.0)
    new_B = tl.load(xbc + cB, mask=ok_n, other=0.0)
    new_C = tl.load(xbc + cC, mask=ok_n, other=0.0)
    ax = _conv_tap_sum(conv + cx.to(tl.int64) * stride_cc, w_ptr, cx, ok_p, new_x, pos, K)
    aB = _conv_tap_sum(conv + cB.to(tl.int64) * stride_cc, w_ptr, cB, ok_n, new_B, pos, K)
    aC = _conv_tap_sum(conv + cC.to(tl.int64) * stride_cc, w_ptr, cC, ok_n, new_C, pos, K)
    if HAS_CONV_BIAS:
        ax += tl.load(cb_ptr + cx, mask=ok_p, other=0.0).to(tl.float32)
        aB += tl.load(cb_ptr + cB, mask=ok_n, other=0.0).to(tl.float32)
        aC += tl.load(cb_ptr + cC, mask=ok_n, other=0.0).to(tl.float32)
    x = (ax * tl.sigmoid(ax)).to(xbc_ptr.dtype.element_ty).to(tl.float32)
    Bv = (aB * tl.sigmoid(aB)).to(xbc_ptr.dtype.element_ty).to(tl.float32)
    Cv = (aC * tl.sigmoid(aC)).to(xbc_ptr.dtype.element_ty).to(tl.float32)
    # the new inputs into the slot no one reads: x channels by their own program, B and C by one per group
    tl.store(conv + cx.to(tl.int64) * stride_cc + slot_now, new_x, mask=ok_p)
    if (h % heads_per_group == 0) & (pb == 0):
        tl.store(conv + cB.to(tl.int64) * stride_cc + slot_now, new_B, mask=ok_n)
        tl.store(conv + cC.to(tl.int64) * stride_cc + slot_now, new_C, mask=ok_n)
    # the SSM step, its state updated in place
    dt = tl.load(dt_ptr + b64 * stride_dt + h).to(tl.float32)
    if HAS_DT_BIAS:
        dt += tl.load(dt_bias_ptr + h).to(tl.float32)
    dt = _softplus(dt)
    if CLAMP:
        dt = tl.minimum(tl.maximum(dt, dt_lo), dt_hi)
    decay = tl.exp(-dt * tl.exp(tl.load(A_log_ptr + h).to(tl.float32)))  # A = -exp(A_log)
    idx = b64 * stride_sb + h * stride_sh + p.to(tl.int64)[:, None] * stride_sp + n[None, :]
    mask = ok_p[:, None] & ok_n[None, :]
    s = tl.load(ssm_ptr + idx, mask=mask, other=0.0)
    s = s * decay + (dt * x)[:, None] * Bv[None, :]
    tl.store(ssm_ptr + idx, s, mask=mask)
    y = tl.sum(s * Cv[None, :], axis=1)
    if HAS_D:
        y += tl.load(D_ptr + h).to(tl.float32) * x
    tl.store(y_ptr + b64 * stride_y + h * P + p, y.to(y_ptr.dtype.element_ty), mask=ok_p)
    if NORM:
        # the gated RMSNorm of the row, by the row's last program to finish: each program counts itself done
        # (its stores, a CTA barrier, then the count with release); the one that completes a multiple of the
        # row's programs (every step adds exactly that many) reads the whole row back from L2 (.cg: never a
        # line of this SM's L1 from an earlier step) and writes weight * rms_normalise(y * silu(z))
        tl.debug_barrier()
        done = tl.atomic_add(counter_ptr + 1 + b, 1, sem="acq_rel")
        if ((done + 1) % row_programs == 0) & ONE_PASS:  # the row fits one block: read once, kept in registers
            _gated_norm_row(y_ptr + b64 * stride_y, z_ptr + b64 * stride_z, nw_ptr, out_ptr + b64 * stride_out, INTER,
                            eps, NBLOCK, True, True)
        elif (done + 1) % row_programs == 0:
            y_row = y_ptr + b64 * stride_y
            z_row = z_ptr + b64 * stride_z
            squares = tl.zeros((NBLOCK,), dtype=tl.float32)
            for c0 in range(0, INTER, NBLOCK):
                cols = c0 + tl.arange(0, NBLOCK)
                ok = cols < INTER
                hy = tl.load(y_row + cols, mask=ok, other=0.0, cache_modifier=".cg").to(tl.float32)
                z = tl.load(z_row + cols, mask=ok, other=0.0).to(tl.float32)
                gated = hy * (z * tl.sigmoid(z))
                squares += gated * gated
            rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=0) / INTER + eps)
            for c0 in range(0, INTER, NBLOCK):
                cols = c0 + tl.arange(0, NBLOCK)
                ok = cols < INTER
                hy = tl.load(y_row + cols, mask=ok, other=0.0, cache_modifier=".cg").to(tl.float32)
                z = tl.load(z_row + cols, mask=ok, other=0.0).to(tl.float32)
                normed = (hy * (z * tl.sigmoid(z)) * rstd).to(y_ptr.dtype.element_ty).to(tl.float32)
                weight = tl.load(nw_ptr + cols, mask=ok, other=0.0).to(tl.float32)
                tl.store(out_ptr + b64 * stride_out + cols, (normed * weight).to(out_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _gated_norm_row(x_row, z_row, w_ptr, out_row, N, eps, BLOCK: tl.constexpr, HAS_GATE: tl.constexpr,
                    FROM_L2: tl.constexpr):
    """``weight * rms_normalise(x * silu(z))`` of one row of ``N <= BLOCK`` values (no gate without
    ``HAS_GATE``), the normalised value rounded to x's dtype as RMSNorm(Gated) rounds it; ``FROM_L2``: x read
    past this SM's L1 (``.cg``: values another program just wrote)."""
    cols = tl.arange(0, BLOCK)
    ok = cols < N
    if FROM_L2:
        h = tl.load(x_row + cols, mask=ok, other=0.0, cache_modifier=".cg").to(tl.float32)
    else:
        h = tl.load(x_row + cols, mask=ok, other=0.0).to(tl.float32)
    if HAS_GATE:
        z = tl.load(z_row + cols, mask=ok, other=0.0).to(tl.float32)
        h = h * (z * tl.sigmoid(z))
    rstd = 1.0 / tl.sqrt(tl.sum(h * h, axis=0) / N + eps)
    normed = (h * rstd).to(x_row.dtype.element_ty).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_row + cols, (normed * w).to(out_row.dtype.element_ty), mask=ok)


@triton.jit
def _gated_rmsnorm_kernel(x_ptr, z_ptr, w_ptr, out_ptr, N, stride_x, stride_z, stride_o, eps,
                          BLOCK: tl.constexpr, HAS_GATE: tl.constexpr = True):
    row = tl.program_id(0).to(tl.int64)
    _gated_norm_row(x_ptr + row * stride_x, z_ptr + row * stride_z, w_ptr, out_ptr + row * stride_o, N, eps, BLOCK,
                    HAS_GATE, False)


@triton.jit
def _add_rmsnorm_kernel(x_ptr, d_ptr, w_ptr, out_ptr, sum_ptr, N, stride_x, stride_d, stride_o, stride_s, eps,
                        BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    ok = cols < N
    h = tl.load(x_ptr + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32) + \
        tl.load(d_ptr + row * stride_d + cols, mask=ok, other=0.0).to(tl.float32)
    h = h.to(sum_ptr.dtype.element_ty)  # the residual sum, rounded as torch's add rounds it
    tl.store(sum_ptr + row * stride_s + cols, h, mask=ok)
    h = h.to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.sum(h * h, axis=0) / N + eps)
    normed = (h * rstd).to(sum_ptr.dtype.element_ty).to(tl.float32)  # in the input's dtype, as RMSNorm
    w = tl.load(w_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * stride_o + cols, (normed * w).to(out_ptr.dtype.element_ty), mask=ok)


#: Rows of a head's state one program of :func:`mixer_decode_step` updates, and its warps. Four warps
#: over 16 rows: 96 registers as launched (218 in a generic compile), no spills for sm_90
#: (tests/ssm/test_kernels_compile.py); on the H200 at the
#: Bamba-9B step (b=1, 128 heads of 64, state 128, bf16) 4.56 us a step against 12.6 us with eight warps,
#: outputs bit-equal; 8 rows (4 or 8 warps) and 32 rows with 8 warps were slower
#: (benchmarks/results/h200-decode-step-warps-rows.json). 32 rows with 4 warps were not timed (a generic
#: compile spilled; as launched they take 128 registers and do not).
DECODE_BP = 16
DECODE_WARPS = 4
#: The widest row the decode step's gated norm keeps in registers in one pass (wider rows take two passes over
#: blocks of it): Bamba-9B's 8192 channels, 64 values a thread at four warps.
NORM_BLOCK = 8192


def decode_programs(batch: int, heads: int, head_dim: int) -> int:
    """Programs one :func:`mixer_decode_step` launch runs (the step counter advances by this per token)."""
    return batch * heads * cdiv(head_dim, min(DECODE_BP, next_power_of_2(head_dim)))


def new_step_counter(batch: int, position: int, heads: int, head_dim: int, device: torch.device) -> Tensor:
    """A layer's step counter after ``position`` tokens: ``position * decode_programs(...)``, then one count a
    batch row of the programs done (for the step's gated norm; see :func:`mixer_decode_step`)."""
    counter = torch.zeros(1 + batch, dtype=torch.int64, device=device)
    counter[0] = position * decode_programs(batch, heads, head_dim)
    return counter


def circular_conv_state(ordered: Tensor, length: int) -> Tensor:
    """A conv state ``(b, C, K)`` of the last K inputs, oldest first, after ``length`` tokens, laid out for
    :func:`mixer_decode_step`: the input of time tau in slot ``tau % K``."""
    K = ordered.shape[-1]
    return torch.roll(ordered, shifts=length % K, dims=-1).contiguous()


def mixer_decode_step(xbc: Tensor, dt: Tensor, conv_state: Tensor, conv_weight: Tensor, conv_bias: Optional[Tensor],
                      ssm_state: Tensor, counter: Tensor, A_log: Tensor, D: Optional[Tensor],
                      dt_bias: Optional[Tensor], dt_min: float, dt_max: float, heads: int, n_groups: int,
                      wrap: Callable = direct, gate: Optional[Tensor] = None, norm_weight: Optional[Tensor] = None,
                      eps: float = 1e-6, out_dtype: Optional[torch.dtype] = None) -> Tensor:
    """One decode token of the Mamba2 mixer between ``in_proj`` and the gated norm, in one launch: the causal
    conv and SiLU of ``xbc`` ``(b, conv_dim)`` against the conv state, the SSM step (dt softplus and clamp,
    ``A = -exp(A_log)``, state decay and update, ``y = C . state + D x``), returning ``y`` ``(b, heads *
    head_dim)`` in ``xbc``'s dtype.

    The caches are updated in place (their storage never changes, so a CUDA graph replays the step):
    ``conv_state`` ``(b, conv_dim, K)`` is circular (the input of time tau in slot ``tau % K``, see
    :func:`circular_conv_state`), ``ssm_state`` ``(b, heads, head_dim, N)`` is float32 with unit stride over
    N, and ``counter`` (int64: :func:`new_step_counter`'s ``1 + b`` values; one is enough without ``gate``) holds
    ``position * decode_programs(...)`` first: each program draws a ticket from it, so the position lives on the
    device and a replayed graph advances it.

    With ``gate`` ``(b, heads * head_dim)`` (any row stride, unit stride over channels) and ``norm_weight``, the
    same launch applies the gated RMSNorm, rounding as :func:`gated_rmsnorm` does, and returns ``norm_weight *
    rms_normalise(y * silu(gate))`` in ``out_dtype`` (default ``xbc``'s) instead of ``y``: the last program of
    each batch row to finish reads the row back and normalises it, counting programs in ``counter[1 + row]``
    (each step adds exactly the row's programs, so no count is ever reset)."""
    b, conv_dim = xbc.shape
    _, H, P, N = ssm_state.shape
    K = conv_state.shape[-1]
    inter = H * P
    # strides read as tuples (one call each, not one a dimension: this is on every eager token's path)
    s_xbc, s_conv, s_ssm = xbc.stride(), conv_state.stride(), ssm_state.stride()
    if conv_dim != inter + 2 * n_groups * N or H != heads:
        raise ValueError("mixer_decode_step: conv_dim must be heads*head_dim + 2*n_groups*d_state")
    if s_xbc[-1] != 1 or s_conv[-1] != 1 or s_ssm[-1] != 1:
        raise ValueError("mixer_decode_step: xbc, conv_state and ssm_state need unit stride over their last dim")
    if ssm_state.dtype != torch.float32 or counter.dtype != torch.int64:
        raise ValueError("mixer_decode_step: the SSM state must be float32 and the counter int64")
    if conv_weight.numel() != conv_dim * K:
        raise ValueError(f"mixer_decode_step: the conv weight needs {conv_dim} x {K} values")
    norm = gate is not None
    s_gate = 0
    if norm:
        assert gate is not None
        if norm_weight is None or tuple(gate.shape) != (b, inter) or gate.stride(-1) != 1 \
                or tuple(norm_weight.shape) != (inter,):
            raise ValueError(f"mixer_decode_step: the gate must be (b, {inter}) with unit stride over its last dim, "
                             f"and the norm weight {inter} values")
        if counter.numel() < 1 + b:
            raise ValueError(f"mixer_decode_step: a step with the norm needs a counter of {1 + b} values "
                             "(new_step_counter)")
        s_gate = gate.stride(0)
    w = conv_weight if conv_weight.is_contiguous() else conv_weight.reshape(conv_dim, K).contiguous()  # (C, [1,] K)
    y = torch.empty((b, inter), device=xbc.device, dtype=xbc.dtype)
    if norm:
        out = torch.empty_like(y) if out_dtype in (None, y.dtype) else torch.empty_like(y, dtype=out_dtype)
    else:
        out = y
    if b == 0:
        return out
    BP = min(DECODE_BP, next_power_of_2(P))
    grid = (b, H, cdiv(P, BP))
    clamp = (dt_min, dt_max) != (0.0, float("inf"))

    def nbytes() -> int:
        moved = 2 * ssm_state.numel() * 4 + conv_state.numel() * conv_state.element_size() + \
            b * conv_dim * xbc.element_size() + w.numel() * w.element_size() + b * inter * y.element_size()
        if norm:  # y read back twice, the gate read twice, the output written, the weight read
            assert gate is not None and norm_weight is not None
            moved += b * inter * (2 * y.element_size() + 2 * gate.element_size() + out.element_size()) + \
                inter * norm_weight.element_size()
        return moved

    flops = 4 * b * inter * N + b * conv_dim * (2 * K + 4) + (b * inter * 8 if norm else 0)
    with kernel_metadata("mixer_decode_step", nbytes, flops, (ssm_state, xbc)):
        wrap(_mixer_decode_kernel)[grid](
            xbc, dt, conv_state, w, conv_bias if conv_bias is not None else w, ssm_state, counter, A_log,
            D if D is not None else A_log, dt_bias if dt_bias is not None else A_log, y,
            gate if norm else y, norm_weight if norm else A_log, out,
            s_xbc[0], dt.stride(0), s_conv[0], s_conv[1], s_ssm[0], s_ssm[1], s_ssm[2], inter, s_gate, inter,
            H, P, N, n_groups * N, inter, H // n_groups, grid[0] * grid[1] * grid[2], grid[1] * grid[2],
            float(dt_min), float(min(dt_max, 3.0e38)), float(eps), K=K, BP=BP, BN=next_power_of_2(N),
            HAS_CONV_BIAS=conv_bias is not None, HAS_D=D is not None, HAS_DT_BIAS=dt_bias is not None, CLAMP=clamp,
            NORM=norm, NBLOCK=min(NORM_BLOCK, next_power_of_2(inter)), ONE_PASS=inter <= NORM_BLOCK,
            num_warps=DECODE_WARPS)
    return out


def conv1d_silu(x: Tensor, weight: Tensor, bias: Optional[Tensor], wrap: Callable = direct) -> Tensor:
    """``x``: ``(b, L, C)`` with unit stride over channels; ``weight``: ``(C, 1, K)`` or ``(C, K)``; returns a
    contiguous ``(b, L, C)`` in ``x``'s dtype (see the module docstring)."""
    b, L, C = x.shape
    if x.stride(2) != 1:
        x = x.contiguous()
    w = weight.reshape(C, -1).contiguous()
    K = w.shape[1]
    out = torch.empty((b, L, C), device=x.device, dtype=x.dtype)
    if b == 0 or L == 0 or C == 0:
        return out
    BLOCK_L, BLOCK_C = 32, 128
    grid = (cdiv(L, BLOCK_L), cdiv(C, BLOCK_C), b)
    nbytes = (b * L * C) * x.element_size() * 2 + w.numel() * w.element_size() + \
        (bias.numel() * bias.element_size() if bias is not None else 0)
    flops = b * L * C * (2 * K + 4)
    with kernel_metadata("conv1d_silu", nbytes, flops, (x, w)):
        wrap(_conv1d_silu_kernel)[grid](x, w, bias if bias is not None else w, out, L, C, x.stride(0), x.stride(1),
                                        out.stride(0), out.stride(1), K=K, HAS_BIAS=bias is not None,
                                        BLOCK_L=BLOCK_L, BLOCK_C=BLOCK_C, num_warps=4)
    return out


def rmsnorm(x: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype) -> Tensor:
    """``weight * rms_normalise(x)`` over the last dimension in one launch, rounding as
    :class:`~bambaprof.model.norm.RMSNorm` does (the normalised value in ``x``'s dtype, then the product)."""
    return gated_rmsnorm(x, None, weight, eps, out_dtype)


def gated_rmsnorm(x: Tensor, z: Optional[Tensor], weight: Tensor, eps: float, out_dtype: torch.dtype,
                  wrap: Callable = direct) -> Tensor:
    """``x``, ``z``: ``(..., N)`` of one shape (any row strides: ``z`` may be a strided slice; or ``z`` None: no
    gate); ``weight``: ``(N,)``; returns a contiguous ``(..., N)`` in ``out_dtype``."""
    if z is not None and z.shape != x.shape:
        raise ValueError(f"gated_rmsnorm: x {tuple(x.shape)} and z {tuple(z.shape)} differ in shape")
    N = x.shape[-1]
    out = _empty_as(x, out_dtype)
    rows = x.numel() // N if N else 0
    if rows == 0:
        return out
    gated = z is not None
    x, stride_x = rows_of(x)
    z, stride_z = rows_of(z) if z is not None else (x, stride_x)
    BLOCK = next_power_of_2(N)

    def nbytes() -> int:
        return rows * N * (x.element_size() + z.element_size() + out.element_size()) + N * weight.element_size()

    with kernel_metadata("gated_rmsnorm", nbytes, rows * N * 8, (x, z)):
        wrap(_gated_rmsnorm_kernel)[(rows,)](x, z, weight, out, N, stride_x, stride_z, N, eps, BLOCK=BLOCK,
                                              HAS_GATE=gated, num_warps=min(max(BLOCK // 1024, 1), 16))
    return out


def add_rmsnorm(x: Tensor, delta: Tensor, weight: Tensor, eps: float,
                wrap: Callable = direct) -> Tuple[Tensor, Tensor]:
    """A decoder's residual add and the RMSNorm after it in one launch: ``(weight * rms_normalise(s), s)`` with
    ``s = x + delta``. ``x``, ``delta``: ``(..., N)`` of one shape (any row strides); ``weight``: ``(N,)``.

    ``s`` is rounded to the promoted dtype of ``x`` and ``delta`` (as torch's ``x + delta``) and normalised
    from that rounded value; the normalised value is rounded to ``s``'s dtype before the weight multiplies
    it and the product is written in the promoted dtype of ``weight`` and ``s``, as
    :class:`~bambaprof.model.norm.RMSNorm` does."""
    if x.shape != delta.shape:
        raise ValueError(f"add_rmsnorm: x {tuple(x.shape)} and delta {tuple(delta.shape)} differ in shape")
    N = x.shape[-1]
    sum_dtype = x.dtype if x.dtype == delta.dtype else torch.promote_types(x.dtype, delta.dtype)
    s = _empty_as(x, sum_dtype)
    out = _empty_as(x, sum_dtype if weight.dtype == sum_dtype else torch.promote_types(weight.dtype, sum_dtype))
    rows = x.numel() // N if N else 0
    if rows:
        x, stride_x = rows_of(x)
        delta, stride_d = rows_of(delta)
        BLOCK = next_power_of_2(N)

        def nbytes() -> int:
            return rows * N * (x.element_size() + delta.element_size() + s.element_size() + out.element_size()) + \
                N * weight.element_size()

        with kernel_metadata("add_rmsnorm", nbytes, rows * N * 5, (x, delta)):
            wrap(_add_rmsnorm_kernel)[(rows,)](x, delta, weight, out, s, N, stride_x, stride_d, N, N, eps, BLOCK=BLOCK,
                                               num_warps=min(max(BLOCK // 1024, 1), 16))
    return out, s


def _empty_as(x: Tensor, dtype: torch.dtype) -> Tensor:
    """A new contiguous tensor of ``x``'s shape and device in ``dtype`` (``torch.empty_like`` where ``x`` is
    contiguous and of that dtype: less host time than ``torch.empty`` with its keywords)."""
    if x.dtype == dtype and x.is_contiguous():
        return torch.empty_like(x)
    return torch.empty(x.shape, device=x.device, dtype=dtype)


def rows_of(t: Tensor) -> Tuple[Tensor, int]:
    """``t`` ``(..., N)`` as the rows of N a row kernel reads: the tensor to pass and the stride between its rows
    (elements). ``t`` itself where its last dimension has unit stride and its leading ones collapse into one
    row stride (a slice of positions or of columns, a batch of single positions), without a ``reshape``'s host
    time; else a contiguous copy."""
    if t.is_contiguous():  # the common case, first: no walk over the strides
        return t, t.shape[-1]
    if t.stride(-1) == 1:
        if t.dim() == 2:
            return t, t.stride(0)
        row = span = None
        for size, stride in zip(reversed(t.shape[:-1]), reversed(t.stride()[:-1])):
            if size == 1:
                continue
            if row is None:
                row = stride
            elif stride != span:
                break
            span = stride * size
        else:
            return t, row if row is not None else t.shape[-1]
    t = t.contiguous()
    return t, t.shape[-1]


def _conv_op(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    return conv1d_silu(x, weight, bias, wrap=WRAP)


def _norm_op(x: Tensor, z: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype) -> Tensor:
    return gated_rmsnorm(x, z, weight, eps, out_dtype, wrap=WRAP)


def _decode_op(xbc: Tensor, dt: Tensor, conv_state: Tensor, conv_weight: Tensor, conv_bias: Optional[Tensor],
               ssm_state: Tensor, counter: Tensor, A_log: Tensor, D: Optional[Tensor], dt_bias: Optional[Tensor],
               dt_min: float, dt_max: float, heads: int, n_groups: int) -> Tensor:
    return mixer_decode_step(xbc, dt, conv_state, conv_weight, conv_bias, ssm_state, counter, A_log, D, dt_bias,
                             dt_min, dt_max, heads, n_groups, wrap=WRAP)


def _decode_shapes(xbc, dt, conv_state, conv_weight, conv_bias, ssm_state, counter, A_log, D, dt_bias, dt_min,
                   dt_max, heads, n_groups):
    return xbc.new_empty((xbc.shape[0], ssm_state.shape[1] * ssm_state.shape[2]))


def _conv_shapes(x, weight, bias):
    return x.new_empty(x.shape)


def _norm_shapes(x, z, weight, eps, out_dtype):
    return x.new_empty(x.shape, dtype=out_dtype)


conv1d_silu_op = library_op("bambaprof::conv1d_silu", _conv_op, _conv_shapes)
gated_rmsnorm_op = library_op("bambaprof::gated_rmsnorm", _norm_op, _norm_shapes)
mixer_decode_step_op = library_op("bambaprof::mixer_decode_step", _decode_op, _decode_shapes,
                                  mutates=("conv_state", "ssm_state", "counter"))
