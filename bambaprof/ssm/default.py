"""``default``: the Foundation Model Stack's chunked SSD, as the study profiled it."""

from __future__ import annotations

from .chunked import chunked_forward, chunked_step, chunked_workspace_bytes
from .contract import Variant

DEFAULT = Variant(
    name="default",
    forward=chunked_forward,
    step=chunked_step,
    exact=True,
    summary="FMS chunked SSD: padding, segment sums, broadcast-multiply-sum contractions",
    extra={"workspace_bytes": chunked_workspace_bytes},
)
