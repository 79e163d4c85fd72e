"""Decode-time GEMVs of the ``triton`` variant's model with the elementwise work before them in the same
launch: a cached decode token multiplies a handful of rows (the batch) by each weight, and eagerly each
small op before a GEMV costs a launch's host time (the eager token is host-bound).

- :func:`rmsnorm_linear`: the decoder's residual add, its RMSNorm and the linear after it (``in_proj``, the
  MLP's stacked gate and up projection): ``linear(weight * rms_normalise(x + delta))`` and the residual sum,
  rounded as :func:`~bambaprof.ssm.kernels.mixer.add_rmsnorm` then ``F.linear`` round them;
- :func:`silu_mul_linear`: the MLP's gated activation and its down projection: ``linear(silu(gate) * up)``
  from the stacked projection's output, rounded as ``F.silu(gate) * up`` rounds it.

Each program computes ``BLOCK_N`` outputs of every row: it recomputes the rows' norm (or activation) on its
way through ``K`` in blocks of ``BLOCK_K`` and multiplies them with its block of the weight, which it
streams once (the kernel is bound by reading the weight): on the tensor cores for 2 to 16 rows (padded to
16), on the CUDA cores for one row (a batch-1 token), where padding would multiply the prologue's work by
16. Only 16-bit inputs with one dtype throughout take these kernels (the model's bf16 and fp16); products
accumulate in float32 and round once, so results differ from cuBLAS's in the last bits (another summation
order), and the recomputed norm may round a normalised value the other way where the sum of squares' last
bit differs (a rare one-step difference in bf16).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import torch
import triton
import triton.language as tl

from .grid import cdiv, next_power_of_2
from .launch import direct
from .metadata import kernel_metadata
from .mixer import rows_of

Tensor = torch.Tensor

#: Rows (batch x positions) these kernels take; more go to torch (a GEMM's shape, where cuBLAS is the tool).
MAX_ROWS = 16
#: Input dtypes these kernels take (one for every operand).
DTYPES = (torch.bfloat16, torch.float16)


class GemvConfig(NamedTuple):
    """A launch of the GEMV kernel: ``block_n`` outputs (rows of the weight) a program computes, ``block_k``
    weight columns a step of its reduction reads, ``stages`` steps in flight (software pipelining), ``warps``
    warps a program."""

    block_n: int = 64
    block_k: int = 128
    stages: int = 4
    warps: int = 4


#: Launch configurations by ``(N, K)`` for 2 to 16 rows (tensor-core products, rows padded to 16) and for one
#: row (CUDA-core products); others take the defaults. The fastest of those tried on the H200 at Bamba-9B's
#: shapes (``benchmarks/decode_gemv.py``; ``benchmarks/results/h200-decode-gemv.json`` for one row,
#: ``h200-decode-gemv-tensor-core.json`` for the padded rows): ``in_proj`` (16768 x 4096), the stacked gate
#: and up projection (28672 x 4096), ``down_proj`` (4096 x 14336).
#: (For ``in_proj``'s padded rows, 64 x 256 in 4 warps measured 52.0 us but spills at 255 registers when compiled
#: ahead of time; 128 x 128 in 8 warps measured 52.1 us and does not.)
CONFIGS: Dict[Tuple[int, int], GemvConfig] = {
    (16768, 4096): GemvConfig(128, 128, 3, 8), (28672, 4096): GemvConfig(128, 128, 3, 8)}
CONFIGS_ONE_ROW: Dict[Tuple[int, int], GemvConfig] = {
    (16768, 4096): GemvConfig(8, 256, 1, 8), (28672, 4096): GemvConfig(16, 256, 1, 4),
    (4096, 14336): GemvConfig(8, 1024, 3, 4)}
DEFAULT = GemvConfig(128, 128, 3, 8)
DEFAULT_ONE_ROW = GemvConfig(16, 256, 1, 4)
#: Rows :func:`silu_mul_linear` takes in the model: one. Padded to 16 rows, ``down_proj``'s 4096 outputs make
#: too few programs (131.5 us on the H200 against 47.8 for the activation and ``F.linear`` apart); in one row
#: it took 39.8 us, less than ``F.linear`` alone (42.4).
ACTIVATION_MAX_ROWS = 1
#: Rows :func:`rmsnorm_linear` takes in the model: up to 8. Padded, its kernels cost 7% to 9% more than
#: ``add_rmsnorm`` then ``F.linear`` at 2 to 16 rows (and give the same bits), and save a launch's host time
#: each; on the H200 the eager token was 0.96x to 0.99x at batches 2 to 8 and 1.05x at 16, where the token
#: is no longer host-bound (``benchmarks/decode_gemv_batch.py``, ``h200-decode-gemv-batch.json``).
NORM_MAX_ROWS = 8


@triton.jit
def _prologue_gemv_kernel(x_ptr, d_ptr, nw_ptr, s_ptr, w_ptr, out_ptr, M, N, K, stride_x, stride_d, stride_s,
                          stride_w, stride_o, eps,
                          PROLOGUE: tl.constexpr, HAS_DELTA: tl.constexpr, BLOCK_M: tl.constexpr,
                          BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, ROW_BLOCK: tl.constexpr,
                          STAGES: tl.constexpr, DOT_F32: tl.constexpr):
    # PROLOGUE 0: the rows as they are; 1: weight_norm * rms_normalise(x [+ delta]); 2: silu(x[:, :K]) * x[:, K:]
    # DOT_F32: the products in float32 from the 16-bit values (the interpreter's 16-bit dot is not exact)
    dot_t = tl.float32 if DOT_F32 else w_ptr.dtype.element_ty
    pid = tl.program_id(0)
    m = tl.arange(0, BLOCK_M)
    ok_m = m < M
    n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    ok_n = n < N
    x_rows = x_ptr + m.to(tl.int64)[:, None] * stride_x
    d_rows = d_ptr + m.to(tl.int64)[:, None] * stride_d
    rstd = tl.zeros((BLOCK_M,), dtype=tl.float32)
    if PROLOGUE == 1:
        # the rows' sums of squares of the residual sum, rounded to its dtype as torch's add rounds it; the
        # first program also writes that sum (the residual the next layer adds to)
        squares = tl.zeros((BLOCK_M, ROW_BLOCK), dtype=tl.float32)
        for k0 in range(0, K, ROW_BLOCK):
            k = k0 + tl.arange(0, ROW_BLOCK)
            ok = ok_m[:, None] & (k < K)[None, :]
            h = tl.load(x_rows + k[None, :], mask=ok, other=0.0)
            if HAS_DELTA:
                h = (h.to(tl.float32) + tl.load(d_rows + k[None, :], mask=ok, other=0.0).to(tl.float32)) \
                    .to(s_ptr.dtype.element_ty)
                if pid == 0:
                    tl.store(s_ptr + m.to(tl.int64)[:, None] * stride_s + k[None, :], h, mask=ok)
            h = h.to(tl.float32)
            squares += h * h
        rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=1) / K + eps)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    # one row (BLOCK_M 1): products on the CUDA cores into a (BLOCK_N, BLOCK_K) tile, summed once at the end
    wide = tl.zeros((BLOCK_N, BLOCK_K) if BLOCK_M == 1 else (1, 1), dtype=tl.float32)
    w_rows = w_ptr + n.to(tl.int64)[:, None] * stride_w
    for k0 in tl.range(0, K, BLOCK_K, num_stages=STAGES):
        k = k0 + tl.arange(0, BLOCK_K)
        ok_k = k < K
        ok = ok_m[:, None] & ok_k[None, :]
        if PROLOGUE == 1:
            h = tl.load(x_rows + k[None, :], mask=ok, other=0.0)
            if HAS_DELTA:
                h = (h.to(tl.float32) + tl.load(d_rows + k[None, :], mask=ok, other=0.0).to(tl.float32)) \
                    .to(s_ptr.dtype.element_ty)
            normed = (h.to(tl.float32) * rstd[:, None]).to(s_ptr.dtype.element_ty).to(tl.float32)
            a = (normed * tl.load(nw_ptr + k, mask=ok_k, other=0.0).to(tl.float32)[None, :]).to(w_ptr.dtype.element_ty)
        elif PROLOGUE == 2:
            g = tl.load(x_rows + k[None, :], mask=ok, other=0.0).to(tl.float32)
            u = tl.load(x_rows + K + k[None, :], mask=ok, other=0.0).to(tl.float32)
            act = (g / (1.0 + tl.exp(-g))).to(x_ptr.dtype.element_ty).to(tl.float32)  # F.silu, rounded
            a = (act * u).to(w_ptr.dtype.element_ty)
        else:
            a = tl.load(x_rows + k[None, :], mask=ok, other=0.0)
        w = tl.load(w_rows + k[None, :], mask=ok_n[:, None] & ok_k[None, :], other=0.0)
        if BLOCK_M == 1:
            wide += w.to(tl.float32) * a.to(tl.float32)
        else:
            acc = tl.dot(a.to(dot_t), tl.trans(w).to(dot_t), acc, input_precision="ieee" if DOT_F32 else "tf32")
    if BLOCK_M == 1:
        acc = tl.sum(wide, axis=1)[None, :]
    out = out_ptr + m.to(tl.int64)[:, None] * stride_o + n[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=ok_m[:, None] & ok_n[None, :])


def applies(x: Tensor, weight: Tensor, *others: Optional[Tensor], max_rows: int = MAX_ROWS) -> bool:
    """Whether these kernels take rows ``x`` ``(..., K)`` times ``weight`` ``(N, K)``: at most ``max_rows``
    rows (:data:`MAX_ROWS` at most), a 16-bit dtype shared by every operand given, a contiguous weight with
    ``K`` a multiple of 16 and 16-byte aligned, unit stride along the rows.

    The kernels compute any ``K``, but the compiler vectorises their loads only where it knows the weight's
    rows are aligned: otherwise each element's load takes its own 64-bit address, and the padded-rows form
    spills (255 registers and 112 to 176 stack bytes a thread at ``K`` = 1000, 1004, 1032 or 4100, sm_90,
    against 126 registers and none at multiples of 16), so such weights go to torch."""
    dtype = x.dtype
    if dtype not in DTYPES or weight.dtype != dtype or not weight.is_contiguous() or x.stride(-1) != 1:
        return False
    if weight.shape[-1] % 16 or weight.data_ptr() % 16:
        return False
    if x.numel() > min(max_rows, MAX_ROWS) * x.shape[-1] or weight.numel() == 0:  # none of an empty weight
        return False
    return all(t is None or t.dtype == dtype for t in others)


@functools.lru_cache(maxsize=256)
def _plan(prologue: int, M: int, N: int, K: int, has_delta: bool, on_cuda: bool,
          cfg: GemvConfig) -> Tuple[Tuple[int], int, str, Dict[str, Any]]:
    """What a launch's shapes and configuration decide: its grid, FLOPs, trace name and keywords (made once per
    distinct shape: this is on every eager decode token's path)."""
    flops = 2 * M * N * K + (M * K * (6 if prologue == 1 else 5) if prologue else 0)
    keywords = dict(PROLOGUE=prologue, HAS_DELTA=has_delta, BLOCK_M=1 if M == 1 else 16, BLOCK_N=cfg.block_n,
                    BLOCK_K=min(cfg.block_k, max(16, next_power_of_2(K))),
                    ROW_BLOCK=min(512, max(16, next_power_of_2(K))), STAGES=cfg.stages, DOT_F32=not on_cuda,
                    num_warps=cfg.warps)
    return (cdiv(N, cfg.block_n),), flops, ("rows_linear", "rmsnorm_linear", "silu_mul_linear")[prologue], keywords


