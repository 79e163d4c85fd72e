"""Per-layer state for cached generation: conv and SSM states, and the KV cache.

One :class:`ModelCache` holds one entry per decoder layer and the number of
tokens consumed so far (``seqlen_offset``, the position of the next token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Union

import torch


@dataclass
class MambaLayerCache:
    """``conv_state (b, conv_dim, d_conv)``: the last ``d_conv`` conv inputs (oldest first);
    ``ssm_state (b, h, p, n)``: the SSM state after the last token (float32 or float64)."""

    conv_state: Optional[torch.Tensor] = None
    ssm_state: Optional[torch.Tensor] = None


@dataclass
class AttentionLayerCache:
    """Keys and values of every past token: ``(b, kv_heads, T, head_dim)``."""

    key: Optional[torch.Tensor] = None
    value: Optional[torch.Tensor] = None


LayerCache = Union[MambaLayerCache, AttentionLayerCache]


@dataclass
class ModelCache:
    """The whole model's generation state."""

    layers: List[LayerCache] = field(default_factory=list)
    seqlen_offset: int = 0

    @classmethod
    def for_layers(cls, layer_types: List[str]) -> "ModelCache":
        """An empty cache for layers of the given types (``"mamba"`` or ``"attention"``)."""
        return cls([AttentionLayerCache() if t == "attention" else MambaLayerCache() for t in layer_types])

    @property
    def empty(self) -> bool:
        return self.seqlen_offset == 0

    def copy_tensors_(self) -> int:
        """Replace every state tensor with a fresh copy of it; returns the bytes copied.

        Under CUDA graphs (``reduce-overhead``, ``max-autotune``) the tensors a step writes into the
        cache live in the graph's memory pool, which the next replay overwrites; the next step reads
        them, so they must be copied out after each step."""
        copied = 0
        for layer in self.layers:
            for name in ("conv_state", "ssm_state", "key", "value"):
                t = getattr(layer, name, None)
                if isinstance(t, torch.Tensor):
                    setattr(layer, name, t.clone())
                    copied += t.numel() * t.element_size()
        return copied
