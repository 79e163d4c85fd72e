"""JSON-ready values, the same everywhere: numpy scalars become Python numbers, NaN and
infinities become ``null`` (a number that cannot be known is shown as unknown, and JSON
has no NaN), objects with ``to_dict`` are expanded."""

from __future__ import annotations

import math
from typing import Any


def json_safe(obj: Any) -> Any:
    """A JSON-ready copy of ``obj`` (see the module docstring)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return json_safe(obj.to_dict())
    if type(obj).__module__ == "numpy" and hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
