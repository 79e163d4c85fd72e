"""Loading local Hugging Face-format Bamba checkpoints into bambaprof's model.

A checkpoint directory holds ``config.json`` (``model_type: bamba``) and the
weights as ``model.safetensors``, or shards listed in
``model.safetensors.index.json``, or (older) ``pytorch_model.bin`` /
``pytorch_model.bin.index.json``. bambaprof's parameter names are Hugging
Face's, so weights load one to one; every name and shape is checked. Nothing
is downloaded: a missing or mismatched file gets a one-line error naming it.
A tokenizer in the directory is used when ``transformers`` is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from ..errors import BambaprofError, UsageError, first_line
from .config import BambaConfig, dtype_name, parse_dtype

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"


class CheckpointError(BambaprofError):
    """A checkpoint directory that cannot be loaded (the message names the file)."""


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def _hf_float(value: Any) -> float:
    """A float from config.json, where transformers writes infinity as ``{"__float__": "Infinity"}``."""
    if isinstance(value, dict) and "__float__" in value:
        value = value["__float__"]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"config.json: {value!r} is not a number") from None


def config_from_hf(hf: Dict[str, Any], dtype: Optional[str] = None) -> BambaConfig:
    """A :class:`BambaConfig` from a Hugging Face ``BambaConfig`` dict (``config.json``)."""
    if hf.get("model_type") not in (None, "bamba"):
        raise CheckpointError(f"config.json describes a {hf.get('model_type')!r} model, not bamba")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    hidden, heads = hf.get("hidden_size", 4096), hf.get("num_attention_heads", 32)
    head_dim = hf.get("head_dim")
    if head_dim not in (None, hidden // heads):
        raise CheckpointError(f"config.json: head_dim {head_dim} != hidden_size / num_attention_heads is not supported")
    expand = hf.get("mamba_expand", 2)
    n_heads = hf.get("mamba_n_heads", 128)
    d_head = hf.get("mamba_d_head", "auto")
    if d_head in (None, "auto"):
        d_head = expand * hidden // n_heads
    limit = hf.get("time_step_limit") or (0.0, float("inf"))
    raw_dtype = dtype or hf.get("dtype") or hf.get("torch_dtype") or "float32"
    fields = dict(
        vocab_size=hf.get("vocab_size", 128256), hidden_size=hidden,
        intermediate_size=hf.get("intermediate_size", 14336), num_hidden_layers=hf.get("num_hidden_layers", 32),
        num_attention_heads=heads, num_key_value_heads=hf.get("num_key_value_heads") or heads,
        attn_layer_indices=tuple(hf.get("attn_layer_indices") or ()), rms_norm_eps=hf.get("rms_norm_eps", 1e-5),
        rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        partial_rotary_factor=float(rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 0.5))),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        mamba_n_heads=n_heads, mamba_d_head=d_head, mamba_n_groups=hf.get("mamba_n_groups", 1),
        mamba_d_state=hf.get("mamba_d_state", 256), mamba_d_conv=hf.get("mamba_d_conv", 4), mamba_expand=expand,
        mamba_chunk_size=hf.get("mamba_chunk_size", 256), mamba_conv_bias=bool(hf.get("mamba_conv_bias", True)),
        mamba_proj_bias=bool(hf.get("mamba_proj_bias", False)),
        time_step_min=hf.get("time_step_min", 0.001), time_step_max=hf.get("time_step_max", 0.1),
        time_step_limit=(_hf_float(limit[0]), _hf_float(limit[1])), dtype=dtype_name(parse_dtype(str(raw_dtype))),
    )
    try:
        return BambaConfig(**fields)
    except UsageError as exc:
        raise CheckpointError(f"config.json: {exc}") from None


def _weight_files(directory: Path) -> Tuple[str, list]:
    """(format, files) of the checkpoint's weights."""
    for index_name, fmt in ((SAFETENSORS_INDEX, "safetensors"), (BIN_INDEX, "bin")):
        index = directory / index_name
        if index.is_file():
            weight_map = _read_json(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CheckpointError(f"{index}: no weight_map")
            files = sorted(set(weight_map.values()))
            for f in files:
                if not (directory / f).is_file():
                    raise CheckpointError(f"{directory / f}: missing (listed in {index_name})")
            return fmt, [directory / f for f in files]
    for name, fmt in ((SAFETENSORS, "safetensors"), (BIN, "bin")):
        if (directory / name).is_file():
            return fmt, [directory / name]
    raise CheckpointError(f"{directory}: no weights ({SAFETENSORS}, {SAFETENSORS_INDEX}, {BIN} or {BIN_INDEX})")


def load_state_dict(directory: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Dict[str, torch.Tensor]:
    """Every tensor of the checkpoint, by name, on ``device``."""
    directory = Path(directory)
    fmt, files = _weight_files(directory)
    state: Dict[str, torch.Tensor] = {}
    for f in files:
        try:
            if fmt == "safetensors":
                from safetensors.torch import load_file

                part = load_file(str(f), device=str(device))
            else:
                part = torch.load(str(f), map_location=device, weights_only=True)
        except ImportError:
            raise CheckpointError("loading .safetensors needs the safetensors package (pip install safetensors)") from None
        except Exception as exc:  # noqa: BLE001 - corrupt files raise many types
            raise CheckpointError(f"{f}: unreadable ({first_line(exc)})") from None
        state.update(part)
    return state


def load_checkpoint(
    directory: Union[str, Path],
    variant: Any = "default",
    device: Union[str, torch.device] = "cpu",
    dtype: Optional[str] = None,
):
    """(model, config, tokenizer or ``None``) from a local HF-format Bamba checkpoint."""
    from .decoder import BambaForCausalLM

    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    config = config_from_hf(_read_json(directory / "config.json"), dtype)
    state = load_state_dict(directory, device)
    with torch.device(device):
        model = BambaForCausalLM(config, variant)
    expected = model.state_dict()
    if config.tie_word_embeddings:
        state.setdefault("lm_head.weight", state.get("model.embed_tokens.weight"))
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise CheckpointError(f"{directory}: {len(missing)} tensor(s) missing from the weights, e.g. {missing[0]}")
    if unexpected:
        raise CheckpointError(f"{directory}: {len(unexpected)} tensor(s) not in a Bamba model, e.g. {unexpected[0]}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{directory}: {name} has shape {tuple(state[name].shape)}, "
                                  f"config.json implies {tuple(tensor.shape)}")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=True)
    model = model.to(config.torch_dtype).eval()
    return model, config, load_tokenizer(directory)


def load_tokenizer(directory: Union[str, Path]) -> Optional[Any]:
    """The directory's tokenizer through ``transformers`` when both exist, else ``None``."""
    directory = Path(directory)
    if not any((directory / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        return None
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{directory}: tokenizer files present but unreadable ({str(exc).splitlines()[0]})") from None
