"""Byte and FLOP counts of inductor's Triton kernels, read from the modules inductor generated.

With ``benchmark_kernel`` on (``profile`` switches it on for compiled runs), inductor writes each kernel's
``kernel_num_gb`` (bytes / 1e9) and, for templates, ``kernel_flop`` into the kernel's ``inductor_meta`` in
the generated module. A kernel launched by its op carries them into the trace; a kernel replayed from a CUDA
graph does not. So ``profile`` reads them from the loaded modules after the measurements
(``inductor-kernels.json`` in the run directory), and ``analyze`` gives a replayed kernel that the launch map
did not reach the counts of the kernel of the same name (:mod:`bambaprof.analysis.launch_map`). A name that
two modules use with different counts is left out: it cannot be told apart by name.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from ..analysis.builder import as_positive


def kernel_counts(modules: Iterable[Any]) -> Dict[str, Dict[str, Optional[float]]]:
    """``{kernel name: {"kernel_num_gb": GB, "kernel_flop": FLOPs or None}}`` over the kernels (objects with
    an ``inductor_meta`` dict) that ``modules`` hold as attributes; names with conflicting counts are left
    out."""
    seen: Dict[str, Optional[Dict[str, Optional[float]]]] = {}
    for module in modules:
        for attr, obj in list(vars(module).items()):
            meta = getattr(obj, "inductor_meta", None)
            if not isinstance(meta, dict):
                continue
            gb = as_positive(meta.get("kernel_num_gb"))
            if gb is None:
                continue
            name = str(meta.get("kernel_name") or attr)
            entry = {"kernel_num_gb": gb, "kernel_flop": as_positive(meta.get("kernel_flop"))}
            if name in seen and seen[name] != entry:
                seen[name] = None
            elif name not in seen:
                seen[name] = entry
    return {name: entry for name, entry in seen.items() if entry is not None}


def loaded_modules() -> List[Any]:
    """Every module inductor has loaded in this process (empty without inductor)."""
    try:
        from torch._inductor.codecache import PyCodeCache
    except ImportError:  # pragma: no cover - torch without inductor
        return []
    modules = list(getattr(PyCodeCache, "modules", []) or [])
    return modules + list((getattr(PyCodeCache, "modules_no_attr", {}) or {}).values())


def loaded_kernel_counts(exclude: Iterable[int] = ()) -> Dict[str, Dict[str, Optional[float]]]:
    """:func:`kernel_counts` over the modules inductor loaded in this process, but those whose ``id`` is in
    ``exclude`` (the modules loaded before this run's compilation)."""
    skip = set(exclude)
    return kernel_counts(m for m in loaded_modules() if id(m) not in skip)
