"""Copies made on the device, and why: dtype casts, layout copies, and the copies of out-of-place ops.

Every such copy goes through ``aten::copy_``, which launches a copy kernel (``direct_copy_kernel_cuda``) or a
device-to-device memcpy. Its recorded inputs are ``[destination, source, non_blocking]``; the op that called it
says why it was made:

- **cast**: the destination's dtype is not the source's (``.float()``, ``.to(torch.bfloat16)``, ``type_as``);
  without shapes, a copy under a cast op (``aten::to``, ``aten::_to_copy``, ``aten::type_as``);
- **layout**: the same dtype, under an op that makes a tensor contiguous (``aten::contiguous``, ``aten::reshape``
  and ``aten::flatten`` of a view that cannot be viewed so): a transpose or slice written out again;
- **copy**: any other: an out-of-place op copying its input before it works (``masked_fill``, ``repeat_interleave``,
  ``constant_pad_nd``, ``clone``), or a ``copy_`` the code asked for (into a cache or a buffer).

``caller`` is the nearest enclosing op that is not a step of copying itself (``aten::copy_``, ``aten::clone``,
``aten::_to_copy``, ``aten::empty_like``, ...), ``copy_`` for a copy the code called directly; ``inside`` the
outermost ``aten::`` op around the caller, where there is one: the op the code called, which wanted the copy
(``aten::conv1d`` for the ``aten::contiguous`` its cuDNN convolution asks for), else None; ``range`` the
innermost profiler range around it (``record_function``: bambaprof's phases, ``conv``, ``gated_norm``; the
profiler's step ranges left out; ``(no range)`` where none is). Copies to or from the host are transfers, not
counted here (``pageable-copies`` judges those).

Each row groups the copies of one kind, dtype pair, shape, caller and range: ``count``, ``cpu_us`` (the ``copy_`` calls
on the host), ``gpu_us`` (their kernels and device-to-device memcpys), ``bytes`` (one copy: the elements read in
the source's dtype and written in the destination's; None without shapes) and ``gbps`` (achieved, over all of them).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .kernels import DEVICE_TO_DEVICE
from .ops import op_gpu_self, op_parents
from .phases import NOT_PHASES, UNATTRIBUTED
from .trace import Trace, value_codes
from .traffic import DTYPE_NAMES, tensor_bytes, tensor_inputs

COPY_OP = "aten::copy_"
#: Ops that are steps of making a copy, passed over to find why it was made.
COPY_STEPS = frozenset({"aten::copy_", "aten::clone", "aten::_to_copy", "aten::empty_like", "aten::empty_strided",
                        "aten::empty", "aten::resize_", "aten::lift_fresh"})
#: Callers that make a copy to change a tensor's dtype (a copy under them is a cast even without shapes).
CAST_CALLERS = frozenset({"aten::to", "aten::_to_copy", "aten::type_as", "aten::to_dtype", "aten::_autocast_to_reduced_precision",
                          "aten::_autocast_to_full_precision"})
#: Callers that copy a tensor into a contiguous layout.
LAYOUT_CALLERS = frozenset({"aten::contiguous", "aten::reshape", "aten::flatten", "aten::ravel", "aten::_reshape_alias"})
#: The kinds of copy, in the order tables show them.
KINDS = ("cast", "layout", "copy")
#: A row's keys, in the order tables show them.
ROW_KEYS = ("kind", "dtypes", "shape", "caller", "inside", "range", "count", "cpu_us", "gpu_us", "bytes", "gbps")


def copy_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The device's copies grouped by kind, dtypes, shape and caller (see the module's docstring), most GPU time
    first (host time in a trace without GPU activity); None where the trace holds no CPU ops to tell."""
    ops = trace.ops
    if not len(ops):
        return None
    codes, names = value_codes(trace, "ops.name")
    copy_code = next((c for c, n in enumerate(names) if n == COPY_OP), None)
    if copy_code is None:
        return []
    rows = np.flatnonzero(codes == copy_code)
    gpu = _device_copy_time(trace)
    on_gpu = len(trace.gpu) > 0
    parent = op_parents(trace)
    groups: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
    for i in rows.tolist():
        if on_gpu and gpu[i] <= 0.0:
            continue  # a copy with no device work of its own: to or from the host, or a CPU tensor's
        caller, inside, where = _caller(ops, parent, i)
        types = ops.input_types[i] if isinstance(ops.input_types[i], list) else []
        dims = ops.input_dims[i] if isinstance(ops.input_dims[i], list) else []
        dst, src = (types + [None, None])[:2]
        shape = dims[0] if dims and isinstance(dims[0], list) else None
        if isinstance(dst, str) and isinstance(src, str) and dst and src:
            kind = "cast" if dst != src else "layout" if caller in LAYOUT_CALLERS else "copy"
            dtypes = f"{DTYPE_NAMES.get(src, src)} -> {DTYPE_NAMES.get(dst, dst)}"
        else:  # no shapes recorded: the caller alone says
            kind = "cast" if caller in CAST_CALLERS else "layout" if caller in LAYOUT_CALLERS else "copy"
            dtypes = "unknown"
        key = (kind, dtypes, str(shape) if shape is not None else "unknown", caller, inside, where)
        row = groups.get(key)
        if row is None:
            row = groups[key] = {"kind": kind, "dtypes": dtypes, "shape": key[2], "caller": caller, "inside": inside,
                                 "range": where, "count": 0, "cpu_us": 0.0, "gpu_us": 0.0 if on_gpu else None,
                                 "bytes": _copy_bytes(dims, types)}
        row["count"] += 1
        row["cpu_us"] += float(ops.dur[i])
        if on_gpu:
            row["gpu_us"] += float(gpu[i])
    out = []
    for row in groups.values():
        each = row["bytes"]
        row["gbps"] = (each * row["count"] / (row["gpu_us"] * 1e3)
                       if each is not None and row["gpu_us"] else None)
        out.append({k: row[k] for k in ROW_KEYS})
    out.sort(key=lambda r: (-(r["gpu_us"] if r["gpu_us"] is not None else r["cpu_us"]), KINDS.index(r["kind"])))
    return out


