"""``bambaprof presets``: the model presets, with overrides applied, and their sizes."""

from __future__ import annotations

import click

from ..model.config import PRESETS
from ..render import columns
from ..render.tables import render_rows
from ._common import config_from_options, emit, format_option, model_options, output_option


def parameter_count(cfg) -> int:
    """Parameters of a Bamba decoder with this configuration (no tensors allocated)."""
    d, inter, v = cfg.hidden_size, cfg.mamba_intermediate, cfg.vocab_size
    mamba = (d * (inter + cfg.conv_dim + cfg.mamba_n_heads)
             + cfg.conv_dim * cfg.mamba_d_conv + (cfg.conv_dim if cfg.mamba_conv_bias else 0)
             + 3 * cfg.mamba_n_heads + inter + inter * d)
    if cfg.mamba_proj_bias:
        mamba += inter + cfg.conv_dim + cfg.mamba_n_heads + d
    hd = cfg.head_dim
    attention = d * cfg.num_attention_heads * hd * 2 + d * cfg.num_key_value_heads * hd * 2
    mlp = 3 * d * cfg.intermediate_size
    layers = sum((attention if t == "attention" else mamba) + mlp + 2 * d for t in cfg.layer_types())
    head = 0 if cfg.tie_word_embeddings else v * d
    return v * d + layers + d + head




@click.command("presets")
@model_options
@click.option("--all", "show_all", is_flag=True, help="List every preset (overrides apply to each).")
@format_option(("table", "json", "csv"))
@output_option()
def presets_command(preset_name, layers, no_attention, chunk_size, dtype, show_all, fmt, output) -> None:
    """Show a model preset (tiny, bamba-9b) with overrides applied: shapes, parameters, weight bytes."""
    names = list(PRESETS) if show_all else [preset_name]
    rows = []
    for name in names:
        cfg = config_from_options(name, layers, no_attention, chunk_size, dtype)
        n = parameter_count(cfg)
        rows.append({
            "preset": name, "layers": cfg.num_hidden_layers,
            "attention_layers": ",".join(str(i) for i in cfg.attn_layer_indices) or "none",
            "hidden": cfg.hidden_size, "ssm_heads": f"{cfg.mamba_n_heads}x{cfg.mamba_d_head}",
            "state": cfg.mamba_d_state, "groups": cfg.mamba_n_groups, "chunk": cfg.mamba_chunk_size,
            "dtype": cfg.dtype, "parameters": n, "weights_bytes": n * cfg.torch_dtype.itemsize,
            "config": cfg.to_dict(),
        })
    emit(render_rows(rows, fmt, columns.PRESETS), output)
