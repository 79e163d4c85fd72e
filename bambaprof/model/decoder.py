"""The Bamba decoder: embeddings, Mamba2 or attention blocks, gated MLPs, LM head.

Parameter names follow Hugging Face's ``BambaForCausalLM``
(``model.layers.N.mamba.in_proj.weight``, ``...self_attn.q_proj.weight``,
``...feed_forward.gate_proj.weight``) so checkpoints map directly.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import torch
from torch import nn

from ..ranges import phase
from ..ssm import Variant, get_variant
from .attention import Attention
from .cache import ModelCache
from .config import BambaConfig
from .mixer import Mamba2Mixer
from .mlp import GatedMLP
from .norm import RMSNorm, fused_sample, fuses_into, launches_eagerly


class DecoderLayer(nn.Module):
    """Pre-norm residual block: mixer (Mamba2 or attention), then the gated MLP."""

    #: where the norms are fused (eager ``triton``), a decode token's residual add and norm go into the launch
    #: of the linear after them (``in_proj``, the MLP's gate and up projection;
    #: :func:`~bambaprof.ssm.kernels.gemv.rmsnorm_linear`); False keeps them apart (settable, to compare)
    fuse_norm_gemvs: bool = True

    def __init__(self, config: BambaConfig, layer_type: str, variant: Variant) -> None:
        super().__init__()
        self.layer_type = layer_type
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        if layer_type == "attention":
            self.self_attn = Attention(config)
        else:
            self.mamba = Mamba2Mixer(config, variant)
        self.pre_ff_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.feed_forward = GatedMLP(config.hidden_size, config.intermediate_size)

    def forward(self, hidden: torch.Tensor, cache=None, offset: int = 0) -> torch.Tensor:
        mixer = self.self_attn if self.layer_type == "attention" else self.mamba
        with phase("norm"):
            normed = self.input_layernorm(hidden)
        with phase("attention" if self.layer_type == "attention" else "mixer"):
            hidden = hidden + mixer(normed, cache, offset)
        with phase("norm"):
            normed = self.pre_ff_layernorm(hidden)
        with phase("mlp"):
            return hidden + self.feed_forward(normed)

    def forward_deferred(self, hidden: torch.Tensor, delta: Optional[torch.Tensor], cache=None,
                         offset: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
        """The layer with its residual adds taken by the norms after them (:meth:`RMSNorm.add_forward`, one
        launch each where the norms are fused): the input is ``hidden + delta`` (``delta`` None: ``hidden``)
        and the output ``residual + delta_out``, returned as the pair ``(residual, delta_out)`` for the next
        norm to add."""
        mixer = self.self_attn if self.layer_type == "attention" else self.mamba
        norm = self.input_layernorm
        if self.layer_type == "mamba" and self.fuse_norm_gemvs and fuses_into(norm, hidden, self.mamba.in_proj, delta):
            with phase("mixer"):  # the add and the norm in in_proj's launch
                with phase("in_proj"):
                    proj, hidden = norm.add_linear(hidden, delta, self.mamba.in_proj)
                delta = self.mamba(hidden, cache, offset, projected=proj)
        else:
            with phase("norm"):
                normed, hidden = norm.add_forward(hidden, delta)
            with phase("attention" if self.layer_type == "attention" else "mixer"):
                delta = mixer(normed, cache, offset)
        norm, mlp = self.pre_ff_layernorm, self.feed_forward
        if self.fuse_norm_gemvs and fuses_into(norm, hidden, mlp.gate_up_proj, delta):
            with phase("mlp"):  # the add and the norm in the stacked gate and up projection's launch
                gate_up, hidden = norm.add_linear(hidden, delta, mlp.gate_up_proj)
                return hidden, mlp.down_from(gate_up)
        with phase("norm"):
            normed, hidden = norm.add_forward(hidden, delta)
        with phase("mlp"):
            return hidden, mlp(normed)


class BambaBackbone(nn.Module):
    """Embeddings, decoder layers and the final norm (HF's ``model.`` prefix)."""

    def __init__(self, config: BambaConfig, variant: Variant) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, t, variant) for t in config.layer_types())
        self.final_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class BambaForCausalLM(nn.Module):
    """A Bamba-compatible causal language model whose SSM layers use ``variant``."""

    #: where the norms are fused (eager ``triton``), take each residual add into the norm after it
    #: (:meth:`DecoderLayer.forward_deferred`); False keeps the adds apart (settable, to compare)
    defer_residual_adds: bool = True
    #: greedy sampling in one Triton launch (:meth:`greedy`); set from the variant, settable to compare
    fused_sampling: bool = False

    def __init__(self, config: BambaConfig, variant: Union[str, Variant] = "default") -> None:
        super().__init__()
        self.config = config
        self.variant = get_variant(variant) if isinstance(variant, str) else variant
        self.model = BambaBackbone(config, self.variant)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self._fuse_norms()

    def _fuse_norms(self) -> None:
        """The decoder's RMSNorms take one Triton launch, its MLPs' activation goes into the down projection's
        launch for a few eager rows, and greedy sampling takes one launch (:meth:`greedy`), when the variant
        brings fused mixer kernels."""
        fused = bool(self.variant.extra.get("fused_mixer"))
        for m in self.modules():
            if type(m) is RMSNorm or type(m) is GatedMLP:
                m.fused = fused
        self.fused_sampling = fused

    def greedy(self, logits: torch.Tensor) -> torch.Tensor:
        """The next tokens ``(b, 1)`` int64 for ``logits (b, vocab)``: ``logits.argmax(dim=-1, keepdim=True)``
        (the first index of the largest value; NaN largest). Where the variant brings fused kernels and the
        launch is eager, one Triton launch over many programs
        (:func:`~bambaprof.ssm.kernels.sample.argmax_rows`) instead of torch's one-block reduction."""
        if self.fused_sampling and launches_eagerly(logits):
            sample = fused_sample()
            if sample.applies(logits):
                return sample.argmax_rows(logits)
        return logits.argmax(dim=-1, keepdim=True)

    def new_cache(self) -> ModelCache:
        """An empty generation cache for this model."""
        return ModelCache.for_layers(self.config.layer_types())

    def set_variant(self, variant: Union[str, Variant]) -> None:
        """Swap the SSD core of every Mamba2 layer (weights are untouched)."""
        v = get_variant(variant) if isinstance(variant, str) else variant
        self.variant = v
        fused = bool(v.extra.get("fused_mixer"))
        for layer in self.model.layers:
            if layer.layer_type == "mamba":
                layer.mamba.variant = v
                layer.mamba.fused = layer.mamba.fused_decode = fused  # the variant's own mixer kernels, or none
        self._fuse_norms()

    def forward(
        self, input_ids: torch.Tensor, cache: Optional[ModelCache] = None, last_logits_only: bool = False
    ) -> torch.Tensor:
        """Logits ``(b, L, vocab)`` (or ``(b, 1, vocab)`` with ``last_logits_only``).

        With ``cache``, the call continues from ``cache.seqlen_offset`` and
        advances it: a prefill when the cache is empty, one token after that.
        """
        offset = cache.seqlen_offset if cache is not None else 0
        with phase("embed"):
            hidden = self.model.embed_tokens(input_ids)
        final_norm = self.model.final_layernorm
        if self.defer_residual_adds and final_norm.launches_fused(hidden):  # adds taken by the fused norms
            delta: Optional[torch.Tensor] = None
            for i, layer in enumerate(self.model.layers):
                with phase(f"layer.{i}"):
                    hidden, delta = layer.forward_deferred(hidden, delta, cache.layers[i] if cache is not None
                                                           else None, offset)
            with phase("lm_head"):
                if last_logits_only:  # the norm is per position: only the last one's is needed
                    hidden = hidden[:, -1:]
                    delta = delta[:, -1:] if delta is not None else None
                logits = self.lm_head(final_norm.add_forward(hidden, delta)[0])
        else:
            for i, layer in enumerate(self.model.layers):
                with phase(f"layer.{i}"):
                    hidden = layer(hidden, cache.layers[i] if cache is not None else None, offset)
            with phase("lm_head"):
                hidden = final_norm(hidden)
                if last_logits_only:
                    hidden = hidden[:, -1:]
                logits = self.lm_head(hidden)
        if cache is not None:
            cache.seqlen_offset += input_ids.shape[1]
        return logits


