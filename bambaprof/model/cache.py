"""Per-layer state for cached generation: conv and SSM states, and the KV cache.

One :class:`ModelCache` holds one entry per decoder layer and the number of
tokens consumed so far (``seqlen_offset``, the position of the next token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Set, Union

import torch


@dataclass
class MambaLayerCache:
    """``conv_state (b, conv_dim, d_conv)``: the last ``d_conv`` conv inputs (oldest first);
    ``ssm_state (b, h, p, n)``: the SSM state after the last token (float32 or float64).

    With ``step_counter`` (one int64; the fused decode step of the ``triton`` variant, see
    :func:`bambaprof.ssm.kernels.mixer.mixer_decode_step`) the conv state is circular instead (the input of
    time tau in slot ``tau % d_conv``) and both states are updated in place: their storage never changes."""

    conv_state: Optional[torch.Tensor] = None
    ssm_state: Optional[torch.Tensor] = None
    step_counter: Optional[torch.Tensor] = None


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

    def tensors(self) -> List[tuple]:
        """``(layer, name, tensor)`` of every state tensor held."""
        out = []
        for layer in self.layers:
            for name in ("conv_state", "ssm_state", "step_counter", "key", "value"):
                t = getattr(layer, name, None)
                if isinstance(t, torch.Tensor):
                    out.append((layer, name, t))
        return out

    def copy_tensors_(self, kept: Optional[Set[int]] = None) -> int:
        """Replace state tensors with fresh copies of them; returns the bytes copied.

        Under CUDA graphs (``reduce-overhead``, ``max-autotune``) the tensors a step writes into the
        cache live in the graph's memory pool, which the next replay overwrites; the next step reads
        them, so they must be copied out after each step. ``kept``: the ids of the tensors the cache
        held before the step (see :meth:`tensor_ids`); a tensor still there was updated in place, its
        storage its own, and is not copied. Copies of a layer updated in place (``step_counter``) are
        marked as static inputs, so that the steps that update them replay as a CUDA graph."""
        copied = 0
        for layer, name, t in self.tensors():
            if kept is not None and id(t) in kept:
                continue
            fresh = t.clone()
            if getattr(layer, "step_counter", None) is not None:  # updated in place from now on
                _mark_static(fresh)
            setattr(layer, name, fresh)
            copied += t.numel() * t.element_size()
        return copied

    def tensor_ids(self) -> Set[int]:
        """Ids of the state tensors held now (see :meth:`copy_tensors_`)."""
        return {id(t) for _, _, t in self.tensors()}


def _mark_static(t: torch.Tensor) -> None:
    """Tell torch.compile that ``t`` keeps its address (a cache updated in place): CUDA graphs may write it."""
    try:
        torch._dynamo.mark_static_address(t)
    except Exception:  # an old torch without it: graphs then copy the tensor, as before
        pass
