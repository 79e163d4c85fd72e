"""Attention calls: which implementation computed each, its time, and its floor (times in us).

``torch.nn.functional.scaled_dot_product_attention`` (the op ``aten::scaled_dot_product_attention``) picks a
*backend* per call and runs it as an op of its own beneath the call: ``flash`` (FlashAttention-2;
``_for_cpu`` on the CPU), ``efficient`` (the memory-efficient CUTLASS kernels), ``cudnn``, ``fused`` (a device's
own, ``_fused_attention_overrideable``) or ``math``, the fallback written in ATen ops that stores the whole
score matrix (batch x heads x Lq x Lk) and runs a matmul, a softmax and another matmul over it. A backend op
called without the entry op (inductor calls them directly) is a call of its own.

``flex_attention`` (``torch.nn.attention.flex_attention``) called without ``torch.compile`` runs its unfused
implementation, which stores the whole score matrix, beneath the op ``FlexAttentionAutogradOp`` (recorded with
gradients on or off): each is a call, backend ``flex-eager``, its q, k and v from that op's inputs (its
``score_mod`` and block mask are functions and are not recorded: ``mask`` unknown). Compiled, it is one fused
Triton kernel named after it (``triton_tem_fused_flex_attention``, ``..._flex_decoding``,
``..._flex_attention_backward``): found by name, backend ``flex``.

Attention written by hand (Hugging Face's ``eager`` attention, ``softmax(q @ k^T) @ v``) is found too, backend
``unfused``: a softmax (or a ``logsumexp``, as ``exp(s - logsumexp(s)) @ v`` has) over the last dimension of a
score tensor ``[..., Lq, Lk]``, outside every
scaled-dot-product call, with a matrix product before it under the same enclosing op making that shape
(``[..., Lq, d] x [..., d, Lk]``) and one after it reading it (``[..., Lq, Lk] x [..., Lk, dv]``), each within
:data:`LOOKAHEAD` ops. Its ops are the products, the softmax and the ops between them (scaling, mask, dropout,
casts). ``torch.einsum`` products are not recognised.

Per call: the query, key and value shapes and dtype, the mask (its shape, from the call's inputs), ``is_causal``
and ``dropout_p`` (from the recorded arguments, ``Concrete Inputs``: PyTorch 2.1 and later; unknown before), the
host time of its ops, the GPU time of the kernels it launched (forward), and the GPU time of the backward pass's
kernels that autograd ran for its forward ops (``backward_us``: the nodes carrying the ``Sequence number`` of an op
of the call, as the modules table attributes backward work).

The *floor* of a call is that of attention done at once: FLOPs ``2 x batch x heads x pairs x (d + dv)`` (its two
products; ``pairs`` = Lq x Lk, or those at or below the diagonal, top-left aligned, with ``is_causal`` and where it
is not recorded, as for attention written by hand, whose mask is an op: the floor stays a lower bound) at the peak
FLOP/s of its dtype, or its compulsory bytes (q, k, v and the output once, and the mask) at the peak bandwidth,
whichever is longer. A backward pass's floor counts four products (twice the forward FLOPs) and q, k, v, the
output and its gradient read, the three gradients written. A lower bound: no implementation does less.

The ``flash-attn`` package's op (``flash_attn::_flash_attn_forward``, a custom op since 2.6) is a call too,
backend ``flash``, counted from the autograd Function around it (``FlashAttnFunc``...) where there is one; its
``[batch, length, heads, dim]`` inputs are read as the others', its pairs from its ``causal`` flag (aligned to the
bottom right) and its sliding window.

Attention kernels are also recognised by name (:data:`KERNEL_BACKENDS`: PyTorch's and the ``flash-attn``
package's FlashAttention, the memory-efficient kernels, cuDNN's, composable_kernel's on ROCm, FlashInfer's and
paged attention), so a trace without ops (CUDA-graph replays, Nsight Systems without the PyTorch ranges) or
attention from another library still shows its time: those kernels not launched under a call are rows of their
own (``found_by`` ``kernel name``, by backend and launching op, ``count`` their launches, shapes unknown).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ops import autograd_nodes, nearest_marked, op_gpu_self, op_parents, rows_named, sequence_creators
from .roofline import floor_time_us, op_dtype
from .trace import Trace, value_codes
from .traffic import DTYPE_BYTES, DTYPE_NAMES, Traffic, is_shape, tensor_inputs

#: The op ``torch.nn.functional.scaled_dot_product_attention`` records; its backend runs beneath it.
ENTRY_OP = "aten::scaled_dot_product_attention"
#: Each backend op: its backend, and the positions of its ``attn_mask``, ``dropout_p`` and ``is_causal`` arguments
#: (None: it takes none).
BACKEND_OPS: Dict[str, Tuple[str, Optional[int], int, int]] = {
    "aten::_scaled_dot_product_flash_attention": ("flash", None, 3, 4),
    "aten::_scaled_dot_product_flash_attention_for_cpu": ("flash", 5, 3, 4),
    "aten::_scaled_dot_product_efficient_attention": ("efficient", 3, 5, 6),
    "aten::_scaled_dot_product_cudnn_attention": ("cudnn", 3, 5, 6),
    "aten::_scaled_dot_product_fused_attention_overrideable": ("fused", 3, 4, 5),
    "aten::_scaled_dot_product_attention_math": ("math", 3, 4, 5),
    "aten::_scaled_dot_product_attention_math_for_mps": ("math", 3, 4, 5),
}
#: The entry op's arguments at the same positions.
ENTRY_ARGS = (3, 4, 5)
#: The ops beneath a backend op that launch its forward kernel: their q, k, v layout (``bhld``: batch, heads,
#: length, head dim, as the call's; ``blhd``: length before heads, as FlashAttention and the memory-efficient kernels
#: take them), and the positions of their mask, ``dropout_p`` and causal arguments (``custom_mask_type`` for the
#: memory-efficient kernel: 0 none, 1 and 2 causal). Only their traffic is modelled: they are not calls.
KERNEL_OPS: Dict[str, Tuple[str, Optional[int], int, int]] = {
    "aten::_cudnn_attention_forward": ("bhld", 3, 9, 10),
    "aten::_flash_attention_forward": ("blhd", None, 7, 8),
    "aten::_efficient_attention_forward": ("blhd", 3, 8, 9),
}
#: The ``flash-attn`` package's forward op (its custom op since 2.6, q, k and v ``[batch, length, heads, dim]``):
#: a call of backend ``flash``, with the positions of its ``dropout_p`` and ``causal`` arguments and of its sliding
#: window's left and right sizes (-1: unbounded; causal attention is aligned to the bottom right).
PACKAGE_OPS: Dict[str, Tuple[str, int, int, Tuple[int, int]]] = {
    "flash_attn::_flash_attn_forward": ("flash", 3, 5, (6, 7)),
}
#: The autograd Functions the package wraps its op in (``FlashAttnFunc``, ``FlashAttnQKVPackedFunc``, ...): a call
#: counts from there, where its backward node's sequence number is recorded.
_PACKAGE_FUNCTION = re.compile(r"^FlashAttn\w*Func$")
#: The op an eager ``flex_attention`` call records around its unfused implementation.
FLEX_EAGER_OP = "FlexAttentionAutogradOp"
#: Backends that compute attention without storing the score matrix.
FUSED_BACKENDS = frozenset({"flash", "efficient", "cudnn", "fused"})
#: Backends that store it: PyTorch's fallback, eager flex_attention, and attention written as separate ops.
UNFUSED_BACKENDS = frozenset({"math", "flex-eager", "unfused"})
#: The normalisations that mark attention written by hand: softmax, and the log-sum-exp of ``exp(s - lse)``.
SOFTMAX_OPS = frozenset({"aten::softmax", "aten::_softmax", "aten::_safe_softmax", "aten::special_softmax",
                         "aten::logsumexp"})
PRODUCT_OPS = frozenset({"aten::matmul", "aten::bmm", "aten::baddbmm"})
#: Ops whose shapes the trace reader decodes for this table (the entry op and the products launch no kernel of
#: their own; on a CPU-only trace none does).
SHAPED_OPS = frozenset({ENTRY_OP, FLEX_EAGER_OP, *BACKEND_OPS, *PACKAGE_OPS, *SOFTMAX_OPS, *PRODUCT_OPS})
#: Ops under the same enclosing op searched before and after a softmax for its products.
LOOKAHEAD = 16
#: Attention kernels by name, first match wins: (pattern, backend).
KERNEL_BACKENDS: Tuple[Tuple[re.Pattern, str], ...] = (
    (re.compile(r"flash_(?:fwd|bwd)|FlashAttn(?:Fwd|Bwd)|flash_attn"), "flash"),
    (re.compile(r"fmha_cutlass[FB]|MemEffAttention|AttentionKernel<"), "efficient"),
    (re.compile(r"native_sdpa|cudnn\w*(?:fmha|sdpa)", re.IGNORECASE), "cudnn"),
    (re.compile(r"Fmha(?:Fwd|Bwd)Kernel|\bfmha_(?:fwd|bwd)"), "ck"),
    (re.compile(r"BatchPrefillWith|BatchDecodeWith|SinglePrefillWith|SingleDecodeWith"), "flashinfer"),
    (re.compile(r"paged_attention_v[12]_kernel|kernel_unified_attention_[23]d|paged_attention_ll4mi"), "paged"),
    (re.compile(r"flex_attention|flex_decoding"), "flex"),
)
#: How a row was found: calls (ops), or kernels by name outside every call.
CALL, KERNEL_NAME = "call", "kernel name"
#: A row's keys, in the order tables show them.
ROW_KEYS = ("backend", "op", "found_by", "count", "query", "key", "value", "dtype", "mask", "causal", "dropout", "score_bytes",
            "flops", "cpu_us", "gpu_us", "backward_us", "floor_us", "excess_us", "tflops")
#: The summary's figures (see :func:`attention_summary`).
SUMMARY_KEYS = ("attention_calls", "attention_unfused_calls", "attention_us", "attention_unfused_us")


def kernel_backend(name: str) -> Optional[str]:
    """The attention backend a kernel's name says (:data:`KERNEL_BACKENDS`), or None."""
    return next((backend for pattern, backend in KERNEL_BACKENDS if pattern.search(name)), None)


