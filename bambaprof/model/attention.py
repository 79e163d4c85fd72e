"""Grouped-query attention with partial rotary embeddings (Bamba's attention layers)."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import BambaprofError
from .cache import AttentionLayerCache
from .config import BambaConfig


def rotary_cos_sin(
    positions: torch.Tensor, rot_dim: int, theta: float, dtype: torch.dtype
) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables ``(L, rot_dim)`` for integer ``positions (L,)``."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, rot_dim, 2, device=positions.device, dtype=torch.float32) / rot_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_partial_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of ``x (b, heads, L, d)`` (rotate-half convention)."""
    rot = cos.shape[-1]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = torch.cat([-x_rot[..., half:], x_rot[..., :half]], dim=-1)
    return torch.cat([x_rot * cos + rotated * sin, x_pass], dim=-1)


class Attention(nn.Module):
    """Causal GQA through ``scaled_dot_product_attention``, with a KV cache for generation."""

    def __init__(self, config: BambaConfig) -> None:
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.rot_dim = int(self.head_dim * config.partial_rotary_factor)
        self.theta = config.rope_theta
        d = config.hidden_size
        self.q_proj = nn.Linear(d, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, d, bias=False)

    def forward(
        self, hidden: torch.Tensor, cache: Optional[AttentionLayerCache] = None, offset: int = 0
    ) -> torch.Tensor:
        b, L, _ = hidden.shape
        q = self.q_proj(hidden).view(b, L, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden).view(b, L, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden).view(b, L, self.n_kv, self.head_dim).transpose(1, 2)
        if self.rot_dim:
            positions = torch.arange(offset, offset + L, device=hidden.device)
            cos, sin = rotary_cos_sin(positions, self.rot_dim, self.theta, q.dtype)
            q, k = apply_partial_rotary(q, cos, sin), apply_partial_rotary(k, cos, sin)
        past = cache is not None and cache.key is not None
        if past and L > 1:
            raise BambaprofError("attention: a multi-token step after a cached prefix is not supported")
        if cache is not None:
            if past:
                k = torch.cat([cache.key, k], dim=2)
                v = torch.cat([cache.value, v], dim=2)
            cache.key, cache.value = k, v
        if self.n_kv != self.n_heads:
            rep = self.n_heads // self.n_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=L > 1)
        return self.o_proj(out.transpose(1, 2).reshape(b, L, self.n_heads * self.head_dim))
