"""Tensors grown by ``torch.cat`` call after call: a KV cache concatenated every token (times in us).

``torch.cat([cache, new], dim)`` writes a new tensor holding both: appending one token's keys to a cache of ``S``
tokens copies all ``S + 1``, so generating ``T`` tokens copies ``O(T^2)`` where a cache allocated at its final
length and written in place would move each token once. The growing size also changes the shapes every step,
which torch.compile and CUDA graphs need fixed.

An *append* is a concatenation (``aten::cat``, ``aten::concat``, ``aten::concatenate``) of tensors equal in every
dimension but the one concatenated (its recorded ``dim``; PyTorch 2.1 and later record it), one of which (the
*base*) holds at least :data:`APPEND_MIN_X` times the others along it. Appends of the same shape but for the base's
length, the same dimension, dtype and appended length are one group; a group whose base takes at least
:data:`GROWING_MIN_SIZES` lengths is *growing*. Per group: calls, the base's lengths (first to last by time), the
bytes written (every output) against the bytes appended, host time, GPU time (the cat's kernels), and the floor of
writing only the appended slices (read and written once at the peak bandwidth).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .ops import op_gpu_time, rows_named
from .roofline import floor_time_us
from .trace import Trace, value_codes
from .traffic import is_shape, parse_dims_arg

CAT_OPS = frozenset({"aten::cat", "aten::concat", "aten::concatenate", "aten::_cat"})
#: The base holds at least this many times the other tensors' length along the concatenated dimension.
APPEND_MIN_X = 4
#: A group grows where its base takes at least this many lengths in a row, each the one before plus the appended length.
GROWING_MIN_SIZES = 3
#: A row's keys, in the order tables show them.
ROW_KEYS = ("shape", "dim", "appended", "calls", "first_length", "last_length", "lengths", "elements_written",
            "elements_appended", "element_bytes", "bytes_written", "cpu_us", "gpu_us", "floor_us")
#: The element size CUDA's cat kernels carry in their names.
_OPAQUE = re.compile(r"OpaqueType<(\d+)u?>")


def growing_cat_table(trace: Trace, peak_gbps: Optional[float],
                      tflops_for: Callable[[Optional[str]], Optional[float]]) -> Optional[List[Dict[str, Any]]]:
    """The growing groups of appends (see the module's docstring), most GPU time (then host time) first; None where
    the trace holds no CPU ops or no shapes. Each row: ``shape`` (the base's, its grown dimension written ``S``),
    ``dim``, ``appended`` (elements along ``dim`` a call), ``calls``, ``first_length`` and ``last_length`` (the
    base's, by time), ``lengths`` (distinct), ``elements_written`` and ``elements_appended`` (all calls),
    ``element_bytes`` and ``bytes_written`` (None where no kernel name gives the element size), ``cpu_us``,
    ``gpu_us`` and ``floor_us`` (None without GPU activity, a known element size or bandwidth)."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    rows = rows_named(trace, CAT_OPS)
    if not len(rows):
        return []
    on_gpu = len(trace.gpu) > 0
    gpu_time = op_gpu_time(trace) if on_gpu else None
    sizes = _element_sizes(trace) if on_gpu else {}
    groups: Dict[tuple, Dict[str, Any]] = {}
    for r in rows.tolist():
        append = _append(ops.input_dims[r], ops.concrete_inputs[r])
        if append is None:
            continue
        base, dim, appended = append
        shape = [("S" if i == dim else n) for i, n in enumerate(base)]
        key = (str(shape), dim, appended)
        g = groups.setdefault(key, {"shape": "[" + ", ".join(str(x) for x in shape) + "]", "dim": dim,
                                    "appended": appended, "calls": 0, "_lengths": [], "_sizes": set(),
                                    "elements_written": 0, "elements_appended": 0, "cpu_us": 0.0,
                                    "gpu_us": 0.0 if on_gpu else None})
        others = math.prod(base) // base[dim] if base[dim] else 0
        g["calls"] += 1
        g["_lengths"].append(base[dim])
        g["_sizes"].add(sizes.get(r))
        g["elements_written"] += others * (base[dim] + appended)
        g["elements_appended"] += others * appended
        g["cpu_us"] += float(ops.dur[r])
        if gpu_time is not None:
            g["gpu_us"] += float(gpu_time[r])
    out = []
    for g in groups.values():
        lengths = g.pop("_lengths")
        if _longest_growth(lengths, g["appended"]) < GROWING_MIN_SIZES:
            continue
        found = g.pop("_sizes")
        size = next(iter(found)) if len(found) == 1 else None  # one size every call, or unknown
        g.update(first_length=lengths[0], last_length=lengths[-1], lengths=len(set(lengths)), element_bytes=size,
                 bytes_written=float(g["elements_written"] * size) if size else None)
        # writing only the appended slices: read once and written once at the peak bandwidth
        g["floor_us"] = floor_time_us(2.0 * g["elements_appended"] * size, None, peak_gbps, None) \
            if on_gpu and size and peak_gbps and peak_gbps > 0 else None
        out.append({k: g[k] for k in ROW_KEYS})
    out.sort(key=lambda g: ((g["gpu_us"] or 0.0), g["cpu_us"]), reverse=True)
    return out


def _longest_growth(lengths: List[int], appended: int) -> int:
    """The most lengths in a row, repeats collapsed, that each exceed the one before by ``appended``: a tensor that
    the calls extend (lengths that merely vary, a class token joined to batches of any length, grow no run)."""
    values = [v for i, v in enumerate(lengths) if i == 0 or v != lengths[i - 1]]
    best = run = 1
    for before, after in zip(values, values[1:]):
        run = run + 1 if after - before == appended else 1
        best = max(best, run)
    return best


def _element_sizes(trace: Trace) -> Dict[int, int]:
    """The element size (bytes) each op's cat kernels name (``OpaqueType<N>``), by the launching op's row."""
    out: Dict[int, int] = {}
    codes, names = value_codes(trace, "gpu.name")
    size_of = [int(m.group(1)) if (m := _OPAQUE.search(str(n))) else None for n in names]
    launched_by = trace.gpu_op_row
    for i in np.flatnonzero(launched_by >= 0).tolist():
        size = size_of[codes[i]]
        if size:
            out[int(launched_by[i])] = size
    return out


def _append(dims: Any, concrete: Any) -> Optional[tuple]:
    """(base shape, dim, appended length) of a concatenation that appends to a base at least :data:`APPEND_MIN_X`
    times longer than the rest; None for any other."""
    if not isinstance(dims, list) or not dims or not isinstance(dims[0], list):
        return None
    tensors = [d for d in dims[0] if is_shape(d) and d]
    if len(tensors) < 2 or len(tensors) != len(dims[0]) or len({len(t) for t in tensors}) != 1:
        return None
    ndim = len(tensors[0])
    raw = concrete[1] if isinstance(concrete, list) and len(concrete) > 1 else None
    parsed = parse_dims_arg(raw) if raw not in (None, "") else [0]  # cat's dim defaults to 0
    if not parsed or len(parsed) != 1 or not -ndim <= parsed[0] < ndim:
        return None
    dim = parsed[0] % ndim
    if any(t[:dim] + t[dim + 1:] != tensors[0][:dim] + tensors[0][dim + 1:] for t in tensors):
        return None
    longest = max(range(len(tensors)), key=lambda i: tensors[i][dim])
    base = tensors[longest]
    appended = sum(t[dim] for i, t in enumerate(tensors) if i != longest)
    if appended <= 0 or base[dim] < APPEND_MIN_X * appended:
        return None
    return base, dim, appended
