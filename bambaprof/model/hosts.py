"""Host models: another stack's Bamba with its SSD core replaced by a bambaprof variant.

``host_transformers(model, variant)`` takes a transformers ``BambaForCausalLM``
and replaces each Mamba2 mixer module with a :class:`HostedMixer` that shares
the original mixer's submodules and parameters (nothing is copied) and runs
bambaprof's mixer computation with the chosen SSD core. The replacement goes
through ``nn.Module.set_submodule``, the public way to swap a module, not by
patching attributes of the library. The rest of the model (embeddings,
attention, MLPs, norms, head) is transformers' own code.

The hosted mixer runs without transformers' cache (``use_cache=False``, the
study's performance setting); a call with a cache gets a one-line error.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import torch
from torch import nn

from ..errors import BambaprofError
from ..ssm import Variant, get_variant
from .config import BambaConfig
from .mixer import Mamba2Mixer

SHARED_MODULES = ("in_proj", "conv1d", "norm", "out_proj")
SHARED_PARAMETERS = ("dt_bias", "A_log", "D")


class HostedMixer(nn.Module):
    """A transformers Bamba mixer's weights, computed by bambaprof's mixer with ``variant``'s core."""

    def __init__(self, original: nn.Module, config: BambaConfig, variant: Variant) -> None:
        super().__init__()
        with torch.device("meta"):  # its own weights are never used: they are replaced by the original's
            core = Mamba2Mixer(config, variant)
        for name in SHARED_MODULES:
            setattr(core, name, getattr(original, name))
        for name in SHARED_PARAMETERS:
            setattr(core, name, getattr(original, name))
        self.core = core

    def forward(self, hidden_states: torch.Tensor, cache: Optional[Any] = None,
                attention_mask: Optional[torch.Tensor] = None, **kwargs: Any) -> torch.Tensor:
        if cache is not None:
            raise BambaprofError("the transformers host runs without its cache: use use_cache=False "
                                 "(bambaprof's own model covers cached generation)")
        return self.core(hidden_states)


def hf_to_bamba_config(hf_config: Any) -> BambaConfig:
    """bambaprof's configuration for a transformers ``BambaConfig``."""
    from .checkpoint import config_from_hf

    return config_from_hf(hf_config.to_dict(), "float32")


def host_transformers(model: nn.Module, variant: Union[str, Variant]) -> nn.Module:
    """Put ``variant`` into every Mamba2 layer of a transformers ``BambaForCausalLM`` (in place)."""
    v = get_variant(variant) if isinstance(variant, str) else variant
    config = hf_to_bamba_config(model.config)
    layers = model.model.layers
    swapped = 0
    for i, layer in enumerate(layers):
        mixer = getattr(layer, "mamba", None)
        if mixer is None:
            continue
        # re-hosting another variant: take the shared modules from the hosted mixer
        original = _Original(mixer.core) if isinstance(mixer, HostedMixer) else mixer
        model.set_submodule(f"model.layers.{i}.mamba", HostedMixer(original, config, v))
        swapped += 1
    if swapped == 0:
        raise BambaprofError("the model has no Mamba2 layer to host a variant in")
    return model


class _Original:
    """The shared modules of a hosted mixer, to host another variant with the same weights."""

    def __init__(self, core: Mamba2Mixer) -> None:
        for name in SHARED_MODULES + SHARED_PARAMETERS:
            setattr(self, name, getattr(core, name))


def bamba_to_hf_config(config: BambaConfig) -> Any:
    """A transformers ``BambaConfig`` with bambaprof's shapes (for the host built from a preset)."""
    import transformers

    return transformers.BambaConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads, attn_layer_indices=list(config.attn_layer_indices) or None,
        rms_norm_eps=config.rms_norm_eps, tie_word_embeddings=config.tie_word_embeddings,
        mamba_n_heads=config.mamba_n_heads, mamba_d_head=config.mamba_d_head, mamba_n_groups=config.mamba_n_groups,
        mamba_d_state=config.mamba_d_state, mamba_d_conv=config.mamba_d_conv, mamba_expand=config.mamba_expand,
        mamba_chunk_size=config.mamba_chunk_size, mamba_conv_bias=config.mamba_conv_bias,
        mamba_proj_bias=config.mamba_proj_bias, time_step_min=config.time_step_min,
        time_step_max=config.time_step_max, time_step_limit=tuple(config.time_step_limit),
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta,
                         "partial_rotary_factor": config.partial_rotary_factor},
    )


def build_transformers_host(config: BambaConfig, variant: Union[str, Variant], seed: int = 0,
                            device: Union[str, torch.device] = "cpu", checkpoint: Optional[str] = None) -> nn.Module:
    """transformers' ``BambaForCausalLM`` hosting ``variant``: from a checkpoint directory, or with the
    same seeded weights as bambaprof's own model for ``config``."""
    try:
        import transformers
    except ImportError:
        raise BambaprofError("--host hf needs transformers (pip install -e '.[hf]')") from None
    if checkpoint is not None:
        model = transformers.BambaForCausalLM.from_pretrained(checkpoint, dtype=config.torch_dtype,
                                                              local_files_only=True)
    else:
        from .decoder import build_model

        ours = build_model(config, "default", seed, device)
        with torch.device(device):
            model = transformers.BambaForCausalLM(bamba_to_hf_config(config))
        model.load_state_dict(ours.state_dict())
        del ours
    model = model.to(device=device, dtype=config.torch_dtype).eval()
    return host_transformers(model, variant)
