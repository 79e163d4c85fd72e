"""Grouped-query attention with partial rotary embeddings (Bamba's attention layers)."""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import BambaprofError
from .cache import AttentionLayerCache
from .config import BambaConfig
from .stacked import register_stacked, stacked_views


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


def reads_grouped_heads(q: torch.Tensor) -> bool:
    """Whether ``scaled_dot_product_attention(..., enable_gqa=True)`` runs a fused kernel for a query like ``q``: on
    the CPU (its flash backend takes any dtype and mask), and on an NVIDIA GPU for 16-bit inputs (FlashAttention,
    the one CUDA backend that takes grouped heads; float32 would fall back to the math backend, slower than
    repeating the keys and values, pytorch/pytorch#181528). The model passes no mask (``is_causal`` only)."""
    if q.device.type == "cpu":
        return True
    return q.device.type == "cuda" and torch.version.hip is None and q.dtype in (torch.float16, torch.bfloat16)


#: The checkpoint names of the projections ``qkv_proj`` stacks, in its row order.
STACKED = ("q_proj", "k_proj", "v_proj")


class Attention(nn.Module):
    """Causal GQA through ``scaled_dot_product_attention``, with a KV cache for generation.

    The query, key and value projections' weights are stacked in one ``qkv_proj`` (query rows, then key, then
    value), so they take one product (one launch and one pass over the hidden state; one matrix-vector product a
    decode token), as the Foundation Model Stack's fused QKV does. The state dict still names them apart
    (``q_proj.weight``, ``k_proj.weight``, ``v_proj.weight``, as Hugging Face's checkpoints do), and loading one
    stacks them (:mod:`.stacked`).

    With fewer key and value heads than query heads (grouped-query attention), attention reads each shared head in
    place (``enable_gqa=True``) where a fused kernel takes that (:func:`reads_grouped_heads`), rather than copying
    the keys and values (the whole cache, in a decode step) to every query head first, which ``bambaprof analyze``'s
    ``repeated-kv`` finds; elsewhere it repeats them."""

    #: read grouped key and value heads in place where a fused kernel takes them (False: always repeat, to compare)
    grouped_heads_in_place = True

    def __init__(self, config: BambaConfig) -> None:
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.rot_dim = int(self.head_dim * config.partial_rotary_factor)
        self.theta = config.rope_theta
        d = config.hidden_size
        #: rows of the query, key and value projections in :attr:`qkv_proj`, in that order
        self.qkv_sizes = (self.n_heads * self.head_dim, self.n_kv * self.head_dim, self.n_kv * self.head_dim)
        self.qkv_proj = nn.Linear(d, sum(self.qkv_sizes), bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, d, bias=False)
        register_stacked(self, "qkv_proj", STACKED, self.qkv_sizes)

    def forward(
        self, hidden: torch.Tensor, cache: Optional[AttentionLayerCache] = None, offset: int = 0
    ) -> torch.Tensor:
        b, L, _ = hidden.shape
        q, k, v = self.qkv_proj(hidden).split(self.qkv_sizes, dim=-1)
        q = q.view(b, L, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, L, self.n_kv, self.head_dim).transpose(1, 2)
        v = v.view(b, L, self.n_kv, self.head_dim).transpose(1, 2)
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
        grouped = self.n_kv != self.n_heads
        if grouped and self.grouped_heads_in_place and reads_grouped_heads(q):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=L > 1, enable_gqa=True)
        else:
            if grouped:
                rep = self.n_heads // self.n_kv
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=L > 1)
        return self.o_proj(out.transpose(1, 2).reshape(b, L, self.n_heads * self.head_dim))

    def stacked_weights(self) -> List[torch.Tensor]:
        """Views of the query, key and value projections' weights, each ``(rows, hidden)``."""
        return stacked_views(self.qkv_proj.weight, self.qkv_sizes)
