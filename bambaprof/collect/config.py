"""One profiling configuration, and the readable id of its run directory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple


#: Fields that say how a configuration is measured, not what is measured.
MEASUREMENT_FIELDS = ("warmup", "iters", "profile_wait", "profile_warmup", "profile_active", "with_stack",
                      "sample_interval_ms", "gpm_interval_ms", "telemetry_window_ms", "telemetry")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run. Times in ms; intervals of the NVML sampler in ms."""

    preset: str = "tiny"
    layers: Optional[int] = None
    attention: Optional[bool] = None
    chunk_size: Optional[int] = None
    dtype: Optional[str] = None
    variant: str = "default"
    compile: str = "none"
    compile_options: Tuple[Tuple[str, Any], ...] = ()
    dynamic: bool = False
    workload: str = "mixer"
    batch: int = 1
    seq_len: int = 64
    new_tokens: int = 16
    use_cache: bool = True
    prompt_name: Optional[str] = None
    prompt_ids: Optional[Tuple[int, ...]] = None
    device: str = "cpu"
    seed: int = 0
    warmup: int = 2
    iters: int = 10
    profile_wait: int = 0
    profile_warmup: int = 1
    profile_active: int = 2
    with_stack: bool = False
    sample_interval_ms: float = 20.0
    gpm_interval_ms: float = 100.0
    telemetry_window_ms: float = 1000.0  # energy and GPM: keep stepping (untimed) until the window is this long
    telemetry: bool = True
    checkpoint: Optional[str] = None  # a local HF-format Bamba checkpoint directory (instead of seeded weights)
    host: str = "bambaprof"  # the model stack: bambaprof's own model, or "hf" (transformers hosting the variant)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["compile_options"] = dict(self.compile_options)
        d["prompt_ids"] = list(self.prompt_ids) if self.prompt_ids is not None else None
        return d

    @property
    def length(self) -> int:
        """Tokens in the prompt (the sequence length of the forward workloads)."""
        return len(self.prompt_ids) if self.prompt_ids is not None else self.seq_len

    def short_hash(self) -> str:
        """8 hex digits of SHA-1 over the configuration (canonical JSON)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def run_id(self) -> str:
        """``<preset>-<variant>-<compile>-<workload>-b<batch>-L<len>-<hash>``, file-name safe
        (``ckpt_<directory name>`` in place of the preset for a checkpoint)."""
        variant = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.variant)
        model = self.preset
        if self.checkpoint:
            model = "ckpt_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.checkpoint).name or "checkpoint")
        if self.host != "bambaprof":
            model += f"_{self.host}"
        return f"{model}-{variant}-{self.compile}-{self.workload}-b{self.batch}-L{self.length}-{self.short_hash()}"

    def comparison_key(self) -> tuple:
        """What a run is compared on against the baseline variant: the workload and model, not the variant
        nor how many iterations measured it (a variant on the Triton interpreter runs fewer by default)."""
        d = self.to_dict()
        for key in ("variant",) + MEASUREMENT_FIELDS:
            d.pop(key)
        return tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in d.items()))
