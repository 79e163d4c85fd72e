"""SSD (Mamba2 chunked state-space) cores: one contract, several variants.

>>> from bambaprof.ssm import get_variant, list_variants
>>> y, final_state = get_variant("default")(x, dt, A, B, C, chunk_size=256,
...                                          return_final_state=True)  # doctest: +SKIP

See :mod:`bambaprof.ssm.contract` for shapes and semantics.
"""

from .contract import NO_DT_LIMIT, SSDInputError, Variant
from .registry import ENTRY_POINT_GROUP, get_variant, list_variants, register_variant, variant_names

__all__ = [
    "ENTRY_POINT_GROUP",
    "NO_DT_LIMIT",
    "SSDInputError",
    "Variant",
    "get_variant",
    "list_variants",
    "register_variant",
    "variant_names",
]