def attention_table(trace: Trace, peak_gbps: Optional[float],
                    tflops_for: Callable[[Optional[str]], Optional[float]]) -> List[Dict[str, Any]]:
    """The trace's attention calls grouped by backend, op, shapes, dtype, mask, ``is_causal`` and ``dropout_p``,
    most GPU time (then host time) first; then the attention kernels found by name outside every call (see the
    module's docstring). Each row: ``backend``; ``op`` (the backend op, the ops of hand-written attention, or for
    kernels found by name the op that launched them, None where none did); ``found_by`` (:data:`CALL` or
    :data:`KERNEL_NAME`); ``count`` (calls; launches for kernels found by name); ``query``, ``key``, ``value``
    (shapes as text), ``dtype``, ``mask`` (its shape and dtype, ``none``, or None where unknown), ``causal`` and
    ``dropout`` (None where not recorded); ``score_bytes`` (one call's score matrix, bytes: what the unfused
    backends store); ``flops`` (one call's forward); ``cpu_us`` (host time of its ops, forward and backward);
    ``gpu_us`` (forward kernels) and ``backward_us`` (None without GPU activity); ``floor_us`` (forward and, where
    it ran, backward; None where a peak or a shape is unknown), ``excess_us`` and ``tflops`` (forward FLOPs over
    forward GPU time)."""
    ops = trace.ops
    on_gpu = len(trace.gpu) > 0
    calls = _calls(trace) if len(ops) else []
    if not calls:
        return _by_name(trace, np.zeros(len(ops), dtype=bool))
    member, back, outer = _attribute(trace, calls)
    n_calls = len(calls)
    launched = op_gpu_self(trace) if on_gpu else np.zeros(len(ops))
    mine, theirs = member >= 0, back >= 0
    forward = np.bincount(member[mine], weights=launched[mine], minlength=n_calls)
    backward = np.bincount(back[theirs], weights=launched[theirs], minlength=n_calls)
    backward_host = np.bincount(back[outer], weights=ops.dur[outer], minlength=n_calls)
    rows: Dict[tuple, Dict[str, Any]] = {}
    for i, call in enumerate(calls):
        figures = _figures(trace, call)
        key = tuple(figures[k] for k in ("backend", "op", "query", "key", "value", "dtype", "mask", "causal",
                                         "dropout"))
        row = rows.setdefault(key, {**figures, "found_by": CALL, "count": 0, "cpu_us": 0.0, "gpu_us": 0.0,
                                    "backward_us": 0.0, "floor_us": 0.0, "_floors": True})
        row["count"] += 1
        row["cpu_us"] += float(ops.dur[call["rows"]].sum() + backward_host[i])
        row["gpu_us"] += float(forward[i])
        row["backward_us"] += float(backward[i])
        floor = _floor(figures, peak_gbps, tflops_for, backward[i] > 0)
        row["_floors"] = row["_floors"] and floor is not None
        row["floor_us"] += floor or 0.0
    out = []
    for row in rows.values():
        known = row["_floors"] and on_gpu
        if not on_gpu:
            row["gpu_us"] = row["backward_us"] = None
        row["floor_us"] = row["floor_us"] if known else None
        row["excess_us"] = row["gpu_us"] + row["backward_us"] - row["floor_us"] if known else None
        flops = row.get("flops")
        row["tflops"] = flops * row["count"] / (row["gpu_us"] * 1e6) if flops and row["gpu_us"] else None
        out.append({k: row.get(k) for k in ROW_KEYS})
    out.sort(key=lambda r: ((r["gpu_us"] or 0.0) + (r["backward_us"] or 0.0), r["cpu_us"]), reverse=True)
    return out + _by_name(trace, mine | theirs)


