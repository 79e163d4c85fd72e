"""Bytes a kernel must move (and FLOPs where known), from metadata or the launching op's shapes.

Sources, in order of preference:

1. ``metadata``: the launching op carries ``kernel_num_gb`` (inductor with
   ``TORCHINDUCTOR_BENCHMARK_KERNEL=1``, and bambaprof's own Triton kernels),
   1 GB = 1e9 bytes; ``kernel_flop`` when present;
2. ``launch args``: the launch of a Triton kernel without metadata (mamba_ssm's, a
   user's), recorded by bambaprof's launch hook during ``profile``/``record``, or
   by inductor for the user kernels of a compiled graph (an op of backend ``triton``
   with its arguments' shapes): the sum of its tensor arguments' sizes, an *upper
   bound* of the compulsory traffic (a kernel may touch only part of an argument);
3. ``shape model``: a model of the launching aten op from its recorded input
   shapes and dtypes (``record_shapes=True``): every input tensor read once and
   the output written once, i.e. the *compulsory* traffic:

   - matmul family (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``matmul``): A + B
     (+ bias) + C, and 2 m n k FLOPs (x batch);
   - elementwise (unary, binary, ternary, in place or not; broadcasting): every
     tensor input + the broadcast output in the promoted dtype;
   - reductions (``sum``, ``mean``, ``amax`` ...): input + reduced output;
   - copies (``copy_``, ``clone``, ``contiguous``, ``_to_copy``, ``to``) and
     ``cumsum``: input + output of the same size; ``_foreach_copy_`` of tensor lists
     (dtypes from the kernel's name, see :func:`foreach_copy_traffic`);
   - convolutions (``_conv_depthwise2d``, ``convolution``, ``cudnn_convolution``, ...; not transposed): input,
     weight and bias + the output, whose size follows from the recorded stride, padding and dilation, and
     2 N C_out prod(out) (C_in / groups) prod(kernel) FLOPs;
   - fused attention's forward (``_scaled_dot_product_flash_attention``, ``_efficient_attention``,
     ``_cudnn_attention``, ``_fused_attention_overrideable``): q, k, v, the mask and the output once, and the two
     products' FLOPs over the pairs the call attends (:mod:`bambaprof.analysis.attention`);

4. ``launch map``: a kernel replayed from a CUDA graph has no launching op; it takes the traffic of the same
   kernel in the run's launch map (see :mod:`bambaprof.analysis.launch_map`);
5. otherwise ``None``: unknown, never guessed.

The shape model is applied when the op launched one kernel, a split-K GEMM (the
GEMM gets the op's bytes), or several pieces of one kernel (tensors split for
32-bit indexing: the op's bytes are shared in proportion to the pieces' time);
bytes of an op that launches different kernels cannot be split among them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence

import numpy as np

DTYPE_BYTES = {
    "float": 4, "double": 8, "c10::Half": 2, "c10::BFloat16": 2, "half": 2, "bfloat16": 2,
    "int": 4, "long int": 8, "int64_t": 8, "long": 8, "short int": 2, "signed char": 1, "unsigned char": 1,
    "bool": 1, "c10::complex<float>": 8, "c10::complex<double>": 16, "c10::Float8_e4m3fn": 1,
    "c10::Float8_e5m2": 1, "unsigned int": 4, "unsigned short": 2,
}
#: Short names of Kineto's type names, as tables and findings write them (``c10::BFloat16``: ``bf16``).
DTYPE_NAMES = {"c10::BFloat16": "bf16", "c10::Half": "fp16", "float": "fp32", "double": "fp64",
               "c10::Float8_e4m3fn": "fp8", "c10::Float8_e5m2": "fp8e5m2", "int": "int32", "long int": "int64",
               "bool": "bool", "unsigned char": "uint8", "signed char": "int8", "short int": "int16"}
_FLOAT_RANK = {"c10::Float8_e4m3fn": 0, "c10::Float8_e5m2": 0, "c10::Half": 1, "c10::BFloat16": 1,
               "float": 2, "double": 3}

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::_addmm_activation"}
COPY_OPS = {"aten::copy_", "aten::clone", "aten::contiguous", "aten::_to_copy", "aten::to", "aten::cumsum",
            "aten::cumsum_", "aten::_copy_from", "aten::cat"}
REDUCTION_OPS = {"aten::sum", "aten::mean", "aten::amax", "aten::amin", "aten::max", "aten::min", "aten::prod",
                 "aten::norm", "aten::linalg_vector_norm", "aten::var", "aten::std", "aten::logsumexp",
                 "aten::argmax", "aten::argmin", "aten::any", "aten::all"}
ELEMENTWISE_OPS = {
    "add", "sub", "mul", "div", "exp", "exp2", "log", "log1p", "expm1", "neg", "abs", "sqrt", "rsqrt", "pow",
    "silu", "gelu", "relu", "sigmoid", "tanh", "softplus", "clamp", "clamp_min", "clamp_max", "masked_fill",
    "where", "maximum", "minimum", "reciprocal", "sin", "cos", "fill", "zero", "lt", "le", "gt", "ge", "eq", "ne",
    "logical_not", "logical_and", "bitwise_not", "square", "addcmul", "addcdiv", "lerp", "sign", "floor", "ceil",
    "round", "erf", "mish", "hardswish", "threshold", "_softmax", "softmax", "_log_softmax", "tril", "triu",
    "silu_backward", "gelu_backward", "threshold_backward", "sigmoid_backward",
}
_BOOL_RESULT = {"lt", "le", "gt", "ge", "eq", "ne", "logical_not", "logical_and"}


@dataclass(frozen=True)
class Traffic:
    """Bytes (and FLOPs, ``None`` when unknown) one kernel must move; ``source`` says where from."""

    bytes: float
    flops: Optional[float]
    source: str  # "metadata", "launch args", "shape model", "trace" (memcpy/memset) or "launch map"


class TrafficColumns:
    """The :class:`Traffic` of every GPU activity row as columns: ``bytes`` and ``flops`` (nan when unknown)
    and ``source`` (codes into :attr:`sources`, -1 when the row's traffic is unknown).

    Reads and writes like a list of ``Optional[Traffic]`` (``cols[i]``, ``cols[i] = t``), so code that walks
    rows one by one still can; analyses of all rows use the arrays."""

    def __init__(self, n: int) -> None:
        self.bytes = np.full(n, np.nan)
        self.flops = np.full(n, np.nan)
        self.source = np.full(n, -1, dtype=np.int64)
        self.sources: List[str] = []

    def __len__(self) -> int:
        return len(self.bytes)

    def __iter__(self) -> Iterator[Optional[Traffic]]:
        return (self[i] for i in range(len(self)))

    def source_code(self, source: str) -> int:
        """The code of a source name (added when new)."""
        if source not in self.sources:
            self.sources.append(source)
        return self.sources.index(source)

    @property
    def known(self) -> np.ndarray:
        """Rows whose traffic is known."""
        return self.source >= 0

    def __getitem__(self, i: int) -> Optional[Traffic]:
        c = int(self.source[i])
        if c < 0:
            return None
        f = float(self.flops[i])
        return Traffic(float(self.bytes[i]), f if f == f else None, self.sources[c])

    def __setitem__(self, i: int, t: Optional[Traffic]) -> None:
        if t is None:
            self.bytes[i], self.flops[i], self.source[i] = np.nan, np.nan, -1
        else:
            self.bytes[i] = t.bytes
            self.flops[i] = t.flops if t.flops is not None else np.nan
            self.source[i] = self.source_code(t.source)

    def put(self, rows: np.ndarray, choice: np.ndarray, values: Sequence[Optional[Traffic]]) -> None:
        """Row ``rows[k]`` gets ``values[choice[k]]``, for all k at once."""
        if not len(rows):
            return
        b = np.array([t.bytes if t is not None else np.nan for t in values] or [np.nan])
        f = np.array([t.flops if t is not None and t.flops is not None else np.nan for t in values] or [np.nan])
        c = np.array([self.source_code(t.source) if t is not None else -1 for t in values] or [-1], dtype=np.int64)
        self.bytes[rows], self.flops[rows], self.source[rows] = b[choice], f[choice], c[choice]


def is_shape(d: Any) -> bool:
    """Whether ``d`` is a recorded tensor shape: a list of non-negative ints (``True`` and ``False`` are not)."""
    return isinstance(d, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in d)


def tensor_inputs(dims: Sequence[Any], types: Sequence[Any]) -> List[tuple]:
    """(shape, dtype) of each tensor input; scalars and lists of tensors are skipped."""
    out = []
    for d, t in zip(dims, types):
        if isinstance(d, list) and isinstance(t, str) and t in DTYPE_BYTES and all(isinstance(x, int) for x in d):
            out.append((d, t))
    return out


def broadcast_shape(shapes: Sequence[List[int]]) -> Optional[List[int]]:
    """The shape NumPy/PyTorch broadcasting gives ``shapes`` (trailing dims aligned; a dim of 1 stretches); None
    where two dims differ and neither is 1."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            j = i - (ndim - len(s))
            if j < 0 or s[j] == 1:
                continue
            if size not in (1, s[j]):
                return None
            size = s[j]
        out.append(size)
    return out


def promote_dtype(dtypes: Sequence[str]) -> str:
    """The dtype (a Kineto type name) an elementwise op of ``dtypes`` computes in: the widest floating type among
    them, else the widest."""
    floats = [d for d in dtypes if d in _FLOAT_RANK]
    if floats:
        return max(floats, key=lambda d: _FLOAT_RANK[d])
    return max(dtypes, key=lambda d: DTYPE_BYTES[d])


def tensor_bytes(shape: List[int], dtype: str) -> int:
    """The bytes a dense tensor of ``shape`` and ``dtype`` (a Kineto type name of :data:`DTYPE_BYTES`) holds."""
    return math.prod(shape) * DTYPE_BYTES[dtype]


def parse_dims_arg(text: Any) -> Optional[List[int]]:
    """The integers of a recorded list argument (``"[-1, 2]"``: ``[-1, 2]``); None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    nums = re.findall(r"-?\d+", text)
    return [int(n) for n in nums] if nums else None


def op_traffic(name: str, dims: Any, types: Any, concrete: Any = None) -> Optional[Traffic]:
    """Compulsory traffic of one aten op from its recorded shapes; ``None`` when not modelled.

    Memoised: traces repeat the same op with the same shapes many times.
    """
    if not isinstance(dims, list) or not isinstance(types, list):
        return None
    key = (name, repr(dims), repr(types), repr(concrete))
    hit = _MEMO.get(key, _MISSING)
    if hit is _MISSING:
        hit = _MEMO[key] = _op_traffic(name, dims, types, concrete)
    return hit


_MEMO: dict = {}
_MISSING = object()


def _op_traffic(name: str, dims: List[Any], types: List[Any], concrete: Any) -> Optional[Traffic]:
    if not isinstance(dims, list) or not isinstance(types, list):
        return None
    tensors = tensor_inputs(dims, types)
    if not tensors:
        return None
    base = name.split("::")[-1].rstrip("_") if name.startswith("aten::") else None
    if name in MATMUL_OPS:
        return _matmul(name, tensors)
    if name in CONV_ARGS:
        return _conv(name, dims, types, concrete)
    if name.startswith(("aten::_scaled_dot_product_", "aten::_cudnn_attention", "aten::_flash_attention",
                        "aten::_efficient_attention", "flash_attn::")):  # a fused attention kernel's forward
        from .attention import backend_op_traffic

        return backend_op_traffic(name, dims, types, concrete)
    if name in COPY_OPS:
        if name == "aten::copy_" and len(tensors) >= 2:
            return Traffic(float(tensor_bytes(*tensors[0]) + tensor_bytes(*tensors[1])), None, "shape model")
        if name == "aten::cat":
            return None  # inputs are a tensor list: shapes not recorded per tensor
        shape, dtype = tensors[0]
        return Traffic(float(2 * tensor_bytes(shape, dtype)), None, "shape model")
    if name in REDUCTION_OPS:
        shape, dtype = tensors[0]
        reduce_dims = parse_dims_arg(concrete[1]) if isinstance(concrete, list) and len(concrete) > 1 else None
        if reduce_dims is None:
            out_numel = 1
        else:
            kept = [s for i, s in enumerate(shape) if i not in {d % max(len(shape), 1) for d in reduce_dims}]
            out_numel = math.prod(kept)
        out_size = 8 if name in ("aten::argmax", "aten::argmin") else DTYPE_BYTES[dtype]
        return Traffic(float(tensor_bytes(shape, dtype) + out_numel * out_size), None, "shape model")
    if base is not None and base in ELEMENTWISE_OPS:
        in_place = name.endswith("_") and not name.endswith("__")
        read = sum(tensor_bytes(s, t) for s, t in tensors)
        if in_place:
            shape, dtype = tensors[0]
            if base in ("fill", "zero"):
                read = sum(tensor_bytes(s, t) for s, t in tensors[1:])  # the destination is only written
            return Traffic(float(read + tensor_bytes(shape, dtype)), None, "shape model")
        out_shape = broadcast_shape([s for s, _ in tensors])
        if out_shape is None:
            return None
        out_dtype = "bool" if base in _BOOL_RESULT else promote_dtype([t for _, t in tensors])
        return Traffic(float(read + tensor_bytes(out_shape, out_dtype)), None, "shape model")
    return None


#: Convolution ops that launch the kernels: positions of (bias, stride, padding, dilation, groups) among their
#: arguments; groups ``None`` means depthwise (one group per input channel); bias ``None``: not an argument.
CONV_ARGS = {
    "aten::_conv_depthwise2d": (3, 4, 5, 6, None),
    "aten::convolution": (2, 3, 4, 5, 8),
    "aten::_convolution": (2, 3, 4, 5, 8),
    "aten::cudnn_convolution": (None, 3, 2, 4, 5),
    "aten::miopen_convolution": (2, 4, 3, 5, 6),
    "aten::miopen_depthwise_convolution": (2, 4, 3, 5, 6),
}


def _conv(name: str, dims: List[Any], types: List[Any], concrete: Any) -> Optional[Traffic]:
    """Convolution (not transposed): input (N, C_in, *spatial) and weight (C_out, C_in / groups, *kernel) read,
    bias read, output (N, C_out, *out) written, where out = (in + 2 pad - dilation (k - 1) - 1) / stride + 1;
    2 N C_out prod(out) (C_in / groups) prod(k) FLOPs. Needs the recorded stride, padding and dilation."""
    bias_at, stride_at, pad_at, dil_at, groups_at = CONV_ARGS[name]
    if len(dims) < 2 or not isinstance(concrete, list) or len(concrete) < len(dims):
        return None
    tensors = tensor_inputs(dims[:2], types[:2])
    if len(tensors) != 2:
        return None
    (x, tx), (w, tw) = tensors
    nsp = len(x) - 2
    transposed = name in ("aten::convolution", "aten::_convolution") and str(concrete[6]).lower() == "true"
    if nsp < 1 or len(w) != len(x) or transposed:
        return None  # transposed: not modelled

    def ints(at: Optional[int], default: int) -> Optional[List[int]]:
        if at is None or at >= len(concrete):
            return [default] * nsp
        v = parse_dims_arg(concrete[at])
        if v is None:
            return None
        return v * nsp if len(v) == 1 else v

    stride, pad, dil = ints(stride_at, 1), ints(pad_at, 0), ints(dil_at, 1)
    if stride is None or pad is None or dil is None or not len(stride) == len(pad) == len(dil) == nsp:
        return None
    out = [(i + 2 * p - d * (k - 1) - 1) // s + 1 for i, p, d, k, s in zip(x[2:], pad, dil, w[2:], stride)]
    if min(out) <= 0:
        return None
    n, c_out = x[0], w[0]
    total = tensor_bytes(x, tx) + tensor_bytes(w, tw) + math.prod([n, c_out, *out]) * DTYPE_BYTES[tx]
    if bias_at is not None and bias_at < len(dims) and isinstance(dims[bias_at], list) and dims[bias_at]:
        total += math.prod(dims[bias_at]) * DTYPE_BYTES.get(types[bias_at], DTYPE_BYTES[tx])
    flops = 2 * n * c_out * math.prod(out) * w[1] * math.prod(w[2:])
    return Traffic(float(total), float(flops), "shape model")


def _matmul(name: str, tensors: List[tuple]) -> Optional[Traffic]:
    """A @ B (+ bias) -> C. Operands by position: ``addmm(bias, A, B)``, ``mm(A, B[, out])``."""
    with_bias = name in ("aten::addmm", "aten::baddbmm", "aten::_addmm_activation")
    operands = tensors[1:3] if with_bias else tensors[0:2]
    if len(operands) < 2 or len(operands[0][0]) < 2 or len(operands[1][0]) < 2:
        return None
    (a, ta), (b, tb) = operands
    if a[-1] != b[-2]:
        return None
    k, n = a[-1], b[-1]
    if len(b) == 2:  # (..., m, k) @ (k, n): one flattened GEMM
        batch, m = 1, math.prod(a[:-1])
    else:
        batch_shape = broadcast_shape([a[:-2], b[:-2]])
        if batch_shape is None:
            return None
        batch, m = math.prod(batch_shape), a[-2]
    total = tensor_bytes(a, ta) + tensor_bytes(b, tb) + batch * m * n * DTYPE_BYTES[ta]
    if with_bias:
        total += tensor_bytes(*tensors[0])
    return Traffic(float(total), float(2 * batch * m * n * k), "shape model")


#: ``kernel_backend`` of the ranges bambaprof's Triton launch hook records: the bytes are the sum of the
#: launch's tensor arguments (see :mod:`bambaprof.collect.triton_launches`).
LAUNCH_ARGS_BACKEND = "triton launch args"


_COPY_TYPES = re.compile(r"\bCopy<([\w:]+), ([\w:]+)>")


def foreach_copy_traffic(dims: Any, kernel_name: str) -> Optional[Traffic]:
    """``aten::_foreach_copy_(self: TensorList, src: TensorList)`` (CUDA-graph trees copy inputs into their
    static buffers with it): every source read and every destination written once. Kineto records tensor
    lists' shapes but not their dtypes; the kernel's name does (``...Copy<c10::BFloat16, c10::BFloat16>``);
    without it, unknown."""
    m = _COPY_TYPES.search(kernel_name)
    if m is None or m.group(1) not in DTYPE_BYTES or m.group(2) not in DTYPE_BYTES:
        return None
    if not isinstance(dims, list) or len(dims) < 2 or not isinstance(dims[1], list):
        return None
    shapes = dims[1]
    if not shapes or not all(isinstance(s, list) and all(isinstance(v, int) and v >= 0 for v in s) for s in shapes):
        return None
    numel = sum(math.prod(s) for s in shapes)
    return Traffic(float(numel * (DTYPE_BYTES[m.group(1)] + DTYPE_BYTES[m.group(2)])), None, "shape model")


def launch_args_traffic(dims: Any, types: Any) -> Optional[Traffic]:
    """``launch args`` traffic of a Triton launch recorded as an op with its tensor arguments' shapes (inductor
    records each launch so, with ``kernel_backend`` ``triton``; its own kernels carry ``kernel_num_gb`` as
    well, kernels it launches for user code do not): the arguments' summed sizes, an upper bound."""
    if not isinstance(dims, list) or not isinstance(types, list):
        return None
    tensors = tensor_inputs(dims, types)
    total = sum(tensor_bytes(shape, dtype) for shape, dtype in tensors)
    return Traffic(float(total), None, "launch args") if total > 0 else None


def metadata_traffic(kernel_num_gb: float, kernel_flop: float, backend: Any = None) -> Optional[Traffic]:
    """Traffic from a launching op's ``kernel_num_gb`` (GB, 1e9 bytes) and ``kernel_flop``; the source is
    ``launch args`` when the bytes are the tensor arguments' sizes (an upper bound), else ``metadata``."""
    if not (isinstance(kernel_num_gb, float) and math.isfinite(kernel_num_gb) and kernel_num_gb > 0):
        return None
    flops = kernel_flop if isinstance(kernel_flop, float) and math.isfinite(kernel_flop) and kernel_flop > 0 else None
    return Traffic(kernel_num_gb * 1e9, flops, "launch args" if backend == LAUNCH_ARGS_BACKEND else "metadata")
