"""Greedy sampling of the ``triton`` variant's model: the argmax of each row of logits in one launch.

torch's ``argmax`` of one row of a vocabulary reduces it in one block of threads: on the H200 it took 26 us
of GPU time for Bamba's 128,256 logits (bf16 or float32, batch 1 to 16), about 3% of a token under CUDA
graphs. :func:`argmax_rows` spreads each row over programs of :data:`BLOCK` logits: each writes its block's
largest value and first index, and the program that finishes last (a counter per row, which it sets back to
zero for the next call) reduces those. The result is torch's: the first index of the largest value, and NaN
larger than everything (the first NaN wins); -0.0 equals 0.0.

Values are compared as integers: a float32's bits, with the magnitude bits of negative values flipped, order
as the floats do; NaNs map to the largest key, -0.0 to 0.0's.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Tuple

import torch
import triton
import triton.language as tl

from .grid import cdiv, next_power_of_2
from .launch import direct
from .metadata import kernel_metadata

Tensor = torch.Tensor

#: Logits one program reduces.
BLOCK = 4096
#: Input dtypes taken (others go to torch).
DTYPES = (torch.bfloat16, torch.float16, torch.float32)

_INT_MIN: tl.constexpr = tl.constexpr(-2147483648)
_INT_MAX: tl.constexpr = tl.constexpr(2147483647)


@triton.jit
def _argmax_kernel(x_ptr, part_ptr, count_ptr, out_ptr, V, stride_x, S, BLOCK: tl.constexpr, SP: tl.constexpr):
    row = tl.program_id(0)
    s = tl.program_id(1)
    k = s * BLOCK + tl.arange(0, BLOCK)
    ok = k < V
    v = tl.load(x_ptr + row.to(tl.int64) * stride_x + k, mask=ok, other=0.0).to(tl.float32)
    bits = v.to(tl.int32, bitcast=True)
    key = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative values: magnitude bits flipped, so keys order as floats
    key = tl.where(v == 0.0, 0, key)  # -0.0 as 0.0
    key = tl.where(v != v, _INT_MAX, key)  # NaN above everything
    key = tl.where(ok, key, _INT_MIN)  # (no value maps to INT_MIN)
    best = tl.max(key, axis=0)
    first = tl.min(tl.where(key == best, k, _INT_MAX), axis=0)
    part = part_ptr + (row * S + s) * 2
    tl.store(part, best)
    tl.store(part + 1, first)
    tl.debug_barrier()  # the block's result is stored before the counter says so
    done = tl.atomic_add(count_ptr + row, 1, sem="acq_rel")
    if done == S - 1:  # the last of the row's programs: the others' results are visible (acquire)
        j = tl.arange(0, SP)
        parts = part_ptr + (row * S + j) * 2
        keys = tl.load(parts, mask=j < S, other=_INT_MIN, cache_modifier=".cg")
        firsts = tl.load(parts + 1, mask=j < S, other=_INT_MAX, cache_modifier=".cg")
        top = tl.max(keys, axis=0)
        tl.store(out_ptr + row, tl.min(tl.where(keys == top, firsts, _INT_MAX), axis=0).to(tl.int64))
        tl.store(count_ptr + row, 0)  # ready for the next call on this stream


def applies(logits: Tensor) -> bool:
    """Whether :func:`argmax_rows` takes ``logits``: ``(b, V)`` with ``0 < V < 2**31``, unit stride along a row,
    a dtype of :data:`DTYPES`."""
    return logits.dim() == 2 and logits.dtype in DTYPES and 0 < logits.shape[1] < 2 ** 31 \
        and logits.shape[0] > 0 and logits.stride(1) == 1


#: Per (device, stream): the row counters (zero between calls) and the programs' results. Calls on one stream
#: run one after the other, so they can share them; another stream gets its own.
_scratch: Dict[Tuple[torch.device, int], Tuple[Tensor, Tensor]] = {}


def _stream(device: torch.device) -> int:
    """The current stream of ``device`` as a number (0 off CUDA): the raw handle where torch offers it (what
    inductor's launches use; a fraction of a microsecond), else through a ``Stream`` object."""
    if device.type != "cuda":
        return 0
    index = device.index if device.index is not None else torch.cuda.current_device()
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    return raw(index) if raw is not None else torch.cuda.current_stream(index).cuda_stream


def _buffers(device: torch.device, rows: int, programs: int) -> Tuple[Tensor, Tensor]:
    key = (device, _stream(device))
    held = _scratch.get(key)
    if held is None or held[0].numel() < rows or held[1].numel() < rows * programs * 2:
        size = max(rows, held[0].numel() if held is not None else 0)
        parts = max(rows * programs * 2, held[1].numel() if held is not None else 0)
        held = _scratch[key] = (torch.zeros(size, device=device, dtype=torch.int32),
                                torch.empty(parts, device=device, dtype=torch.int32))
    return held


@functools.lru_cache(maxsize=64)
def _plan(V: int) -> Tuple[int, int]:
    programs = cdiv(V, BLOCK)
    return programs, max(2, next_power_of_2(programs))


def argmax_rows(logits: Tensor, wrap: Callable = direct) -> Tensor:
    """``logits.argmax(dim=-1, keepdim=True)`` for ``logits (b, V)`` (:func:`applies`) in one launch: ``(b, 1)``
    int64, the same indices as torch's (first of ties, NaN largest)."""
    if not applies(logits):
        raise ValueError(f"argmax_rows takes (b, V) logits with unit stride along V in {DTYPES}, not "
                         f"{tuple(logits.shape)} {logits.dtype} with strides {logits.stride()}")
    b, V = logits.shape
    programs, padded = _plan(V)
    counts, parts = _buffers(logits.device, b, programs)
    out = torch.empty((b, 1), device=logits.device, dtype=torch.int64)
    with kernel_metadata("greedy_argmax", lambda: b * V * logits.element_size() + b * 8, 0, (logits,)):
        wrap(_argmax_kernel)[(b, programs)](logits, parts, counts, out, V, logits.stride(0), programs,
                                           BLOCK=BLOCK, SP=padded, num_warps=4)
    return out