def attention_summary(trace: Trace, table: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """``attention_calls`` and ``attention_unfused_calls`` (calls of the math and unfused backends; None where the
    trace holds no CPU ops: calls are ops), ``attention_us`` (GPU time of every row, forward and backward) and
    ``attention_unfused_us`` (that of the unfused backends; None without ops too); the times None without GPU
    activity."""
    has_ops, on_gpu = len(trace.ops) > 0, len(trace.gpu) > 0
    called = [r for r in table if r["found_by"] == CALL]
    unfused = [r for r in called if r["backend"] in UNFUSED_BACKENDS]

    def gpu(rows: Sequence[Dict[str, Any]]) -> float:
        return float(sum((r["gpu_us"] or 0.0) + (r["backward_us"] or 0.0) for r in rows))

    return {"attention_calls": sum(r["count"] for r in called) if has_ops else None,
            "attention_unfused_calls": sum(r["count"] for r in unfused) if has_ops else None,
            "attention_us": gpu(table) if on_gpu else None,
            "attention_unfused_us": gpu(unfused) if on_gpu and has_ops else None}


# --- calls -------------------------------------------------------------------------------------------------------

def _calls(trace: Trace) -> List[Dict[str, Any]]:
    """Each call: ``root`` (the op whose inputs describe it), ``rows`` (its top-level ops: the root, or a
    hand-written attention's chain), ``backend`` and ``op``; by start."""
    ops = trace.ops
    entries, backend_rows, flex, package, softmax = (
        rows_named(trace, names) for names in ({ENTRY_OP}, BACKEND_OPS, {FLEX_EAGER_OP}, PACKAGE_OPS, SOFTMAX_OPS))
    if not len(entries) and not len(backend_rows) and not len(flex) and not len(package) and not len(softmax):
        return []
    parent = op_parents(trace)
    is_flex = np.zeros(len(ops), dtype=bool)
    is_flex[flex] = True
    flex_of = nearest_marked(parent, is_flex)
    is_entry = np.zeros(len(ops), dtype=bool)
    is_entry[entries] = True
    entry_of = nearest_marked(parent, is_entry)
    calls: Dict[int, Dict[str, Any]] = {}
    for r in entries.tolist():  # by start, as rows_named gives them
        calls[r] = {"root": r, "rows": [r], "backend": None, "op": None}
    for r in backend_rows.tolist():
        owner = int(entry_of[r])
        if owner < 0:  # a backend op called directly: a call of its own
            calls[r] = {"root": r, "rows": [r], "backend": BACKEND_OPS[ops.name[r]][0], "op": ops.name[r]}
        elif calls[owner]["backend"] is None:  # the first backend op beneath the entry ran it
            calls[owner].update(backend=BACKEND_OPS[ops.name[r]][0], op=ops.name[r])
    for r in flex.tolist():
        if parent[r] < 0 or flex_of[parent[r]] < 0:  # the outermost, where one nests in another
            calls[r] = {"root": r, "rows": [r], "backend": "flex-eager", "op": FLEX_EAGER_OP}
    for r in package.tolist():
        up = int(parent[r])
        outer = up if up >= 0 and _PACKAGE_FUNCTION.match(ops.name[up]) else r
        calls[r] = {"root": r, "rows": [outer], "backend": PACKAGE_OPS[ops.name[r]][0], "op": ops.name[r]}
    for call in calls.values():
        if call["backend"] is None:  # the entry op's backend was not recorded
            call.update(backend="unknown", op=ENTRY_OP)
    in_call = np.zeros(len(ops), dtype=bool)
    in_call[list(calls)] = True
    inside = nearest_marked(parent, in_call) >= 0
    found = list(calls.values()) + _hand_written(trace, parent, inside, softmax)
    found.sort(key=lambda c: ops.ts[c["rows"][0]])
    return found


def _hand_written(trace: Trace, parent: np.ndarray, inside: np.ndarray,
                  rows: np.ndarray) -> List[Dict[str, Any]]:
    """Attention written as separate ops (see the module's docstring), outside every scaled-dot-product call; ``rows``:
    the softmax calls."""
    ops = trace.ops
    softmax = [int(r) for r in rows if not inside[r] and (parent[r] < 0 or ops.name[parent[r]] not in SOFTMAX_OPS)]
    if not softmax:
        return []
    thread, _ = value_codes(trace, "ops.thread")
    order = np.lexsort((ops.ts, parent, thread))  # siblings together, by start
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    t, p = thread[order], parent[order]
    group = np.cumsum(np.concatenate(([0], (t[1:] != t[:-1]) | (p[1:] != p[:-1]))))  # siblings share a number
    found = []
    used: set = set()
    for s in softmax:
        scores = _scores(trace, s)
        if scores is None:
            continue
        at = int(position[s])
        before = [int(order[k]) for k in range(at - 1, max(at - 1 - LOOKAHEAD, -1), -1) if group[k] == group[at]]
        after = [int(order[k]) for k in range(at + 1, min(at + 1 + LOOKAHEAD, len(order))) if group[k] == group[at]]
        first = next((r for r in before if _makes(trace, r, scores)), None)
        second = next((r for r in after if _reads(trace, r, scores) is not None), None)
        if first is None or second is None or first in used or second in used:
            continue
        chain = [int(order[k]) for k in range(int(position[first]), int(position[second]) + 1)]
        used.update(chain)
        names = [ops.name[first], ops.name[s], ops.name[second]]
        found.append({"root": first, "rows": chain, "backend": "unfused", "op": " -> ".join(names),
                      "scores": scores, "second": second})
    return found


def _scores(trace: Trace, row: int) -> Optional[List[int]]:
    """The score tensor's shape a softmax call reads, where it has at least 3 dimensions and the softmax runs over
    its last (its recorded ``dim``: -1 or the last; accepted where not recorded)."""
    tensors = _tensors(trace, row)
    if not tensors or len(tensors[0][0]) < 3:
        return None
    shape = list(tensors[0][0])
    concrete = trace.ops.concrete_inputs[row]
    dim = concrete[1] if isinstance(concrete, list) and len(concrete) > 1 else ""
    if dim not in ("", None) and str(dim).strip(" []") not in ("-1", str(len(shape) - 1)):  # logsumexp: [-1]
        return None
    return shape


def _operands(trace: Trace, row: int) -> Optional[Tuple[List[int], List[int], str]]:
    """A product call's two matrix operands (``baddbmm``'s last two) and dtype."""
    if trace.ops.name[row] not in PRODUCT_OPS:
        return None
    tensors = _tensors(trace, row)
    if len(tensors) < 2:
        return None
    (a, dtype), (b, _) = tensors[-2], tensors[-1]
    if len(a) < 2 or len(b) < 2:
        return None
    return list(a), list(b), dtype


def _lead(shape: Sequence[int]) -> int:
    return math.prod(shape[:-2])


def _makes(trace: Trace, row: int, scores: List[int]) -> bool:
    """Whether a product call makes the score tensor: ``[..., Lq, d] x [..., d, Lk]`` with the same batch."""
    found = _operands(trace, row)
    if found is None:
        return False
    a, b, _ = found
    return (a[-2] == scores[-2] and b[-1] == scores[-1] and a[-1] == b[-2]
            and max(_lead(a), _lead(b)) == _lead(scores))


def _reads(trace: Trace, row: int, scores: List[int]) -> Optional[List[int]]:
    """The value operand's shape where a product call reads the score tensor: ``[..., Lq, Lk] x [..., Lk, dv]``."""
    found = _operands(trace, row)
    if found is None:
        return None
    a, b, _ = found
    if a[-2:] == scores[-2:] and b[-2] == scores[-1] and _lead(a) == _lead(scores):
        return b
    return None


def _tensors(trace: Trace, row: int) -> List[tuple]:
    dims, types = trace.ops.input_dims[row], trace.ops.input_types[row]
    return tensor_inputs(dims, types) if isinstance(dims, list) and isinstance(types, list) else []


# --- figures ------------------------------------------------------------------------------------------------------

def _figures(trace: Trace, call: Dict[str, Any]) -> Dict[str, Any]:
    """One call's shapes, dtype, arguments, score matrix size, forward FLOPs and compulsory bytes."""
    ops = trace.ops
    root = call["root"]
    out: Dict[str, Any] = {"backend": call["backend"], "op": call["op"], "query": None, "key": None, "value": None,
                           "dtype": None, "mask": None, "causal": None, "dropout": None, "score_bytes": None,
                           "flops": None, "_bytes": None, "_bwd_bytes": None, "_dtype_class": None}
    if call["backend"] == "unfused":
        made = _operands(trace, root)
        value = _reads(trace, call["second"], call["scores"])
        if made is None or value is None:
            return out
        q, kt, dtype = made
        inputs: Optional[Dict[str, Any]] = {"q": q, "k": kt[:-2] + [kt[-1], kt[-2]], "v": value, "dtype": dtype,
                                            "mask": None, "causal": None, "dropout": None}
    else:
        inputs = _call_inputs(ops.name[root], ops.input_dims[root], ops.input_types[root], ops.concrete_inputs[root])
    work = _work(inputs) if inputs is not None else None
    if inputs is None or work is None:
        return out
    mask = inputs["mask"]
    out.update(query=str(inputs["q"]), key=str(inputs["k"]), value=str(inputs["v"]),
               dtype=DTYPE_NAMES.get(inputs["dtype"], inputs["dtype"]),
               mask=(f"{mask[0]} {DTYPE_NAMES.get(mask[1], mask[1])}" if isinstance(mask, tuple) else mask),
               causal=inputs["causal"], dropout=inputs["dropout"], **work)
    return out


def _call_inputs(name: str, dims: Any, types: Any, concrete: Any) -> Optional[Dict[str, Any]]:
    """A scaled-dot-product call's q, k, v (shapes), dtype, mask (``(shape, dtype)``, ``none``, or None where the op
    takes none), ``causal`` and ``dropout`` (None where not recorded), from the entry or a backend op's recorded
    inputs; None where its shapes were not recorded."""
    if not isinstance(dims, list) or not isinstance(types, list) or len(dims) < 3:
        return None
    tensors = [(list(d), t) for d, t in zip(dims[:3], types[:3]) if isinstance(d, list) and len(d) >= 2]
    if len(tensors) < 3:
        return None
    (q, dtype), (k, _), (v, _) = tensors
    if name == FLEX_EAGER_OP:  # its score_mod and block mask are functions: not recorded
        return {"q": q, "k": k, "v": v, "dtype": dtype, "mask": None, "dropout": None, "causal": None}
    window = None
    if name in KERNEL_OPS or name in PACKAGE_OPS:
        if name in PACKAGE_OPS:
            _, dropout_at, causal_at, (left_at, right_at) = PACKAGE_OPS[name]
            mask_at, layout = None, "blhd"
            window = (_number(concrete, left_at), _number(concrete, right_at))
        else:
            layout, mask_at, dropout_at, causal_at = KERNEL_OPS[name]
        if layout == "blhd":  # to the call's [batch, heads, length, dim]; packed (varlen) inputs: unknown pairs
            if len(q) != 4 or len(k) != 4 or len(v) != 4:
                return None
            q, k, v = ([s[0], s[2], s[1], s[3]] for s in (q, k, v))
    else:
        mask_at, dropout_at, causal_at = ENTRY_ARGS if name == ENTRY_OP else BACKEND_OPS[name][1:]
    mask: Any = "none"
    if mask_at is not None and mask_at < len(dims) and isinstance(dims[mask_at], list) and dims[mask_at] \
            and mask_at < len(types) and isinstance(types[mask_at], str) and types[mask_at]:
        shape = dims[mask_at]
        mask = (list(shape), types[mask_at]) if is_shape(shape) else None  # a mask of a shape not recorded: unknown
    causal = _flag(concrete, causal_at)
    if name == "aten::_efficient_attention_forward":  # custom_mask_type
        kind = _number(concrete, causal_at)
        causal = None if kind is None else kind != 0
    out = {"q": q, "k": k, "v": v, "dtype": dtype, "mask": mask, "dropout": _number(concrete, dropout_at),
           "causal": causal}
    if window is not None:
        if None in window:  # a window the trace did not record: no pair count to stand on
            return None
        out["window"] = window
    return out


def _work(inputs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """A call's ``score_bytes``, forward ``flops``, and its compulsory bytes forward (``_bytes``) and backward
    (``_bwd_bytes``), with its dtype class (``_dtype_class``); None for a dtype of unknown size."""
    q, k, v, dtype, mask = inputs["q"], inputs["k"], inputs["v"], inputs["dtype"], inputs["mask"]
    size = DTYPE_BYTES.get(dtype)
    if size is None or not all(is_shape(t) for t in (q, k, v)):
        return None
    lead_q = _lead(q)
    lq, lk, d, dv = q[-2], k[-2], q[-1], v[-1]
    if inputs.get("window") is not None:  # the flash-attn package: a sliding window, bottom-right causal
        if inputs["causal"] is None:
            return None
        windowed = _window_pairs(lq, lk, inputs["window"], inputs["causal"])
        if windowed is None:
            return None
        pairs = windowed
    else:  # is_causal not recorded (or a mask built by hand): the causal count, so the floor stays a lower bound
        pairs = lq * lk if inputs["causal"] is False else _causal_pairs(lq, lk)
    out_bytes = lead_q * lq * dv * size
    qkv = sum(math.prod(s) * size for s in (q, k, v))
    mask_bytes = math.prod(mask[0]) * DTYPE_BYTES.get(mask[1], 1) if isinstance(mask, tuple) else 0
    return {"score_bytes": float(lead_q * lq * lk * size), "flops": float(2 * lead_q * pairs * (d + dv)),
            "_bytes": float(qkv + out_bytes + mask_bytes), "_bwd_bytes": float(2 * qkv + 2 * out_bytes + mask_bytes),
            "_dtype_class": op_dtype([dtype])}


def backend_op_traffic(name: str, dims: Any, types: Any, concrete: Any) -> Optional[Traffic]:
    """The compulsory traffic of a fused backend's forward op, of the op beneath it that launches its kernel
    (:data:`KERNEL_OPS`), or of the flash-attn package's (:data:`PACKAGE_OPS`): q, k, v, the mask and the output
    moved once, and the forward FLOPs (see the module's docstring); None for other ops or where the shapes were not
    recorded."""
    if name not in KERNEL_OPS and name not in PACKAGE_OPS \
            and (name not in BACKEND_OPS or BACKEND_OPS[name][0] not in FUSED_BACKENDS):
        return None
    inputs = _call_inputs(name, dims, types, concrete)
    work = _work(inputs) if inputs is not None else None
    if work is None:
        return None
    return Traffic(work["_bytes"], work["flops"], "shape model")


#: The longest query a sliding window's pairs are counted for (one entry a query); longer ones are unknown.
MAX_WINDOWED_QUERY = 1 << 22


def _window_pairs(lq: int, lk: int, window: Tuple[float, float], causal: bool) -> Optional[int]:
    """(query, key) pairs the flash-attn package attends: query i (aligned to the bottom right, at key position
    ``i + lk - lq``) sees the keys from ``left`` before it to ``right`` after it (-1: unbounded; causal: none after);
    None for a query longer than :data:`MAX_WINDOWED_QUERY`."""
    if lq > MAX_WINDOWED_QUERY:
        return None
    left, right = (int(w) for w in window)
    if causal:
        right = 0
    at = np.arange(lq, dtype=np.int64) + (lk - lq)
    first = np.zeros(lq, dtype=np.int64) if left < 0 else np.maximum(at - left, 0)
    last = np.full(lq, lk - 1, dtype=np.int64) if right < 0 else np.minimum(at + right, lk - 1)
    return int(np.maximum(last - first + 1, 0).sum())


def _causal_pairs(lq: int, lk: int) -> int:
    """(query, key) pairs a top-left causal mask keeps: query i sees keys 0..i."""
    if lq <= lk:
        return lq * (lq + 1) // 2
    return lk * (lk + 1) // 2 + (lq - lk) * lk


def _floor(figures: Dict[str, Any], peak_gbps: Optional[float],
           tflops_for: Callable[[Optional[str]], Optional[float]], backward: bool) -> Optional[float]:
    """One call's floor (us): forward, plus backward where it ran; None where its shapes or the bandwidth are
    unknown."""
    if figures.get("_bytes") is None or not peak_gbps or peak_gbps <= 0:
        return None
    tflops = tflops_for(figures["_dtype_class"])
    floor = floor_time_us(figures["_bytes"], figures["flops"], peak_gbps, tflops)
    if backward:
        floor += floor_time_us(figures["_bwd_bytes"], 2 * figures["flops"], peak_gbps, tflops)
    return floor


def _number(concrete: Any, at: Optional[int]) -> Optional[float]:
    if at is None or not isinstance(concrete, list) or at >= len(concrete):
        return None
    try:
        value = float(concrete[at])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _flag(concrete: Any, at: Optional[int]) -> Optional[bool]:
    if at is None or not isinstance(concrete, list) or at >= len(concrete):
        return None
    return {"True": True, "False": False, "1": True, "0": False}.get(str(concrete[at]).strip())


# --- attribution ----------------------------------------------------------------------------------------------

def _attribute(trace: Trace, calls: List[Dict[str, Any]]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which call each op works for: ``member`` (the call whose forward it is part of: a call's top-level ops and
    everything beneath them), ``back`` (the call whose backward it runs: beneath an autograd node whose forward op
    lies in the call), -1 where none; and ``outer`` (the outermost node ops of each call's backward, whose host
    time is that backward's)."""
    ops = trace.ops
    n = len(ops)
    parent = op_parents(trace)
    call_id = np.full(n, -1, dtype=np.int64)
    top = np.zeros(n, dtype=bool)
    for i, c in enumerate(calls):
        call_id[c["rows"]] = i
        top[c["rows"]] = True
    owner = nearest_marked(parent, top)
    member = np.where(owner >= 0, call_id[np.maximum(owner, 0)], -1)
    back = np.full(n, -1, dtype=np.int64)
    outer = np.zeros(n, dtype=bool)
    nodes = autograd_nodes(trace)
    if nodes is None or not nodes[0].any() or not (member >= 0).any():
        return member, back, outer
    node, node_of = nodes  # the backward's nodes, and each op's innermost node (itself included)
    seq = ops.sequence_number
    # each node's forward op (eager flex_attention's block mask carries the number before the call that creates it)
    call_of_seq = {s: int(member[r]) for s, r in sequence_creators(trace).items() if member[r] >= 0}
    if not call_of_seq:
        return member, back, outer
    keys = np.array(sorted(call_of_seq), dtype=np.int64)
    values = np.array([call_of_seq[k] for k in keys.tolist()], dtype=np.int64)
    rows = np.flatnonzero((node_of >= 0) & (member < 0))
    s = seq[node_of[rows]]
    at = np.minimum(np.searchsorted(keys, s), len(keys) - 1)
    hit = keys[at] == s
    back[rows[hit]] = values[at[hit]]
    up = back[np.maximum(parent, 0)]
    outer = node & (back >= 0) & ((parent < 0) | (up != back))
    return member, back, outer


def _by_name(trace: Trace, claimed: np.ndarray) -> List[Dict[str, Any]]:
    """Rows of the attention kernels recognised by name that no call launched nor ran backward for (``claimed``:
    the ops of calls), by backend and launching op."""
    gpu = trace.gpu
    if not len(gpu):
        return []
    codes, names = value_codes(trace, "gpu.name")
    backend_of = [kernel_backend(str(n)) for n in names]
    if not any(backend_of):
        return []
    launched_by = trace.gpu_op_row
    named = np.array([b is not None for b in backend_of], dtype=bool)
    groups: Dict[tuple, Dict[str, Any]] = {}
    for i in np.flatnonzero((gpu.kind == "kernel") & named[codes]).tolist():
        backend = backend_of[codes[i]]
        row = int(launched_by[i])
        if row >= 0 and claimed[row]:
            continue
        op = trace.ops.name[row] if row >= 0 else None
        g = groups.setdefault((backend, op), {**dict.fromkeys(ROW_KEYS), "backend": backend, "op": op,
                                              "found_by": KERNEL_NAME, "count": 0, "gpu_us": 0.0,
                                              "backward_us": 0.0})
        g["count"] += 1
        g["gpu_us"] += float(gpu.dur[i])
    return sorted(groups.values(), key=lambda g: -g["gpu_us"])
