"""Normalised kernel names, so that instances of one kernel group together.

- C++ kernels lose ``void`` and their argument list, keeping template arguments
  (they tell instantiations apart);
- inductor kernels lose the trailing ``_<n>`` counter (``triton_poi_fused_add_0``
  -> ``triton_poi_fused_add``);
- runs of 16 or more hex digits (hashes) become ``<hash>``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_INDUCTOR = re.compile(r"^(triton_(?:poi|red|per|tem|for|spl|mm|bmm|unk)_\w*?)_\d+$")
_HASH = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{16,}(?![0-9a-fA-F])")


def _strip_arguments(name: str) -> str:
    if not name.endswith(")"):
        return name
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        c = name[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return name[:i].rstrip() if i > 0 else name
    return name


@lru_cache(maxsize=65536)
def normalize_kernel_name(name: str) -> str:
    """The grouping key of a kernel name; see the module docstring."""
    out = name.strip()
    if out.startswith("void "):
        out = out[5:]
    out = _strip_arguments(out)
    m = _INDUCTOR.match(out)
    if m:
        out = m.group(1)
    return _HASH.sub("<hash>", out)