def _launch(prologue: int, x: Tensor, stride_x: int, M: int, K: int, weight: Tensor, out: Tensor,
            d: Optional[Tensor], stride_d: int, nw: Optional[Tensor], s: Optional[Tensor], eps: float,
            wrap: Callable) -> None:
    N = weight.shape[0]
    cfg = CONFIGS_ONE_ROW.get((N, K), DEFAULT_ONE_ROW) if M == 1 else CONFIGS.get((N, K), DEFAULT)
    grid, flops, name, keywords = _plan(prologue, M, N, K, d is not None, x.is_cuda, cfg)

    def nbytes() -> int:
        size = x.element_size()
        moved = N * K * size + M * N * size + M * K * size * (2 if prologue == 2 else 1)
        if prologue == 1:
            moved += K * size + (2 * M * K * size if d is not None else 0)
        return moved

    with kernel_metadata(name, nbytes, flops, (x, weight)):
        wrap(_prologue_gemv_kernel)[grid](
            x, d if d is not None else x, nw if nw is not None else weight, s if s is not None else out, weight,
            out, M, N, K, stride_x, stride_d, K, K, N, float(eps), **keywords)


def rmsnorm_linear(x: Tensor, delta: Optional[Tensor], norm_weight: Tensor, eps: float, weight: Tensor,
                   wrap: Callable = direct) -> Tuple[Tensor, Tensor]:
    """``(F.linear(norm_weight * rms_normalise(s), weight), s)`` with ``s = x + delta`` (``delta`` None:
    ``s = x``), in one launch. ``x``, ``delta``: ``(..., K)`` of one shape (at most :data:`MAX_ROWS` rows);
    ``norm_weight``: ``(K,)``; ``weight``: ``(N, K)`` contiguous; one 16-bit dtype throughout
    (:func:`applies`). Returns the product ``(..., N)`` and ``s`` (a new contiguous tensor, or ``x``)."""
    if delta is not None and delta.shape != x.shape:
        raise ValueError(f"rmsnorm_linear: x {tuple(x.shape)} and delta {tuple(delta.shape)} differ in shape")
    K = x.shape[-1]
    if norm_weight.shape != (K,) or weight.dim() != 2 or weight.shape[1] != K:
        raise ValueError(f"rmsnorm_linear: the norm weight must have {K} values and the weight (N, {K})")
    out = torch.empty((*x.shape[:-1], weight.shape[0]), device=x.device, dtype=x.dtype)
    s = torch.empty_like(x, memory_format=torch.contiguous_format) if delta is not None else x
    xr, stride_x = rows_of(x)
    M = x.numel() // K if K else 0
    if M:
        dr, stride_d = rows_of(delta) if delta is not None else (None, 0)
        _launch(1, xr, stride_x, M, K, weight, out, dr, stride_d, norm_weight, s if delta is not None else None,
                eps, wrap)
    return out, s


def silu_mul_linear(gate_up: Tensor, weight: Tensor, wrap: Callable = direct) -> Tensor:
    """``F.linear(F.silu(gate) * up, weight)`` with ``gate, up = gate_up.chunk(2, dim=-1)``, in one launch.
    ``gate_up``: ``(..., 2K)`` (at most :data:`MAX_ROWS` rows); ``weight``: ``(N, K)`` contiguous; one 16-bit
    dtype (:func:`applies`). Returns ``(..., N)``."""
    K2 = gate_up.shape[-1]
    K = K2 // 2
    if K2 % 2 or weight.dim() != 2 or weight.shape[1] != K:
        raise ValueError(f"silu_mul_linear: gate_up's last dimension ({K2}) must be twice the weight's ({K} "
                         f"expected, weight {tuple(weight.shape)})")
    out = torch.empty((*gate_up.shape[:-1], weight.shape[0]), device=gate_up.device, dtype=gate_up.dtype)
    xr, stride_x = rows_of(gate_up)
    M = gate_up.numel() // K2 if K2 else 0
    if M:
        _launch(2, xr, stride_x, M, K, weight, out, None, 0, None, None, 0.0, wrap)
    return out
