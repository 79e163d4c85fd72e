"""bambaprof: profiling and diagnostics for the chunked SSD layers of Bamba-style hybrid models."""

from ._version import __version__
from .errors import BambaprofError, UsageError
from .ssm import Variant, get_variant, list_variants, register_variant

__all__ = [
    "BambaprofError",
    "UsageError",
    "Variant",
    "__version__",
    "get_variant",
    "list_variants",
    "register_variant",
]
