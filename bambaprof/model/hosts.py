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
#: The keyword names transformers' decoder layers have given the mixer's cache.
CACHE_KWARGS = ("cache_params", "past_key_values", "past_key_value", "cache")


def _shared_core(original: Any, config: BambaConfig, variant: Variant) -> Mamba2Mixer:
    """bambaprof's mixer computation over ``original``'s submodules and parameters (shared, not copied)."""
    with torch.device("meta"):  # its own weights are never used: they are replaced by the original's
        core = Mamba2Mixer(config, variant)
    for name in SHARED_MODULES + SHARED_PARAMETERS:
        setattr(core, name, getattr(original, name))
    return core


class HostedMixer(nn.Module):
    """A transformers Bamba mixer's weights, computed by bambaprof's mixer with ``variant``'s core."""

    def __init__(self, original: nn.Module, config: BambaConfig, variant: Variant) -> None:
        super().__init__()
        self.core = _shared_core(original, config, variant)

    def forward(self, hidden_states: torch.Tensor, cache: Optional[Any] = None,
                attention_mask: Optional[torch.Tensor] = None, **kwargs: Any) -> torch.Tensor:
        # transformers versions pass the layer's cache positionally or by one of these names
        if cache is not None or any(kwargs.get(name) is not None for name in CACHE_KWARGS):
            raise BambaprofError("the transformers host runs without its cache: use use_cache=False "
                                 "(bambaprof's own model covers cached generation)")
        return self.core(hidden_states)


def _host_in(model: nn.Module, layers_path: str, attr: str, hosted_type: type, config: BambaConfig,
             variant: Union[str, Variant], what: str) -> nn.Module:
    """Replace ``<layers_path>.<i>.<attr>`` of every layer that has one by ``hosted_type`` (in place).

    Re-hosting another variant takes the shared modules from the hosted module, so the weights stay
    the original ones.
    """
    v = get_variant(variant) if isinstance(variant, str) else variant
    swapped = 0
    for i, layer in enumerate(model.get_submodule(layers_path)):
        current = getattr(layer, attr, None)
        if current is None:
            continue
        original = current.core if isinstance(current, hosted_type) else current
        model.set_submodule(f"{layers_path}.{i}.{attr}", hosted_type(original, config, v))
        swapped += 1
    if swapped == 0:
        raise BambaprofError(f"the model has no {what} layer to host a variant in")
    return model


def hf_to_bamba_config(hf_config: Any) -> BambaConfig:
    """bambaprof's configuration for a transformers ``BambaConfig``."""
    from .checkpoint import config_from_hf

    return config_from_hf(hf_config.to_dict(), "float32")


def host_transformers(model: nn.Module, variant: Union[str, Variant]) -> nn.Module:
    """Put ``variant`` into every Mamba2 layer of a transformers ``BambaForCausalLM`` (in place)."""
    return _host_in(model, "model.layers", "mamba", HostedMixer, hf_to_bamba_config(model.config), variant, "Mamba2")


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


class HostedFmsSSM(nn.Module):
    """A Foundation Model Stack ``SSM`` module's weights, computed by bambaprof's mixer with ``variant``'s
    core. Returns ``(output, cache)`` as FMS's module does (the cache is ``None``: no cache is used)."""

    def __init__(self, original: nn.Module, config: BambaConfig, variant: Variant) -> None:
        super().__init__()
        self.core = _shared_core(original, config, variant)
        # FMS's module names it time_step_limit; a hosted core (when re-hosting) dt_limit
        limit = getattr(original, "time_step_limit", getattr(original, "dt_limit", (0.0, float("inf"))))
        self.core.dt_limit = tuple(limit)

    def forward(self, input_states: torch.Tensor, mask: Optional[torch.Tensor] = None,
                past_key_value_state: Optional[Any] = None, use_cache: bool = False, **kwargs: Any):
        if past_key_value_state is not None or use_cache:
            raise BambaprofError("the FMS host runs without its cache: use use_cache=False")
        return self.core(input_states), None


def fms_to_bamba_config(fms_config: Any) -> BambaConfig:
    """bambaprof's mixer shapes for an FMS ``BambaConfig`` (attention fields only need to be valid)."""
    hidden = fms_config.emb_dim
    return BambaConfig(
        vocab_size=fms_config.src_vocab_size, hidden_size=hidden, intermediate_size=hidden,
        num_hidden_layers=fms_config.nlayers, num_attention_heads=1, num_key_value_heads=1, attn_layer_indices=(),
        rms_norm_eps=fms_config.norm_eps, mamba_n_heads=fms_config.mamba_n_heads,
        mamba_d_head=int(fms_config.mamba_expand * hidden) // fms_config.mamba_n_heads,
        mamba_n_groups=fms_config.n_groups, mamba_d_state=fms_config.state_size, mamba_d_conv=fms_config.conv_kernel,
        mamba_expand=int(fms_config.mamba_expand), mamba_chunk_size=fms_config.chunk_size,
        mamba_conv_bias=fms_config.use_conv_bias, mamba_proj_bias=fms_config.use_bias, partial_rotary_factor=0.0,
    )


def host_fms(model: nn.Module, variant: Union[str, Variant]) -> nn.Module:
    """Put ``variant`` into every SSM module of an FMS ``Bamba`` model (in place), as the study did
    by hand, through ``set_submodule``: FMS's own code runs everything else."""
    return _host_in(model, "base_model.layers", "ssm", HostedFmsSSM, fms_to_bamba_config(model.config), variant,
                    "SSM")


def build_fms_host(config: BambaConfig, variant: Union[str, Variant], seed: int = 0,
                   device: Union[str, torch.device] = "cpu") -> nn.Module:
    """The Foundation Model Stack's ``Bamba`` (FMS's own seeded initialisation) hosting ``variant``."""
    try:
        from fms.models import bamba as fms_bamba
    except ImportError:
        raise BambaprofError("--host fms needs ibm-fms (pip install -e '.[fms]')") from None
    attn_head_dim = config.hidden_size // config.num_attention_heads
    fms_config = fms_bamba.BambaConfig(
        src_vocab_size=config.vocab_size, emb_dim=config.hidden_size, nlayers=config.num_hidden_layers,
        nheads=config.num_attention_heads, kvheads=config.num_key_value_heads, head_dim=attn_head_dim,
        attn_layer_indices=list(config.attn_layer_indices), norm_eps=config.rms_norm_eps,
        mamba_n_heads=config.mamba_n_heads, state_size=config.mamba_d_state, n_groups=config.mamba_n_groups,
        chunk_size=config.mamba_chunk_size, conv_kernel=config.mamba_d_conv, mamba_expand=float(config.mamba_expand),
        hidden_grow_factor=config.intermediate_size / config.hidden_size, multiple_of=1,
        rope_theta=config.rope_theta, use_conv_bias=config.mamba_conv_bias, use_bias=config.mamba_proj_bias,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = fms_bamba.Bamba(fms_config)
    model.reset_parameters()
    model = model.to(dtype=config.torch_dtype).eval()
    return host_fms(model, variant)
