"""Which units a float32 matrix product ran on, and how its tensor-core loads were aligned, read from its kernel's
name.

cuBLAS and CUTLASS name a GEMM kernel after the way it computes, and the name is all a trace keeps of it:

- on the CUDA cores (FFMA, full float32): ``volta_sgemm_128x64_nn``, ``ampere_sgemm_*``,
  ``cutlass_80_simt_sgemm_*``, and cuBLAS's ``sm80_xmma_gemm_f32f32_f32f32_f32_..._ffma_...`` (inputs f32 f32,
  math f32 f32; cuBLAS runs this sm_80 kernel on Hopper too);
- on the tensor cores in TF32 (inputs rounded to a 10-bit mantissa, products summed in float32):
  ``sm90_xmma_gemm_f32f32_tf32f32_f32_*``, ``cutlass_80_tensorop_s1688gemm_*`` (``s1688``/``s16816``: single
  precision through a tensor op), and Hopper's warpgroup kernels (``warpgroupsize``, ``gmma``), which take float32
  only as TF32.

A name that says neither (nvjet, Tensile on ROCm, Triton, a hand-written kernel) is unknown: nothing is guessed.
Convolutions (``fprop``/``dgrad``/``wgrad``, ``implicit_gemm``, ``conv``) and matrix-vector products (``gemv``,
memory-bound, where tensor cores buy nothing) are not matrix products here.

CUTLASS's tensor-op kernels (and cuBLAS's, which it names after them) end in ``alignN``: the elements each global
load moves. Tensor cores are fed 16-byte loads; a kernel aligned to less (``cutlass_75_tensorop_bf16_s1688gemm_bf16
_256x128_nn_align1``: 2 bytes) is what cuBLAS falls back to when a matrix's leading dimension is not a multiple of 16
bytes (8 bf16 elements), and it runs several times slower (:func:`gemm_alignment_bytes`).
"""

from __future__ import annotations

import re
from typing import Optional

#: The units :func:`float32_gemm_units` names.
CUDA_CORES = "CUDA cores"
TENSOR_CORES = "tensor cores"

#: Convolutions and matrix-vector products; ``conv`` as a word's start (``implicit_convolve``), not inside one
#: (CUTLASS's ``NumericConverter`` in a GEMM's epilogue).
_NOT_GEMM = re.compile(r"gemv|(?<![a-z])conv(?!ert)|fprop|dgrad|wgrad|implicit", re.IGNORECASE)
_TENSOR = re.compile(r"tf32|tensorop_s|s1688|s16816|s1684|warpgroupsize|gmma", re.IGNORECASE)
_SIMT = re.compile(r"sgemm|xmma_gemm_f32f32_f32f32", re.IGNORECASE)


def float32_gemm_units(name: str) -> Optional[str]:
    """:data:`CUDA_CORES` or :data:`TENSOR_CORES` for a GEMM kernel whose name says how it computes float32
    products (see the module docstring); ``None`` for any other kernel, or a GEMM whose name does not say."""
    if _NOT_GEMM.search(name):
        return None
    if _TENSOR.search(name):
        return TENSOR_CORES
    if _SIMT.search(name):
        return CUDA_CORES
    return None


_ALIGN = re.compile(r"_align(\d+)(?![0-9])")
_ELEMENT_BYTES = ((re.compile(r"e4m3|e5m2|_i8|s8gemm|i8816|u8", re.IGNORECASE), 1),
                  (re.compile(r"bf16|f16|_h\d|hgemm|h1688|h16816", re.IGNORECASE), 2))
#: The load width (bytes) a tensor-core GEMM kernel needs to run at its full rate.
FULL_ALIGNMENT_BYTES = 16


def gemm_alignment_bytes(name: str) -> Optional[int]:
    """The bytes each global load of a tensor-op GEMM kernel moves, read from its name's ``alignN`` and element type
    (1 byte for int8 and fp8, 2 for bf16 and fp16, else 4: tf32 and float32); ``None`` for a kernel that is not a
    tensor-op GEMM or whose name does not say its alignment. Under :data:`FULL_ALIGNMENT_BYTES`, cuBLAS fell back
    to it for a leading dimension that is not a multiple of 16 bytes."""
    if _NOT_GEMM.search(name) or "tensorop" not in name.lower() or "gemm" not in name.lower():
        return None
    m = _ALIGN.search(name)
    if m is None:
        return None
    element = next((size for pattern, size in _ELEMENT_BYTES if pattern.search(name)), 4)
    return int(m.group(1)) * element
