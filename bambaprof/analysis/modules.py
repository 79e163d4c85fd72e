"""Modules: GPU time attributed to the ``nn.Module`` whose forward launched it.

With ``with_stack=True`` the PyTorch profiler records every ``nn.Module`` call as a Python frame named
``nn.Module: <Class>_<instance>`` (the instance numbered per class, ``Linear_0``, ``Linear_1``, ...). A GPU
activity belongs to the innermost module call open on its launching thread at the launch (the same link as
:mod:`.phases`: the runtime call by ``correlation``, else the op's ``External id``); its *path* is the module
calls enclosing it, outermost first: ``BambaForCausalLM_0/DecoderLayer_2/Mamba2Mixer_1/Linear_3``. A backward
pass has no module calls (the Python tracer sees only forward calls): its work goes to the module of the
forward op whose autograd node launched it, marked ``(backward)`` (``.../Linear_3 (backward)``; see
:func:`~.phases.activity_paths`). Work that no module call encloses is the module :data:`NO_MODULE`, shown,
never dropped.

Two tables, with the columns of the phase tables (GPU time, share, count, bytes, floor, excess): ``modules``
by path and ``module_kinds`` with the instance numbers folded (``BambaForCausalLM/DecoderLayer/Mamba2Mixer/
Linear``: summed over layers, and over the modules of one class in one place). Each row also has the host
side of its calls: ``calls`` (how many) and ``cpu_self_us`` (their summed duration less that of the module
calls directly inside them, us), so a module that launched no GPU work (a CPU-only trace) has a row too.
Each kernel row gets its main ``module``: the folded path holding most of its time. Both are empty for a
trace without module calls.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .phases import Ranges, activity_paths, path_tables, ranges_by_thread
from .trace import Trace

if TYPE_CHECKING:
    from .traffic import TrafficColumns

NO_MODULE = "(no module)"
_INSTANCE = re.compile(r"_\d+(?=/|$| \(backward\)$)")


def module_ranges(trace: Trace) -> Ranges:
    """The trace's nn.Module calls by thread (see :func:`~.phases.ranges_by_thread`), computed once a trace."""
    if "module_ranges" not in trace.memo:
        m = trace.modules
        trace.memo["module_ranges"] = ranges_by_thread(m.ts, m.dur, m.name, m.tid, range(len(m)))
    return trace.memo["module_ranges"]


def fold_instances(path: str) -> str:
    """``Model_0/DecoderLayer_3/Linear_7`` -> ``Model/DecoderLayer/Linear``: the same place in every layer."""
    return _INSTANCE.sub("", path)


def module_tail(path: Any) -> Optional[str]:
    """``Mamba2Mixer/Linear``: the last two classes of an nn.Module path, instance numbers folded (how findings
    and the report name a module in a few words); ``None`` for no path or :data:`NO_MODULE`."""
    if not path or str(path).startswith("("):
        return None
    return "/".join(fold_instances(str(path)).split("/")[-2:])


def module_tables(trace: Trace, kernels: Sequence[Dict[str, Any]], names: Tuple[np.ndarray, List[str]],
                  traffic: "TrafficColumns") -> Dict[str, List[dict]]:
    """``modules`` and ``module_kinds`` rows (see the module docstring), largest GPU time first; each kernel
    row gets its main ``module`` (``None`` without module calls). Arguments as for
    :func:`~.phases.phase_tables`."""
    if not len(trace.modules):
        for k in kernels:
            k["module"] = None
        return {"modules": [], "module_kinds": []}
    paths = activity_paths(trace, ranges=module_ranges(trace), unattributed=NO_MODULE)
    tables = path_tables(trace, kernels, names, traffic, paths, fold_instances, "module", NO_MODULE)
    call_path, self_us = call_paths(trace)
    total = float(trace.gpu.dur.sum())
    for table, fold in (("modules", str), ("module_kinds", fold_instances)):
        calls: Dict[str, int] = defaultdict(int)
        cpu: Dict[str, float] = defaultdict(float)
        for path, us in zip(map(fold, call_path), self_us.tolist()):
            calls[path] += 1
            cpu[path] += us
        rows = tables[table]
        for row in rows:
            row["calls"] = calls.get(row["module"]) if row["module"] != NO_MODULE else None
            row["cpu_self_us"] = cpu.get(row["module"]) if row["module"] != NO_MODULE else None
        seen = {row["module"] for row in rows}
        rows += [{"module": path, "gpu_us": 0.0, "count": 0, "floor_us": None, "bytes": None, "kernel_names": 0,
                  "share_pct": 0.0 if total > 0 else None, "excess_us": None, "floor_coverage_pct": None,
                  "bytes_coverage_pct": None, "depth": path.count("/"), "calls": calls[path],
                  "cpu_self_us": cpu[path]} for path in calls if path not in seen]
        rows.sort(key=lambda r: (-r["gpu_us"], -(r["cpu_self_us"] or 0.0)))
    return tables


def call_paths(trace: Trace) -> Tuple[List[str], np.ndarray]:
    """Each nn.Module call's own path (the calls enclosing it on its thread, outermost first, then itself) and
    its self time (its duration less that of the calls directly inside it, at least 0; us), in row order.

    Calls nest by time on their thread: in start order (the longer first on a tie), a call's parent is the
    innermost call still open at its start."""
    m = trace.modules
    n = len(m)
    paths: List[str] = [""] * n
    self_us = np.asarray(m.dur, dtype=np.float64).copy()
    by_thread: Dict[Any, List[int]] = defaultdict(list)
    for i, tid in enumerate(m.tid):
        by_thread[tid].append(i)
    for rows in by_thread.values():
        r = np.asarray(rows)
        order = r[np.lexsort((-m.dur[r], m.ts[r]))].tolist()
        stack: List[Tuple[float, int]] = []  # (end, row) of the calls open
        for i in order:
            start = float(m.ts[i])
            while stack and stack[-1][0] <= start:  # calls that ended before this one began
                stack.pop()
            if stack:
                parent = stack[-1][1]
                paths[i] = paths[parent] + "/" + m.name[i]
                self_us[parent] -= float(m.dur[i])
            else:
                paths[i] = m.name[i]
            stack.append((start + float(m.dur[i]), i))
    return paths, np.maximum(self_us, 0.0)