#: The summary's keys: each kind's GPU time (us).
SUMMARY_KEYS = ("copy_cast_us", "copy_layout_us", "copy_other_us")


def copy_summary(rows: Optional[List[Dict[str, Any]]]) -> Dict[str, Optional[float]]:
    """GPU time (us) of each kind of copy over a table's rows: ``copy_cast_us``, ``copy_layout_us``,
    ``copy_other_us``; None where the table is, or holds host times (no CPU ops, or no GPU activity: the caller
    passes None for a trace without GPU activity, whose table may be empty)."""
    keys = dict(zip(KINDS, SUMMARY_KEYS))
    if rows is None or any(r["gpu_us"] is None for r in rows):
        return dict.fromkeys(keys.values())
    out = dict.fromkeys(keys.values(), 0.0)
    for r in rows:
        out[keys[r["kind"]]] += r["gpu_us"]
    return out


def _device_copy_time(trace: Trace) -> np.ndarray:
    """Each op's own device time (us) in kernels and device-to-device memcpys: what a copy costs the GPU, less the
    transfers to and from the host."""
    gpu = trace.gpu
    keep = gpu.kind == "kernel"
    for i in np.flatnonzero(gpu.kind == "memcpy").tolist():
        keep[i] = DEVICE_TO_DEVICE in gpu.name[i]
    return op_gpu_self(trace, keep)


def _caller(ops: Any, parent: np.ndarray, i: int) -> Tuple[str, Optional[str], str]:
    """For op ``i``: the nearest enclosing op that is not a step of copying (:data:`COPY_STEPS`; ``copy_`` where none
    is: the code called ``copy_`` itself, under a range or nothing), the outermost ``aten::`` op around that caller
    below the innermost range (None where there is none), and that range (:data:`~.phases.UNATTRIBUTED` where none
    is)."""
    caller: Optional[str] = None
    inside: Optional[str] = None
    j = int(parent[i])
    while j >= 0:
        name = ops.name[j]
        if ops.cat[j] == "user_annotation":
            if not NOT_PHASES.match(name):
                return caller or "copy_", inside, name
        elif caller is None:
            if name not in COPY_STEPS:
                caller = name
        elif name.startswith("aten::"):
            inside = name  # the last one met on the way up is the outermost
        j = int(parent[j])
    return caller or "copy_", inside, UNATTRIBUTED


def _copy_bytes(dims: List[Any], types: List[Any]) -> Optional[float]:
    """One copy's bytes as the traffic model counts ``aten::copy_``'s (:mod:`.traffic`): its destination written and
    its source read, each in its own shape and dtype (a broadcast source is read once); None where either tensor's
    shape or dtype is unknown."""
    tensors = tensor_inputs(dims[:2], types[:2])
    if len(tensors) < 2 or any(d < 0 for shape, _ in tensors for d in shape):
        return None
    total = sum(tensor_bytes(shape, dtype) for shape, dtype in tensors)
    return float(total) if total < 2 ** 1000 else None  # no real tensor; float() would overflow
