"""The ``triton`` variant's mixer kernels around the SSD core: a causal depthwise conv1d with SiLU, and the
gated RMSNorm, each one pass over memory in the model's dtype (no float32 round trips outside the kernels).

- :func:`conv1d_silu`: ``silu(bias + sum_k w[c, k] * x[t - (K-1) + k, c])`` for a channels-last input
  ``(b, L, C)`` (any row stride: the conv part of ``in_proj``'s output is read in place), zero before ``t=0``;
  accumulation in float32, one rounding to the input's dtype.
- :func:`conv1d_silu_step`: the same for one decode token, updating the conv state in place;
- :func:`gated_rmsnorm`: ``weight * rms_normalise(x * silu(z))`` over the last dimension, the normalised value
  rounded to the output dtype before the weight multiplies it, as :class:`~bambaprof.model.norm.RMSNormGated`
  does; written in ``out_dtype`` (the ``out_proj`` input).

Both go through ``torch.library`` ops (``bambaprof::conv1d_silu``, ``bambaprof::gated_rmsnorm``; see
:mod:`bambaprof.ssm.kernels.ops`), and record their bytes and FLOPs into profiler traces
(:mod:`bambaprof.ssm.kernels.metadata`).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import triton
import triton.language as tl

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
def _conv1d_silu_step_kernel(state_ptr, x_ptr, w_ptr, b_ptr, out_ptr, C, stride_sb, stride_sc, stride_xb,
                             stride_ob, K: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_C: tl.constexpr):
    pid_c, pid_b = tl.program_id(0), tl.program_id(1)
    c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    ok = c < C
    row = state_ptr + pid_b.to(tl.int64) * stride_sb + c.to(tl.int64) * stride_sc
    new = tl.load(x_ptr + pid_b.to(tl.int64) * stride_xb + c, mask=ok, other=0.0)
    acc = new.to(tl.float32) * tl.load(w_ptr + c * K + (K - 1), mask=ok, other=0.0).to(tl.float32)
    for k in tl.static_range(K - 1):  # shift the window left by one, in place, summing as it goes
        v = tl.load(row + (k + 1), mask=ok, other=0.0)
        tl.store(row + k, v, mask=ok)
        acc += v.to(tl.float32) * tl.load(w_ptr + c * K + k, mask=ok, other=0.0).to(tl.float32)
    tl.store(row + (K - 1), new, mask=ok)
    if HAS_BIAS:
        acc += tl.load(b_ptr + c, mask=ok, other=0.0).to(tl.float32)
    acc = acc * tl.sigmoid(acc)
    tl.store(out_ptr + pid_b.to(tl.int64) * stride_ob + c, acc.to(out_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _gated_rmsnorm_kernel(x_ptr, z_ptr, w_ptr, out_ptr, N, stride_x, stride_z, stride_o, eps,
                          BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    ok = cols < N
    x = tl.load(x_ptr + row * stride_x + cols, mask=ok, other=0.0).to(tl.float32)
    z = tl.load(z_ptr + row * stride_z + cols, mask=ok, other=0.0).to(tl.float32)
    h = x * (z * tl.sigmoid(z))
    rstd = 1.0 / tl.sqrt(tl.sum(h * h, axis=0) / N + eps)
    normed = (h * rstd).to(out_ptr.dtype.element_ty).to(tl.float32)  # as the reference
    w = tl.load(w_ptr + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * stride_o + cols, (normed * w).to(out_ptr.dtype.element_ty),
             mask=ok)


def _direct(kernel: Callable) -> Callable:
    return kernel


def conv1d_silu(x: Tensor, weight: Tensor, bias: Optional[Tensor], wrap: Callable = _direct) -> Tensor:
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
    grid = (triton.cdiv(L, BLOCK_L), triton.cdiv(C, BLOCK_C), b)
    nbytes = (b * L * C) * x.element_size() * 2 + w.numel() * w.element_size() + \
        (bias.numel() * bias.element_size() if bias is not None else 0)
    flops = b * L * C * (2 * K + 4)
    with kernel_metadata("conv1d_silu", nbytes, flops, (x, w)):
        wrap(_conv1d_silu_kernel)[grid](x, w, bias if bias is not None else w, out, L, C, x.stride(0), x.stride(1),
                                        out.stride(0), out.stride(1), K=K, HAS_BIAS=bias is not None,
                                        BLOCK_L=BLOCK_L, BLOCK_C=BLOCK_C, num_warps=4)
    return out


def conv1d_silu_step(state: Tensor, x: Tensor, weight: Tensor, bias: Optional[Tensor],
                     wrap: Callable = _direct) -> Tensor:
    """One decode step of the causal conv: ``state`` ``(b, C, K)`` (the last K inputs, oldest first, unit
    stride over K) is shifted left in place and ``x`` ``(b, C)`` appended; returns ``silu(bias + sum_k
    w[c, k] state[c, k])`` as ``(b, C)`` in ``x``'s dtype. One launch instead of a concatenation, a product,
    a sum, an addition and a SiLU, and the cache tensor keeps its storage (CUDA graphs can replay it)."""
    b, C, K = state.shape
    if state.stride(2) != 1:
        raise ValueError("conv1d_silu_step: the conv state needs unit stride over its window")
    if x.stride(-1) != 1:
        x = x.contiguous()
    w = weight.reshape(C, K).contiguous()
    out = torch.empty((b, C), device=x.device, dtype=x.dtype)
    if b == 0 or C == 0:
        return out
    BLOCK_C = 256
    nbytes = 2 * state.numel() * state.element_size() + x.numel() * x.element_size() * 2 + w.numel() * w.element_size()
    with kernel_metadata("conv1d_silu_step", nbytes, b * C * (2 * K + 4), (state, x)):
        wrap(_conv1d_silu_step_kernel)[(triton.cdiv(C, BLOCK_C), b)](
            state, x, w, bias if bias is not None else w, out, C, state.stride(0), state.stride(1), x.stride(0),
            out.stride(0), K=K, HAS_BIAS=bias is not None, BLOCK_C=BLOCK_C, num_warps=4)
    return out


def gated_rmsnorm(x: Tensor, z: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype,
                  wrap: Callable = _direct) -> Tensor:
    """``x``, ``z``: ``(..., N)`` (unit stride over the last dimension; ``z`` may be a strided slice);
    ``weight``: ``(N,)``; returns ``(..., N)`` in ``out_dtype``."""
    N = x.shape[-1]
    lead = x.shape[:-1]
    x2 = x.reshape(-1, N)
    z2 = z.reshape(-1, N) if z.stride(-1) == 1 else z.contiguous().reshape(-1, N)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    rows = x2.shape[0]
    out = torch.empty((rows, N), device=x.device, dtype=out_dtype)
    if rows == 0 or N == 0:
        return out.reshape(*lead, N)
    BLOCK = triton.next_power_of_2(N)
    nbytes = rows * N * (x2.element_size() + z2.element_size() + out.element_size()) + N * weight.element_size()
    with kernel_metadata("gated_rmsnorm", nbytes, rows * N * 8, (x2, z2)):
        wrap(_gated_rmsnorm_kernel)[(rows,)](x2, z2, weight, out, N, x2.stride(0), z2.stride(0), out.stride(0), eps,
                                              BLOCK=BLOCK, num_warps=min(max(BLOCK // 1024, 1), 16))
    return out.reshape(*lead, N)


def _conv_op(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    return conv1d_silu(x, weight, bias, wrap=WRAP)


def _step_op(state: Tensor, x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    return conv1d_silu_step(state, x, weight, bias, wrap=WRAP)


def _norm_op(x: Tensor, z: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype) -> Tensor:
    return gated_rmsnorm(x, z, weight, eps, out_dtype, wrap=WRAP)


def _conv_shapes(x, weight, bias):
    return x.new_empty(x.shape)


def _norm_shapes(x, z, weight, eps, out_dtype):
    return x.new_empty(x.shape, dtype=out_dtype)


def _step_shapes(state, x, weight, bias):
    return x.new_empty(x.shape)


conv1d_silu_op = library_op("bambaprof::conv1d_silu", _conv_op, _conv_shapes)
conv1d_silu_step_op = library_op("bambaprof::conv1d_silu_step", _step_op, _step_shapes, mutates=("state",))
gated_rmsnorm_op = library_op("bambaprof::gated_rmsnorm", _norm_op, _norm_shapes)
