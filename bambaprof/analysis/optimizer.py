"""Optimizer steps: which implementation each ran, and what it cost the host and the GPU (times in us).

``torch.optim``'s optimizers record each ``step()`` as a range ``Optimizer.step#<class>.step``. What ran inside it
tells the *implementation*:

- ``fused``: an ``aten::_fused_<name>_`` op (``fused=True``): one op updates every parameter of a group, one kernel
  (or a few) a step;
- ``foreach``: ``aten::_foreach_<op>`` ops (``foreach=True``, PyTorch's default when every parameter is on CUDA):
  each elementwise op over all parameters at once, a kernel per op per chunk of tensors;
- ``for-loop``: ops but neither (``foreach=False``, ``differentiable=True``, parameters not all on one of the
  devices with foreach kernels, or an optimizer without them): a few ops, and kernels, per parameter;
- ``unknown``: no op recorded inside the range (CPU ops not recorded, or a step that runs outside PyTorch's ops).

A range holding another optimizer's step (a wrapper calling the inner optimizer) is left to the inner one.

Per step: its host time (the range), its ops (``cpu_op``, nested ones included), the GPU activities they launched
(``launches``) and their GPU time, the *GPU window* of those activities (first start to last end) and the time in
that window no GPU activity ran on any device (``gpu_idle_us``: the GPU waited for the step's launches). A step
whose kernels queue behind earlier work runs them back to back and idles nothing, however many it launches.

:func:`optimizer_table` groups the steps by optimizer class and implementation.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import numpy as np

from .ops import cpu_op_mask, nearest_marked, op_intervals, op_parents
from .timeline import gpu_busy, idle_within
from .trace import Trace, value_codes

#: The range ``torch.optim.Optimizer.step`` records: the optimizer's class.
STEP_RANGE = re.compile(r"^Optimizer\.step#(?P<cls>.+)\.step$")
FUSED_PREFIX, FOREACH_PREFIX = "aten::_fused_", "aten::_foreach_"
#: Optimizers of ``torch.optim`` with a fused implementation (``fused=True``), on CUDA and the CPU.
FUSED_CLASSES = frozenset({"Adam", "AdamW", "SGD", "Adagrad"})
#: A row's keys, in the order tables show them.
ROW_KEYS = ("optimizer", "implementation", "steps", "host_us", "host_mean_us", "ops_per_step", "launches_per_step",
            "gpu_us", "gpu_window_us", "gpu_idle_us")
#: The summary's figures (see :func:`optimizer_summary`).
SUMMARY_KEYS = ("optimizer_steps", "optimizer_us", "optimizer_gpu_us", "optimizer_gpu_idle_us")


def optimizer_table(trace: Trace) -> Optional[List[Dict[str, Any]]]:
    """The optimizer steps of the trace grouped by ``optimizer`` (class) and ``implementation`` (see the module's
    docstring), most host time first; None where the trace holds no CPU ops (ranges are among them). Each row:
    ``steps``; ``host_us`` (their ranges' time) and ``host_mean_us``; ``ops_per_step`` and ``launches_per_step``
    (means); ``gpu_us`` (the GPU activities they launched), ``gpu_window_us`` (their windows, first start to last
    end, summed over steps) and ``gpu_idle_us`` (the time in those windows no GPU activity ran); the GPU figures None
    without GPU activity."""
    ops = trace.ops
    if not len(ops):
        return None
    steps, _, _ = op_intervals(trace, STEP_RANGE.match)
    if not len(steps):
        return []
    codes, names = value_codes(trace, "ops.name")
    parent = op_parents(trace)
    marked = np.zeros(len(ops), dtype=bool)
    marked[steps] = True
    owner = nearest_marked(parent, marked)
    wrappers = {int(owner[parent[s]]) for s in steps.tolist() if parent[s] >= 0 and owner[parent[s]] >= 0}
    index = np.full(len(ops), -1, dtype=np.int64)
    index[steps] = np.arange(len(steps))
    step_of = np.where(owner >= 0, index[np.maximum(owner, 0)], -1)
    step_of[steps] = -1  # the range itself is not one of its ops
    is_op = cpu_op_mask(trace)
    n = len(steps)
    mine = (step_of >= 0) & is_op
    op_count = np.bincount(step_of[mine], minlength=n)
    kinds = {}
    for prefix in (FUSED_PREFIX, FOREACH_PREFIX):
        wanted = [c for c, name in enumerate(names) if str(name).startswith(prefix)]
        hit = mine & np.isin(codes, wanted) if wanted else np.zeros(len(ops), dtype=bool)
        kinds[prefix] = np.bincount(step_of[hit], minlength=n) > 0
    gpu = _gpu_figures(trace, step_of, n)
    groups: Dict[tuple, Dict[str, Any]] = {}
    for i, row in enumerate(steps.tolist()):
        if row in wrappers:
            continue
        match = STEP_RANGE.match(str(ops.name[row]))
        cls = match.group("cls") if match else str(ops.name[row])
        impl = ("fused" if kinds[FUSED_PREFIX][i] else "foreach" if kinds[FOREACH_PREFIX][i]
                else "for-loop" if op_count[i] else "unknown")
        g = groups.setdefault((cls, impl), {"optimizer": cls, "implementation": impl, "steps": 0, "host_us": 0.0,
                                            "_ops": 0, "_launches": 0, "gpu_us": 0.0, "gpu_window_us": 0.0,
                                            "gpu_idle_us": 0.0})
        g["steps"] += 1
        g["host_us"] += float(ops.dur[row])
        g["_ops"] += int(op_count[i])
        if gpu is not None:
            g["_launches"] += int(gpu["launches"][i])
            for key in ("gpu_us", "gpu_window_us", "gpu_idle_us"):
                g[key] += float(gpu[key][i])
    out = []
    for g in groups.values():
        g["host_mean_us"] = g["host_us"] / g["steps"]
        g["ops_per_step"] = g.pop("_ops") / g["steps"]
        launches = g.pop("_launches")
        g["launches_per_step"] = launches / g["steps"] if gpu is not None else None
        if gpu is None:
            g["gpu_us"] = g["gpu_window_us"] = g["gpu_idle_us"] = None
        out.append({k: g[k] for k in ROW_KEYS})
    out.sort(key=lambda r: -r["host_us"])
    return out


def _gpu_figures(trace: Trace, step_of: np.ndarray, n: int) -> Optional[Dict[str, np.ndarray]]:
    """Per step: the GPU activities its ops launched (``launches``), their time, their window and the idle time in
    it; None without GPU activity."""
    gpu = trace.gpu
    if not len(gpu):
        return None
    launched_by = trace.gpu_op_row
    linked = np.flatnonzero(launched_by >= 0)
    which = step_of[launched_by[linked]]
    keep = which >= 0
    act, which = linked[keep], which[keep]
    start, end = gpu.ts[act], gpu.ts[act] + gpu.dur[act]
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, which, start)
    np.maximum.at(last, which, end)
    ran = np.isfinite(first)
    window = np.where(ran, last - first, 0.0)
    idle = np.zeros(n)
    if ran.any():
        ms, me = gpu_busy(trace)
        idle[ran] = idle_within(ms, me, first[ran], last[ran])
    return {"launches": np.bincount(which, minlength=n), "gpu_us": np.bincount(which, weights=gpu.dur[act], minlength=n),
            "gpu_window_us": window, "gpu_idle_us": idle}


def optimizer_summary(trace: Trace, table: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """``optimizer_steps``, ``optimizer_us`` (host time in them), ``optimizer_gpu_us`` and
    ``optimizer_gpu_idle_us`` (GPU time of their launches, and the GPU's idle time inside their windows; None
    without GPU activity); all None where the trace holds no CPU ops."""
    if table is None:
        return dict.fromkeys(SUMMARY_KEYS)
    on_gpu = len(trace.gpu) > 0

    def total(key: str) -> Optional[float]:
        return float(sum(r[key] for r in table)) if on_gpu else None

    return {"optimizer_steps": sum(r["steps"] for r in table), "optimizer_us": float(sum(r["host_us"] for r in table)),
            "optimizer_gpu_us": total("gpu_us"), "optimizer_gpu_idle_us": total("gpu_idle_us")}
