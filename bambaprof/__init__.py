"""bambaprof: profiling and diagnostics for the chunked SSD layers of Bamba-style hybrid models.

The public surface is re-exported here and loaded on first use, so that the
stages that need no model (``analyze``, ``compare``, ``report``) never import
torch.
"""

from typing import Any

from ._version import __version__
from .errors import BambaprofError, UsageError

_LAZY = {
    "Variant": ("bambaprof.ssm", "Variant"),
    "get_variant": ("bambaprof.ssm", "get_variant"),
    "list_variants": ("bambaprof.ssm", "list_variants"),
    "register_variant": ("bambaprof.ssm", "register_variant"),
    "analyze": ("bambaprof.analyze", "analyze"),
    "load_trace": ("bambaprof.analyze", "load_trace"),
}

__all__ = ["BambaprofError", "UsageError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bambaprof' has no attribute {name!r}")
