"""bambaprof: profiling and diagnostics for the chunked SSD layers of Bamba-style hybrid models.

The public surface, re-exported here and loaded on first use (so that the stages that need no model,
``analyze``, ``compare`` and ``report``, never import torch):

- :func:`profile`: variants x compile modes x workloads x shapes into run directories;
- :func:`record`: your own code, step by step, into a run directory;
- :func:`analyze`, :func:`compare`, :func:`report`: what run directories (or any Kineto traces) say;
  :func:`analyze_ranks`: the ranks of one job side by side;
- the run record: :class:`RunRecord`, :class:`Manifest`, :class:`RunConfig`, :func:`read_manifest`,
  :func:`iter_runs`;
- SSD cores: :class:`Variant`, :func:`get_variant`, :func:`list_variants`, :func:`register_variant`.
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import BambaprofError, UsageError

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from ._api import analyze, analyze_ranks, compare, profile, report  # noqa: F401
    from .analysis import Analysis, load_trace  # noqa: F401
    from .analysis.compare import Comparison  # noqa: F401
    from .collect.record import Recording, record  # noqa: F401
    from .run import Manifest, RunConfig, RunRecord, iter_runs, read_manifest  # noqa: F401
    from .ssm import Variant, get_variant, list_variants, register_variant  # noqa: F401

_LAZY = {
    "profile": ("bambaprof._api", "profile"),
    "analyze": ("bambaprof._api", "analyze"),
    "analyze_ranks": ("bambaprof._api", "analyze_ranks"),
    "compare": ("bambaprof._api", "compare"),
    "report": ("bambaprof._api", "report"),
    "record": ("bambaprof.collect.record", "record"),
    "Recording": ("bambaprof.collect.record", "Recording"),
    "Analysis": ("bambaprof.analysis", "Analysis"),
    "Comparison": ("bambaprof.analysis.compare", "Comparison"),
    "load_trace": ("bambaprof.analysis", "load_trace"),
    "Manifest": ("bambaprof.run", "Manifest"),
    "RunConfig": ("bambaprof.run", "RunConfig"),
    "RunRecord": ("bambaprof.run", "RunRecord"),
    "read_manifest": ("bambaprof.run", "read_manifest"),
    "iter_runs": ("bambaprof.run", "iter_runs"),
    "Variant": ("bambaprof.ssm", "Variant"),
    "get_variant": ("bambaprof.ssm", "get_variant"),
    "list_variants": ("bambaprof.ssm", "list_variants"),
    "register_variant": ("bambaprof.ssm", "register_variant"),
}

__all__ = ["BambaprofError", "UsageError", "__version__", *_LAZY]


def __dir__() -> list:
    """The public names, the lazy ones included (``dir(bambaprof)``, tab completion)."""
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bambaprof' has no attribute {name!r}")
