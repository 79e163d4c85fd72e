"""Collective communication on the GPU (NCCL, RCCL, MSCCL kernels) and how much of it the device's own work hides
(times in us).

A *collective kernel* is a kernel whose name says it is one (:data:`COLLECTIVE_KERNEL`: ``ncclDevKernel_AllReduce_
Sum_bf16_RING_LL``, ``ncclKernel_SendRecv_...``, RCCL's and MSCCL's, ``one_shot_all_reduce``); its kind (all-reduce,
all-gather, reduce-scatter, all-to-all, send/recv, broadcast, reduce) comes from the name, ``other`` where the name
does not tell (RCCL's ``ncclDevKernel_Generic_1``). Every other kernel is *compute*. Per device:

- *collective time*: the length of the union of its collective kernels' intervals;
- *overlapped*: the part of that during which a compute kernel ran on the same device (any stream);
- *exposed* = collective - overlapped: time the device spent on communication alone.

A collective kernel starts when it is launched and spins until every rank has joined, so its time, and the exposed
part of it, include waiting for slower ranks: exposed time on one rank may be another rank's lateness (a folder of
the job's traces shows the ranks side by side, ``slowest-rank``). Copies and memsets are neither collective nor
compute here.

:func:`collective_table` gives one row per kind; :func:`collective_summary` the device-level figures.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .timeline import union_length
from .trace import Trace, value_codes

#: GPU kernels that are collectives: NCCL's, RCCL's and MSCCL's own, and the collective kernels of libraries that
#: name the operation (PyTorch's symmetric-memory ``one_shot_all_reduce``, ``all_gather`` kernels). A bare
#: "broadcast" is left out: elementwise and GEMM epilogue kernels broadcast operands (``EpilogueWithBroadcast``).
COLLECTIVE_KERNEL = re.compile(r"nccl|rccl|msccl|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all",
                               re.IGNORECASE)
#: Kinds by what the name holds (underscores left out, lower case), the more specific first.
_KINDS = (("allreduce", "all-reduce"), ("allgather", "all-gather"), ("reducescatter", "reduce-scatter"),
          ("alltoall", "all-to-all"), ("sendrecv", "send/recv"), ("send", "send/recv"), ("recv", "send/recv"),
          ("broadcast", "broadcast"), ("reduce", "reduce"))


@functools.lru_cache(maxsize=1 << 16)
def is_collective_kernel(name: str) -> bool:
    """Whether a kernel's name says it is a collective (:data:`COLLECTIVE_KERNEL`; remembered by name, as each
    name is asked about by several tables and rules)."""
    return bool(COLLECTIVE_KERNEL.search(name))


def collective_kind(name: str) -> str:
    """The operation a collective kernel's name names (``all-reduce``, ...), or ``other``."""
    flat = name.lower().replace("_", "")
    return next((kind for key, kind in _KINDS if key in flat), "other")


#: Bytes per element of the dtypes PyTorch names in a collective's ``dtype`` (its scalar type names, and
#: torch's dtype names), lower case.
DTYPE_BYTES = {"float": 4, "float32": 4, "double": 8, "float64": 8, "half": 2, "float16": 2, "bfloat16": 2,
               "int": 4, "int32": 4, "long": 8, "int64": 8, "short": 2, "int16": 2, "char": 1, "int8": 1,
               "byte": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1,
               "float8_e5m2fnuz": 1, "complexfloat": 8, "complexdouble": 16, "complexhalf": 4}
#: Kinds by a collective's ``Collective name`` (PyTorch's, without underscores, lower case), where the kernel's
#: name does not tell (RCCL's ``Generic`` kernels).
_NAMED_KINDS = (("allreduce", "all-reduce"), ("allgather", "all-gather"), ("reducescatter", "reduce-scatter"),
                ("alltoall", "all-to-all"), ("broadcast", "broadcast"), ("send", "send/recv"), ("recv", "send/recv"),
                ("reduce", "reduce"))
#: nccl-tests' bus bandwidth factors: bus bandwidth = algorithm bandwidth x factor(n ranks).
_BUS_FACTOR = {"all-reduce": lambda n: 2 * (n - 1) / n, "all-gather": lambda n: (n - 1) / n,
               "reduce-scatter": lambda n: (n - 1) / n, "all-to-all": lambda n: (n - 1) / n,
               "broadcast": lambda n: 1.0, "reduce": lambda n: 1.0, "send/recv": lambda n: 1.0}


