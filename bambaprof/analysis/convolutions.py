"""Depthwise convolutions run by ATen's own kernels, the causal conv1d of Mamba mixers among them (times in us).

A *depthwise* convolution has one group per channel: its weight is ``[C, 1, *kernel]`` with ``C`` the input's
channels. PyTorch runs many of them with ATen's generic kernels (``conv_depthwise2d_forward_kernel_generic``,
``conv_depthwise3d``, their backward), one thread per output element re-reading its window, far from the memory
floor; a 1-D convolution runs as a 2-D one of height 1. Mamba and Mamba2 mixers (Bamba's among them) run a
*causal* depthwise conv1d over the sequence: kernel ``K`` (4), padding ``K - 1`` on both sides and the first ``L``
outputs kept, which is what causal-conv1d's fused kernel (and bambaprof's ``triton`` variant's) compute with the
SiLU that follows.

Each innermost convolution op (:data:`~.traffic.CONV_ARGS`; ``aten::conv1d`` calls ``aten::convolution`` calls
... ``aten::_conv_depthwise2d``, the one that launches) whose weight is depthwise is a call. Per call: its input
and weight shapes, dtype, padding, whether it is causal (1-D: every spatial size but the last 1, in the input and the
kernel, and the last padded by ``dilation x (K - 1)``), the kernels it launched and their GPU time (forward; the
backward ops ``aten::convolution_backward`` and ``_conv_depthwise2d_backward`` are calls of their own, without a
floor), and its floor: the input, weight, bias and output moved once, or its FLOPs, at the device's peaks
(:func:`~.traffic.op_traffic`'s convolution model). Grouped by op, shapes and kind, most GPU time first.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .ops import op_gpu_time
from .roofline import floor_time_us, op_dtype
from .trace import Trace, value_codes
from .traffic import CONV_ARGS, DTYPE_NAMES, op_traffic, parse_dims_arg, tensor_inputs

#: ATen's own depthwise kernels, by name (forward and backward).
ATEN_DEPTHWISE_KERNEL = "conv_depthwise"
#: Backward ops of convolutions: calls whose kernels count, without a floor.
BACKWARD_OPS = frozenset({"aten::convolution_backward", "aten::_conv_depthwise2d_backward",
                          "aten::conv_depthwise3d_backward"})
#: A row's keys, in the order tables show them.
ROW_KEYS = ("op", "kind", "input", "weight", "dtype", "padding", "count", "kernels", "gpu_us", "floor_us", "excess_us")


def depthwise_conv_table(trace: Trace, peak_gbps: Optional[float],
                         tflops_for: Callable[[Optional[str]], Optional[float]]) -> Optional[List[Dict[str, Any]]]:
    """Depthwise convolutions that ran ATen's own kernels (see the module's docstring), grouped by op, shapes and
    ``kind`` (``causal conv1d``, ``depthwise``, or ``backward``), most GPU time first; None where the trace holds no
    CPU ops or no GPU activity. Each row: ``input`` and ``weight`` (shapes as text; None for backward calls without
    shapes), ``dtype``, ``padding``, ``count``, ``kernels`` (their names, shortened), ``gpu_us``, ``floor_us`` (None
    where a peak or the shapes are unknown, and for backward calls) and ``excess_us``."""
    ops, gpu = trace.ops, trace.gpu
    if not len(ops) or not len(gpu):
        return None
    codes, gnames = value_codes(trace, "gpu.name")
    aten = np.array([ATEN_DEPTHWISE_KERNEL in str(n) for n in gnames], dtype=bool)
    rows = np.flatnonzero((gpu.kind == "kernel") & aten[codes]) if len(gnames) else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return []
    launched_by = trace.gpu_op_row[rows]
    callers = sorted({int(r) for r in launched_by.tolist() if r >= 0})
    total = op_gpu_time(trace)
    kernel_names: Dict[int, set] = {}
    for i, r in zip(rows.tolist(), launched_by.tolist()):
        if r >= 0:
            kernel_names.setdefault(int(r), set()).add(_short(str(gnames[codes[i]])))
    groups: Dict[tuple, Dict[str, Any]] = {}
    for r in callers:
        call = _describe(trace, r)
        key = tuple(call.get(k) for k in ("op", "kind", "input", "weight", "dtype", "padding"))
        g = groups.setdefault(key, {**call, "count": 0, "kernels": set(), "gpu_us": 0.0, "floor_us": 0.0,
                                    "_floors": call["kind"] != "backward"})
        g["count"] += 1
        g["kernels"] |= kernel_names.get(r, set())
        g["gpu_us"] += float(total[r])
        floor = _floor(trace, r, peak_gbps, tflops_for) if g["_floors"] else None
        g["_floors"] = g["_floors"] and floor is not None
        g["floor_us"] += floor or 0.0
    unlinked = rows[launched_by < 0]
    if len(unlinked):  # kernels no op launched (graph replays): time only
        g = groups.setdefault(("(no op)",), dict.fromkeys(ROW_KEYS))
        g.update(op=None, kind="unknown", count=len(unlinked), gpu_us=float(gpu.dur[unlinked].sum()),
                 kernels={_short(str(gnames[codes[i]])) for i in unlinked.tolist()}, _floors=False, floor_us=0.0)
    out = []
    for g in groups.values():
        known = g.pop("_floors")
        g["floor_us"] = g["floor_us"] if known else None
        g["excess_us"] = g["gpu_us"] - g["floor_us"] if known else None
        g["kernels"] = ", ".join(sorted(g["kernels"]))
        out.append({k: g.get(k) for k in ROW_KEYS})
    out.sort(key=lambda g: -(g["gpu_us"] or 0.0))
    return out


def _short(name: str) -> str:
    """A kernel's name without its namespaces and template arguments."""
    return name.split("<", 1)[0].rsplit("::", 1)[-1].strip() or name


