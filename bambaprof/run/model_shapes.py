"""The model's shapes as a run records them (the manifest's ``model``), and the parameters they make, without torch.

:class:`ModelShapes` reads the fields of a Bamba configuration that set its parameter count from the recorded
dict; :func:`weight_params` counts the parameters of one mixer or of the whole model from any object with those
fields (a :class:`ModelShapes`, or :class:`bambaprof.model.config.BambaConfig`, whose footprint check uses the same
count): in_proj, conv (weights and bias), the per-head ``A``, ``D`` and ``dt`` bias, the gated norm and out_proj of a
mixer; an attention layer's q, k, v and o projections; every layer's MLP (gate, up, down); the embedding and, untied,
the LM head. The layers' RMSNorm weights are left out (a lower bound: within 0.3% on the presets).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

#: Bytes an element of each dtype name a run records.
DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "float64": 8, "fp64": 8}


class DerivedSizes:
    """The sizes a Bamba configuration derives from its fields, for any class with them (:class:`ModelShapes` and
    :class:`bambaprof.model.config.BambaConfig`)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    attn_layer_indices: Tuple[int, ...]
    mamba_n_heads: int
    mamba_d_head: int
    mamba_n_groups: int
    mamba_d_state: int

    @property
    def mamba_intermediate(self) -> int:
        """Width of the SSM branch: ``heads * head_dim`` (= ``expand * hidden``)."""
        return self.mamba_n_heads * self.mamba_d_head

    @property
    def conv_dim(self) -> int:
        """Channels of the depthwise conv: x, B and C together."""
        return self.mamba_intermediate + 2 * self.mamba_n_groups * self.mamba_d_state

    @property
    def head_dim(self) -> int:
        """Attention head dimension."""
        return self.hidden_size // self.num_attention_heads

    def layer_types(self) -> List[str]:
        """``"attention"`` or ``"mamba"`` for each layer."""
        attention = set(self.attn_layer_indices)
        return ["attention" if i in attention else "mamba" for i in range(self.num_hidden_layers)]


@dataclass(frozen=True)
class ModelShapes(DerivedSizes):
    """The recorded shapes that set a Bamba model's parameters and caches (names as the configuration's)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    attn_layer_indices: Tuple[int, ...]
    tie_word_embeddings: bool
    mamba_n_heads: int
    mamba_d_head: int
    mamba_n_groups: int
    mamba_d_state: int
    mamba_d_conv: int
    dtype: str

    @classmethod
    def from_record(cls, record: Any) -> Optional["ModelShapes"]:
        """The shapes of a manifest's ``model`` dict; None where a field is missing or not of its kind (a positive
        int, a bool, a known dtype name)."""
        if not isinstance(record, dict):
            return None
        values: Dict[str, Any] = {}
        for f in fields(cls):
            value = record.get(f.name)
            if f.name == "attn_layer_indices":
                if not isinstance(value, (list, tuple)) or not all(_count(v, 0) for v in value):
                    return None
                value = tuple(value)
            elif f.name == "tie_word_embeddings":
                if not isinstance(value, bool):
                    return None
            elif f.name == "dtype":
                if value not in DTYPE_BYTES:
                    return None
            elif not _count(value, 1):
                return None
            values[f.name] = value
        return cls(**values)

    @property
    def element_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]


def mixer_params(c: Any) -> int:
    """One Mamba2 mixer's parameters (see the module's description)."""
    d_in, conv = c.mamba_intermediate, c.conv_dim
    in_proj = c.hidden_size * (2 * d_in + 2 * c.mamba_n_groups * c.mamba_d_state + c.mamba_n_heads)
    return in_proj + conv * (c.mamba_d_conv + 1) + 3 * c.mamba_n_heads + d_in + d_in * c.hidden_size


def weight_params(c: Any, mixer_only: bool) -> int:
    """Parameters of one mixer, or of the whole model (see the module's description)."""
    if mixer_only:
        return mixer_params(c)
    types = c.layer_types()
    attention = sum(1 for t in types if t == "attention")
    mixers = len(types) - attention
    attn = c.hidden_size * c.head_dim * (2 * c.num_attention_heads + 2 * c.num_key_value_heads)
    mlp = 3 * c.hidden_size * c.intermediate_size
    embed = c.vocab_size * c.hidden_size * (1 if c.tie_word_embeddings else 2)
    return mixers * mixer_params(c) + attention * attn + len(types) * mlp + embed


def _count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and least <= value < 1 << 40