def message_bytes(kind: str, params: Any) -> Optional[Tuple[int, int]]:
    """A collective's message in bytes as nccl-tests counts it (all-gather: the gathered output; the others:
    the input), and its group size, from its parameters (``Collective name``, ``In msg nelems``, ``Out msg
    nelems``, ``Group size``, ``dtype``); ``None`` when they do not tell (unknown dtype, no element count)."""
    if not isinstance(params, tuple) or len(params) != 5:
        return None
    _, in_n, out_n, group, dtype = params
    size = DTYPE_BYTES.get(str(dtype).lower()) if isinstance(dtype, str) else None
    count = out_n if kind == "all-gather" else in_n
    if size is None or not _whole(count) or count <= 0 or not _whole(group) or group < 1:
        return None
    return int(count) * size, int(group)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _params(trace: Trace, rows: np.ndarray) -> List[Any]:
    """Each collective row's parameters: the kernel's own (newer PyTorch copies them onto NCCL kernels), else
    those of the op that launched it (``record_param_comms``), else ``None``."""
    gpu, ops = trace.gpu, trace.ops
    own = [gpu.comm[r] if r < len(gpu.comm) else None for r in rows.tolist()]
    if all(p is not None for p in own) or not len(ops.comm):
        return own
    op_row = trace.gpu_op_row
    return [p if p is not None else (ops.comm[op_row[r]] if op_row[r] >= 0 else None)
            for p, r in zip(own, rows.tolist())]


def collective_rows(trace: Trace) -> Tuple[np.ndarray, np.ndarray, List[Any], np.ndarray]:
    """Masks of collective and compute kernels over ``trace.gpu``, the distinct names and each row's name code;
    computed once a trace."""
    key = ("collective rows",)
    if key not in trace.memo:
        gpu = trace.gpu
        codes, names = value_codes(trace, "gpu.name")
        named = np.fromiter((is_collective_kernel(str(n)) for n in names), dtype=bool, count=len(names))
        kernel = gpu.kind == "kernel"
        collective = kernel & named[codes] if len(names) else np.zeros(len(gpu.ts), dtype=bool)
        trace.memo[key] = (collective, kernel & ~collective, names, codes)
    return trace.memo[key]


