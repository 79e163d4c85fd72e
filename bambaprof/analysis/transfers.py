"""Copies between host and device memory, and the time a device ran nothing but them (times in us).

A *transfer* is a memcpy activity from host to device (``Memcpy HtoD``) or back (``Memcpy DtoH``), as Kineto,
Nsight Systems (read as Kineto names them) and rocprofv3 name them. Its *host memory* is what the name says of the
host side: ``pinned`` or ``pageable``, else ``unknown`` (ROCm's names do not say). Copies within a device or
between devices are not transfers.

A transfer is *exposed* for the time it runs on a device while no kernel runs on that device, inside the device's
kernel window (its first kernel's start to its last kernel's end): the copy engine works and the SMs have nothing
to do (they wait for its data, or nothing is queued). Per device, the union of its transfers less the union of its
kernels, each instant once (two copies at once count once). A copy before the device's first kernel or after its
last had nothing it could run beside (the first batch, the last results): it is not exposed, and a device without
kernels has no exposed time. The GPU's busy time (:mod:`.timeline`) counts these stretches as busy; a transfer that
runs beside a kernel costs the step nothing but bandwidth.

A transfer on a stream that also runs kernels (``stream_runs_kernels``) is ordered with them: it cannot start
before the kernels queued ahead of it end, and the kernels queued after it wait for it, so it can only run beside
work of other streams. Copying on a stream of its own, a batch ahead, is what lets it run under the kernels.

:func:`transfer_table` groups them by (direction, host memory, device, stream, operator), most exposed time first.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import numpy as np

from .timeline import idle_within, union_length
from .trace import Trace, value_codes

#: A host-device copy's name: its direction, and the host side's memory where the name gives it
#: (``Memcpy HtoD (Pinned -> Device)``, ``Memcpy DtoH (Device -> Pageable)``).
TRANSFER_NAME = re.compile(r"^Memcpy (HtoD|DtoH)\b(?:.*\b(Pinned|Pageable)\b)?")

#: The summary's figures: None where the trace cannot show host-device copies (see :func:`transfers_known`).
SUMMARY_KEYS = ("transfer_count", "transfer_us", "transfer_bytes", "transfer_exposed_us")

#: Parser backends whose GPU activity leaves copies out unless asked for (rocprofv3 without
#: ``--memory-copy-trace``, a rocpd database without its copy table): a trace of theirs without any copy does not
#: show that none ran.
_COPIES_OPTIONAL = ("rocprof", "rocpd")


def transfers_known(trace: Trace) -> bool:
    """Whether the trace could show host-device copies: it holds GPU activity, and either copies were recorded or
    its profiler records them with the kernels (Kineto's CUDA activity and Nsight Systems' CUDA trace do)."""
    kinds = trace.gpu.kind
    if not len(kinds):
        return False
    if (kinds == "memcpy").any():
        return True
    return not str(trace.backend).startswith(_COPIES_OPTIONAL)


def transfer_rows(trace: Trace) -> Dict[str, Any]:
    """The transfers of the trace: ``rows`` (GPU activity rows), ``direction`` (``HtoD``/``DtoH``), ``memory``
    (``pinned``, ``pageable``, ``unknown``) and ``exposed`` (us each: its time inside its device's kernel window with
    no kernel running there, counted once where several transfers run at once, the first of them by start taking
    it; see the module's description)."""
    gpu = trace.gpu
    codes, names = value_codes(trace, "gpu.name")
    matched = [TRANSFER_NAME.match(str(n)) for n in names]  # one match a distinct name
    kinds = [(m.group(1), m.group(2).lower() if m.group(2) else "unknown") if m else None for m in matched]
    is_transfer = np.array([k is not None for k in kinds], dtype=bool)
    usable = np.isfinite(gpu.ts) & np.isfinite(gpu.dur) & (gpu.dur >= 0)
    index = np.flatnonzero((gpu.kind == "memcpy") & usable & is_transfer[codes])
    direction = [kinds[c][0] for c in codes[index].tolist()]
    memory = [kinds[c][1] for c in codes[index].tolist()]
    exposed = np.zeros(len(index))
    for device in np.unique(gpu.device[index]).tolist() if len(index) else []:
        mine = np.flatnonzero(gpu.device[index] == device)
        kernels = (gpu.kind == "kernel") & (gpu.device == device)
        _, ks, ke = union_length(gpu.ts[kernels], gpu.ts[kernels] + gpu.dur[kernels])
        if len(ks):  # inside the kernel window: before the first kernel or after the last, nothing to run beside
            starts, ends = gpu.ts[index[mine]], gpu.ts[index[mine]] + gpu.dur[index[mine]]
            lo, hi = float(ks[0]), float(ke[-1])
            exposed[mine] = _exposed_each(np.clip(starts, lo, hi), np.clip(ends, lo, hi), ks, ke)
    return {"rows": index, "direction": direction, "memory": memory, "exposed": exposed}


def _exposed_each(starts: np.ndarray, ends: np.ndarray, ks: np.ndarray, ke: np.ndarray) -> np.ndarray:
    """For each interval (one device's transfers), the time in it that no kernel (``ks``, ``ke``: merged, sorted)
    covers and no interval started before it (by start) already covered; their sum is the union's uncovered time."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.concatenate(([-np.inf], np.maximum.accumulate(e)[:-1]))  # how far the earlier ones reached
    a = np.maximum(s, reach)
    b = np.maximum(e, a)  # an interval inside the earlier ones: empty
    own = np.minimum(idle_within(ks, ke, a, b), b - a) if len(ks) else b - a  # rounding kept under the length
    out = np.empty(len(s))
    out[order] = own
    return out


def transfer_table(trace: Trace, transfers: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The transfers (``transfers``, :func:`transfer_rows`, read when not given) grouped by (direction, host memory,
    device, stream, operator): ``count``, ``total_us``, ``exposed_us``, ``bytes`` (None where a copy's size is
    not in the trace), ``gbps`` (bytes over total time), ``stream_runs_kernels`` (whether kernels ran on the same
    stream) and ``op`` (the CPU op that launched them, ``aten::copy_`` for ``.to()``; None where the trace does not
    link them); most exposed time first."""
    t = transfers if transfers is not None else transfer_rows(trace)
    gpu, rows = trace.gpu, t["rows"]
    if not len(rows):
        return []
    kernels = gpu.kind == "kernel"
    kernel_streams = set(zip(gpu.device[kernels].tolist(), gpu.stream[kernels].tolist()))
    op_rows = trace.gpu_op_row[rows] if len(trace.ops) else np.full(len(rows), -1)
    groups: Dict[tuple, Dict[str, Any]] = {}
    for j, i in enumerate(rows.tolist()):
        device, stream = int(gpu.device[i]), int(gpu.stream[i])
        op = trace.ops.name[op_rows[j]] if op_rows[j] >= 0 else None
        key = (t["direction"][j], t["memory"][j], device, stream, op)
        g = groups.setdefault(key, {"direction": key[0], "memory": key[1], "device": device, "stream": stream,
                                    "op": op, "count": 0, "total_us": 0.0, "exposed_us": 0.0, "bytes": 0.0,
                                    "stream_runs_kernels": (device, stream) in kernel_streams})
        g["count"] += 1
        g["total_us"] += float(gpu.dur[i])
        g["exposed_us"] += float(t["exposed"][j])
        size = float(gpu.bytes[i]) if len(gpu.bytes) else float("nan")
        g["bytes"] = g["bytes"] + size if g["bytes"] is not None and np.isfinite(size) and size >= 0 else None
    for g in groups.values():
        g["gbps"] = g["bytes"] / g["total_us"] / 1e3 if g["bytes"] and g["total_us"] > 0 else None
    return sorted(groups.values(), key=lambda g: (-g["exposed_us"], -g["total_us"], g["direction"], g["memory"],
                                                  g["device"], g["stream"], g["op"] or ""))


def transfer_summary(trace: Trace, table: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Totals of :func:`transfer_table`'s rows: ``transfer_count``, ``transfer_us`` (summed durations),
    ``transfer_bytes`` (None where a size is unknown) and ``transfer_exposed_us`` (the devices' time running
    transfers and no kernel, each instant once); all None where the trace cannot show copies
    (:func:`transfers_known`)."""
    if not transfers_known(trace):
        return dict.fromkeys(SUMMARY_KEYS)
    sizes = [r["bytes"] for r in table]
    return {"transfer_count": sum(r["count"] for r in table),
            "transfer_us": sum(r["total_us"] for r in table),
            "transfer_bytes": None if any(b is None for b in sizes) else float(sum(sizes)),
            "transfer_exposed_us": sum(r["exposed_us"] for r in table)}