@torch.no_grad()
def init_weights(model: nn.Module, seed: int = 0, config: Optional[BambaConfig] = None) -> nn.Module:
    """Seeded random weights: normal(0, initializer_range) for linear and embedding
    weights, zero biases, unit norms, uniform conv kernels, and the Mamba2
    initialisation for ``dt_bias``, ``A_log`` and ``D``. Same seed, same weights,
    on any device of the same kind. ``config`` defaults to ``model.config``."""
    cfg = config if config is not None else model.config
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    std = cfg.initializer_range
    # stacked weights (the MLP's gate and up, attention's query, key and value) draw as their projections, in order:
    # the same weights as apart
    stacked = {id(m.gate_up_proj if isinstance(m, GatedMLP) else m.qkv_proj): m.stacked_weights()
               for m in model.modules() if isinstance(m, (GatedMLP, Attention))}
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            for part in stacked.get(id(module), (module.weight,)):
                part.normal_(0.0, std, generator=gen)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Conv1d):
            bound = 1.0 / (module.kernel_size[0] ** 0.5)
            module.weight.uniform_(-bound, bound, generator=gen)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, RMSNorm):
            module.weight.fill_(1.0)
        if isinstance(module, Mamba2Mixer):
            module.init_ssm_parameters(cfg, gen)
    return model


def _materialise(make: Callable[[], nn.Module], config: BambaConfig, seed: int,
                 device: Union[str, torch.device]) -> nn.Module:
    """Construct on ``device``, give seeded weights, cast to ``config.dtype``, switch to eval mode."""
    with torch.device(device):
        module = make()
    init_weights(module, seed, config)
    return module.to(config.torch_dtype).eval()


def build_model(
    config: BambaConfig,
    variant: Union[str, Variant] = "default",
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
) -> BambaForCausalLM:
    """Create the model directly on ``device`` with seeded weights in ``config.dtype``, in eval mode."""
    return _materialise(lambda: BambaForCausalLM(config, variant), config, seed, device)


def build_mixer(
    config: BambaConfig,
    variant: Union[str, Variant] = "default",
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
) -> Mamba2Mixer:
    """One Mamba2 mixer with the model's seeded initialisation, in ``config.dtype``, in eval mode."""
    v = get_variant(variant) if isinstance(variant, str) else variant
    return _materialise(lambda: Mamba2Mixer(config, v), config, seed, device)
