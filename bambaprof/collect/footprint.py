"""A lower bound of the memory a configuration needs, checked before it runs.

``profile --seq-len 10000000`` on the CPU once grew to 14 GB in 36 s before anything refused it. Before a
configuration builds anything, the runner adds up what it must hold at least:

- the weights: the mixer's (in_proj, conv, out_proj) for the ``mixer`` workload, every layer's plus the
  embedding and the LM head for the others (attention and MLP projections counted from the shapes);
- the hidden states: input and output of the forward, ``batch x tokens x hidden``;
- the SSD core's own workspace where the variant declares it (``Variant.extra["workspace_bytes"]``: the
  chunked scan keeps its broadcast products alive, about 54 GB for one Bamba-9B mixer at 1 x 2048 tokens).

Everything else (the cache, temporaries of other variants, the allocator's slack) is left out, so the figure
is a lower bound: a configuration above the memory available cannot run, one below it may still not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.config import BambaConfig
from ..run.model_shapes import weight_params


@dataclass(frozen=True)
class Footprint:
    """Bytes a configuration needs at least, by part."""

    weights: int
    activations: int
    workspace: int

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.workspace


def weight_bytes(c: BambaConfig, mixer_only: bool) -> int:
    """Parameters' bytes (the model's dtype): one mixer, or the whole model (counted as
    :func:`bambaprof.run.model_shapes.weight_params` counts them)."""
    return weight_params(c, mixer_only) * c.torch_dtype.itemsize


def estimate(c: BambaConfig, workload: str, variant_extra: dict, batch: int, tokens: int) -> Footprint:
    """The lower bound for ``workload`` (``mixer``, ``prefill``, ``generate``) over ``tokens`` tokens."""
    element = c.torch_dtype.itemsize
    activations = 2 * batch * tokens * c.hidden_size * element
    workspace_fn = variant_extra.get("workspace_bytes")
    workspace = 0
    if callable(workspace_fn):
        workspace = int(workspace_fn(batch, tokens, c.mamba_n_heads, c.head_dim, c.mamba_d_state,
                                     c.mamba_chunk_size))
    return Footprint(weight_bytes(c, workload == "mixer"), activations, workspace)
