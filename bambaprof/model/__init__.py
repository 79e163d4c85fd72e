"""A Bamba-compatible hybrid decoder (Mamba2 + attention) with a pluggable SSD core."""

from .cache import ModelCache
from .config import PRESETS, BambaConfig, parse_dtype, preset, preset_names
from .decoder import BambaForCausalLM, build_mixer, build_model, init_weights
from .generate import GenerationOutput, generate
from .mixer import Mamba2Mixer

__all__ = [
    "PRESETS",
    "BambaConfig",
    "BambaForCausalLM",
    "GenerationOutput",
    "Mamba2Mixer",
    "ModelCache",
    "build_mixer",
    "build_model",
    "generate",
    "init_weights",
    "parse_dtype",
    "preset",
    "preset_names",
]