def _covered_before(ms: np.ndarray, me: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For merged, sorted intervals ``[ms, me)``: how much of them lies before each time in ``t``."""
    if not len(ms):
        return np.zeros(len(t))
    done = np.concatenate(([0.0], np.cumsum(me - ms)))
    i = np.searchsorted(ms, t, side="right") - 1
    j = np.maximum(i, 0)
    partial = np.clip(t - ms[j], 0.0, me[j] - ms[j])
    return np.where(i >= 0, done[j] + partial, 0.0)


def _exposed(starts: np.ndarray, ends: np.ndarray, compute_ms: np.ndarray, compute_me: np.ndarray) -> np.ndarray:
    """The part of each interval ``[starts, ends)`` that no compute interval covers (us)."""
    hidden = _covered_before(compute_ms, compute_me, ends) - _covered_before(compute_ms, compute_me, starts)
    return np.maximum((ends - starts) - hidden, 0.0)


def _devices(trace: Trace) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per device with collectives: the mask of its rows, and its compute kernels' merged intervals (starts,
    ends); worked out once per trace."""
    key = ("collective devices",)
    if key not in trace.memo:
        collective, compute, _, _ = collective_rows(trace)
        gpu, out = trace.gpu, []
        for device in np.unique(gpu.device[collective]).tolist():
            on = gpu.device == device
            comp = compute & on
            _, ms, me = union_length(gpu.ts[comp], gpu.ts[comp] + gpu.dur[comp])
            out.append((on, ms, me))
        trace.memo[key] = out
    return trace.memo[key]


def collective_table(trace: Trace) -> List[Dict[str, Any]]:
    """One row per collective kind, most time first: ``kind``, ``count``, ``total_us`` (summed kernel time),
    ``exposed_us`` (summed time of each kernel with no compute kernel beside it on its device), ``overlap_pct``
    (the share of ``total_us`` that compute hid), ``streams``, ``kernels`` (the names joined by commas, most
    time first) and, where the trace gives the collectives' parameters, their ``bytes`` (nccl-tests' message
    size), ``group_size`` (the most common), ``algbw_gbps`` (bytes / kernel time) and ``busbw_gbps`` (the bytes
    that cross the links / kernel time: algorithm bandwidth x 2(n-1)/n for all-reduce, (n-1)/n for all-gather,
    reduce-scatter and all-to-all, 1 otherwise) over the kernels with known sizes (``sized_pct`` of the time).
    Empty when the trace has no collective kernels."""
    collective, compute, names, codes = collective_rows(trace)
    if not collective.any():
        return []
    gpu = trace.gpu
    exposed = np.zeros(len(gpu.ts))
    for on, ms, me in _devices(trace):
        rows = np.flatnonzero(collective & on)
        exposed[rows] = _exposed(gpu.ts[rows], gpu.ts[rows] + gpu.dur[rows], ms, me)
    by_kind: Dict[str, Dict[str, Any]] = {}
    rows = np.flatnonzero(collective)
    for row, params in zip(rows.tolist(), _params(trace, rows)):
        name = str(names[codes[row]])
        kind = collective_kind(name)
        if kind == "other" and isinstance(params, tuple) and isinstance(params[0], str):
            flat = params[0].lower().replace("_", "")
            kind = next((k for key, k in _NAMED_KINDS if key in flat), "other")
        entry = by_kind.setdefault(kind, {"count": 0, "total_us": 0.0, "exposed_us": 0.0, "streams": set(),
                                          "by_name": {}, "bytes": 0, "sized_us": 0.0, "bus": 0.0, "groups": {}})
        dur = float(gpu.dur[row])
        entry["count"] += 1
        entry["total_us"] += dur
        entry["exposed_us"] += float(exposed[row])
        entry["streams"].add((int(gpu.device[row]), int(gpu.stream[row])))
        entry["by_name"][name] = entry["by_name"].get(name, 0.0) + dur
        sized = message_bytes(kind, params) if kind in _BUS_FACTOR else None
        if sized is not None and dur > 0:
            nbytes, group = sized
            entry["bytes"] += nbytes
            entry["sized_us"] += dur
            entry["bus"] += nbytes * _BUS_FACTOR[kind](group)  # bytes that crossed the links, nccl-tests' way
            entry["groups"][group] = entry["groups"].get(group, 0) + 1
    table = []
    for kind, e in by_kind.items():
        total, sized_us = e["total_us"], e["sized_us"]
        table.append({"kind": kind, "count": e["count"], "total_us": total, "exposed_us": e["exposed_us"],
                      "overlap_pct": 100.0 * (1.0 - e["exposed_us"] / total) if total > 0 else None,
                      "streams": len(e["streams"]),
                      "bytes": e["bytes"] if sized_us > 0 else None,
                      "group_size": max(e["groups"], key=e["groups"].get) if e["groups"] else None,
                      "algbw_gbps": e["bytes"] / (sized_us * 1e3) if sized_us > 0 else None,
                      "busbw_gbps": e["bus"] / (sized_us * 1e3) if sized_us > 0 else None,
                      "sized_pct": 100.0 * sized_us / total if total > 0 else None,
                      "kernels": ", ".join(sorted(e["by_name"], key=lambda n: -e["by_name"][n]))})
    return sorted(table, key=lambda r: -r["total_us"])


def collective_summary(trace: Trace) -> Dict[str, Any]:
    """Device-level figures for the summary: ``collective_count``, ``collective_us`` (union of collective kernels,
    summed over devices), ``collective_exposed_us`` (the part of it no compute kernel covered) and
    ``collective_overlap_pct``; the times ``None`` when there are no collective kernels."""
    collective = collective_rows(trace)[0]
    count = int(collective.sum())
    if not count:
        return {"collective_count": 0, "collective_us": None, "collective_exposed_us": None,
                "collective_overlap_pct": None}
    gpu = trace.gpu
    total = exposed = 0.0
    for on, ms, me in _devices(trace):
        coll = collective & on
        length, cs, ce = union_length(gpu.ts[coll], gpu.ts[coll] + gpu.dur[coll])
        total += length
        exposed += float(_exposed(cs, ce, ms, me).sum())
    return {"collective_count": count, "collective_us": total, "collective_exposed_us": exposed,
            "collective_overlap_pct": 100.0 * (1.0 - exposed / total) if total > 0 else None}
