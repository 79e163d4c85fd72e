"""Bamba model configuration and presets.

Field names follow Hugging Face's ``BambaConfig`` so that checkpoints map
one to one. Presets:

- ``tiny``: a few-layer model that runs a prefill in milliseconds on one CPU core;
- ``bamba-9b``: the published Bamba-9B shapes (hidden 4096, 32 layers,
  attention at layers 9, 18 and 27, 128 SSM heads of 64, state 128, one group,
  chunk 256, conv 4, expand 2). The study profiled 4 layers with attention
  removed (``--layers 4 --no-attention``) and measured accuracy at full depth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ..errors import UsageError
from ..run.model_shapes import DerivedSizes

DTYPES: Dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float64": torch.float64,
    "fp64": torch.float64,
}


def parse_dtype(name: str) -> torch.dtype:
    """``"bf16"`` / ``"bfloat16"`` / ... -> ``torch.dtype``; raise :class:`UsageError` if unknown."""
    try:
        return DTYPES[name.lower()]
    except (KeyError, AttributeError):
        raise UsageError(f"unknown dtype {name!r} (choose from {', '.join(sorted(DTYPES))})") from None


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).replace("torch.", "")


@dataclass(frozen=True)
class BambaConfig(DerivedSizes):
    """Shapes and hyper-parameters of a Bamba decoder (HF ``BambaConfig`` names)."""

    vocab_size: int = 128256
    hidden_size: int = 4096
    intermediate_size: int = 14336
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    attn_layer_indices: Tuple[int, ...] = (9, 18, 27)
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    partial_rotary_factor: float = 0.5
    tie_word_embeddings: bool = False
    mamba_n_heads: int = 128
    mamba_d_head: int = 64
    mamba_n_groups: int = 1
    mamba_d_state: int = 128
    mamba_d_conv: int = 4
    mamba_expand: int = 2
    mamba_chunk_size: int = 256
    mamba_conv_bias: bool = True
    mamba_proj_bias: bool = False
    time_step_min: float = 0.001
    time_step_max: float = 0.1
    time_step_floor: float = 1e-4
    time_step_limit: Tuple[float, float] = (0.0, float("inf"))
    A_init_range: Tuple[float, float] = (1.0, 16.0)
    initializer_range: float = 0.02
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.validate()

    # Derived sizes (mamba_intermediate, conv_dim, head_dim, layer_types) come from DerivedSizes ----------
    @property
    def torch_dtype(self) -> torch.dtype:
        return parse_dtype(self.dtype)

    def validate(self) -> None:
        """Raise :class:`UsageError` with one line when the shapes are inconsistent."""
        checks = [
            (self.num_hidden_layers > 0, "layers must be positive"),
            (self.hidden_size > 0 and self.vocab_size > 0, "hidden size and vocabulary must be positive"),
            (self.mamba_chunk_size > 0, f"chunk size must be positive, got {self.mamba_chunk_size}"),
            (self.mamba_n_groups > 0 and self.mamba_n_heads % self.mamba_n_groups == 0,
             f"SSM heads ({self.mamba_n_heads}) must be a multiple of groups ({self.mamba_n_groups})"),
            (self.mamba_intermediate == self.mamba_expand * self.hidden_size,
             f"SSM heads x head dim ({self.mamba_intermediate}) must equal expand x hidden "
             f"({self.mamba_expand * self.hidden_size})"),
            (self.num_attention_heads > 0 and self.hidden_size % self.num_attention_heads == 0,
             "hidden size must be a multiple of the attention heads"),
            (self.num_key_value_heads > 0 and self.num_attention_heads % self.num_key_value_heads == 0,
             "attention heads must be a multiple of the key/value heads"),
            (all(0 <= i < self.num_hidden_layers for i in self.attn_layer_indices),
             f"attention layer indices {list(self.attn_layer_indices)} must lie in [0, {self.num_hidden_layers})"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(f"invalid model configuration: {message}")
        parse_dtype(self.dtype)
        rot = int(self.head_dim * self.partial_rotary_factor)
        if rot % 2:
            raise UsageError("invalid model configuration: rotary dimension must be even")

    def replace(self, **changes: object) -> "BambaConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["attn_layer_indices"] = list(self.attn_layer_indices)
        out["time_step_limit"] = list(self.time_step_limit)
        out["A_init_range"] = list(self.A_init_range)
        return out


PRESETS: Dict[str, BambaConfig] = {
    "bamba-9b": BambaConfig(),
    "tiny": BambaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_layer_indices=(1,),
        mamba_n_heads=8,
        mamba_d_head=16,
        mamba_n_groups=2,
        mamba_d_state=16,
        mamba_chunk_size=16,
    ),
}


def preset(
    name: str,
    *,
    layers: Optional[int] = None,
    attention: Optional[bool] = None,
    chunk_size: Optional[int] = None,
    dtype: Optional[str] = None,
    **overrides: object,
) -> BambaConfig:
    """A preset with the CLI's overrides applied.

    ``layers`` truncates (or extends) the stack, keeping the attention
    indices that still fall inside it; ``attention=False`` removes every
    attention layer (the study's profiling set-up).
    """
    try:
        cfg = PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})") from None
    changes: Dict[str, object] = dict(overrides)
    if layers is not None:
        if layers <= 0:
            raise UsageError(f"--layers must be positive, got {layers}")
        changes["num_hidden_layers"] = layers
        changes["attn_layer_indices"] = tuple(i for i in cfg.attn_layer_indices if i < layers)
    if attention is False:
        changes["attn_layer_indices"] = ()
    if chunk_size is not None:
        changes["mamba_chunk_size"] = chunk_size
    if dtype is not None:
        changes["dtype"] = dtype_name(parse_dtype(dtype))
    return cfg.replace(**changes)


def preset_names() -> List[str]:
    return list(PRESETS)