def _describe(trace: Trace, row: int) -> Dict[str, Any]:
    """The op, kind, shapes, dtype and padding of a convolution call."""
    ops = trace.ops
    name = ops.name[row]
    out: Dict[str, Any] = {"op": name, "kind": "backward" if name in BACKWARD_OPS else "depthwise", "input": None,
                           "weight": None, "dtype": None, "padding": None}
    dims, types, concrete = ops.input_dims[row], ops.input_types[row], ops.concrete_inputs[row]
    if name not in CONV_ARGS or not isinstance(dims, list) or not isinstance(types, list):
        return out
    tensors = tensor_inputs(dims[:2], types[:2])
    if len(tensors) != 2:
        return out
    (x, dtype), (w, _) = tensors
    pad_at, dil_at = CONV_ARGS[name][2], CONV_ARGS[name][3]
    pad = parse_dims_arg(concrete[pad_at]) if isinstance(concrete, list) and pad_at < len(concrete) else None
    dil = parse_dims_arg(concrete[dil_at]) if isinstance(concrete, list) and dil_at < len(concrete) else None
    out.update(input=str(x), weight=str(w), dtype=DTYPE_NAMES.get(dtype, dtype),
               padding=str(pad) if pad is not None else None)
    if _causal_1d(x, w, pad, dil):
        out["kind"] = "causal conv1d"
    return out


def _causal_1d(x: List[int], w: List[int], pad: Optional[List[int]], dil: Optional[List[int]]) -> bool:
    """Whether a depthwise convolution is a causal conv1d: every spatial size but the last 1 (input and kernel), and
    the last padded by dilation x (kernel - 1), the first outputs kept."""
    nsp = len(x) - 2
    if nsp < 1 or len(w) != len(x) or pad is None or w[1] != 1 or w[0] != x[1]:
        return False
    pads = pad * nsp if len(pad) == 1 else pad
    dils = (dil or [1]) * nsp if dil is None or len(dil) == 1 else dil
    if len(pads) != nsp or len(dils) != nsp:
        return False
    k = w[-1]
    return (k > 1 and all(s == 1 for s in x[2:-1]) and all(s == 1 for s in w[2:-1])
            and all(p == 0 for p in pads[:-1]) and pads[-1] == dils[-1] * (k - 1))


def _floor(trace: Trace, row: int, peak_gbps: Optional[float],
           tflops_for: Callable[[Optional[str]], Optional[float]]) -> Optional[float]:
    """A convolution call's floor (us): its compulsory bytes at the peak bandwidth or its FLOPs at its dtype's peak,
    the longer; None where the shapes or the bandwidth are unknown."""
    ops = trace.ops
    if not peak_gbps or peak_gbps <= 0:
        return None
    t = op_traffic(ops.name[row], ops.input_dims[row], ops.input_types[row], ops.concrete_inputs[row])
    if t is None:
        return None
    return floor_time_us(t.bytes, t.flops, peak_gbps, tflops_for(op_dtype(ops.input_types[row])))
