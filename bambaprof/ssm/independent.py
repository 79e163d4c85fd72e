"""``independent``: chunks scanned with no state passed between them (an approximation).

Each chunk starts from a zero state (the first from ``initial_state``), so a
token only sees the tokens of its own chunk. The output matches ``reference``
exactly only when the sequence fits in one chunk; the error grows with the
number of chunks and is reported by ``bambaprof check``, not judged.
"""

from __future__ import annotations

import functools

from .chunked import chunked_forward, chunked_workspace_bytes, independent_step
from .contract import Variant

INDEPENDENT = Variant(
    name="independent",
    forward=functools.partial(chunked_forward, pass_states=False),
    step=independent_step,
    exact=False,
    summary="FMS chunked SSD without the inter-chunk state (each chunk starts from zero)",
    extra={"workspace_bytes": chunked_workspace_bytes},
)
