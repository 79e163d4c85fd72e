"""Collection: run a workload under torch.profiler and an NVML sampler into a run directory.

Entry points: :func:`run_one` (one :class:`~bambaprof.run.RunConfig`), :func:`run_matrix` (many, with
resume), :func:`build_configs` (a matrix from its axes), :func:`record` (the user's own code). Loaded
lazily, so that the NVML sampler's child
process can import :mod:`bambaprof.collect.nvml` without importing torch.
"""

from typing import Any

_LAZY = {
    "build_configs": "bambaprof.collect.matrix",
    "record": "bambaprof.collect.record",
    "Recording": "bambaprof.collect.record",
    "run_matrix": "bambaprof.collect.runner",
    "run_one": "bambaprof.collect.runner",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bambaprof.collect' has no attribute {name!r}")
