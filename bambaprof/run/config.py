"""One profiling configuration (:class:`RunConfig`), the readable id of its run directory, and the
vocabularies its fields take (workloads, compile modes, model hosts): the one home of those names."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import msgspec

from ..errors import UsageError

#: The workloads ``profile`` runs: one Mamba2 mixer forward, a model forward over the prompt, greedy generation.
WORKLOADS = ("mixer", "prefill", "generate")
#: ``torch.compile`` modes, ``none`` for eager.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: Model stacks that can host a variant: bambaprof's own model, transformers' BambaForCausalLM, FMS's Bamba.
HOSTS = ("bambaprof", "hf", "fms")

#: Fields that say how a configuration is measured, not what is measured.
MEASUREMENT_FIELDS = ("warmup", "iters", "profile_wait", "profile_warmup", "profile_active", "with_stack",
                      "sample_interval_ms", "gpm_interval_ms", "telemetry_window_ms", "telemetry")


#: The fields in ms that time the NVML sampler, and whether 0 is in range (a window may be 0, an interval not).
INTERVALS = {"sample_interval_ms": False, "gpm_interval_ms": False, "telemetry_window_ms": True}


#: Counts of a run and the least each may be (the first warm-up call is the timed first call, so there is always
#: one; the seed is a generator's, never negative).
COUNT_MINIMUMS = {"warmup": 1, "iters": 1, "profile_wait": 0, "profile_warmup": 0, "profile_active": 1, "seed": 0}


def count_problem(name: str, value: Any, label: Optional[str] = None) -> Optional[str]:
    """Why ``value`` cannot be the count field ``name`` (see :data:`COUNT_MINIMUMS`; named ``label`` in the
    message, the field's name by default), or None."""
    low = COUNT_MINIMUMS[name]
    if value >= low:  # NaN is not at least anything
        return None
    return f"{label or name} must be at least {low}, not {value!r}"


def interval_problem(name: str, value: Any, label: Optional[str] = None) -> Optional[str]:
    """Why ``value`` cannot be the interval field ``name`` (see :data:`INTERVALS`; named ``label`` in the
    message, the field's name by default), or None: it must be finite (TOML and Python spell nan and inf), above
    0, or at least 0 for the window."""
    zero_ok = INTERVALS[name]
    if math.isfinite(value) and (value >= 0 if zero_ok else value > 0):
        return None
    return f"{label or name} must be {'finite and not negative' if zero_ok else 'positive and finite'}, not {value!r}"


class RunConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that defines one ``profile`` run. Times and the NVML sampler's intervals in ms."""

    preset: str = "tiny"
    layers: Optional[int] = None
    attention: Optional[bool] = None
    chunk_size: Optional[int] = None
    dtype: Optional[str] = None
    variant: str = "default"
    compile: str = "none"
    compile_options: Dict[str, Any] = {}
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
    host: str = "bambaprof"  # the model stack: one of HOSTS

    @classmethod
    def field_names(cls) -> Tuple[str, ...]:
        return cls.__struct_fields__

    @classmethod
    def default_of(cls, name: str) -> Any:
        """The default value of field ``name``."""
        return next(f.default for f in msgspec.structs.fields(cls) if f.name == name)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "RunConfig":
        """The inverse of :meth:`to_dict`; an unknown field is a usage error."""
        unknown = sorted(set(d) - set(cls.__struct_fields__))
        if unknown:
            raise UsageError(f"unknown configuration field(s): {', '.join(unknown)}")
        try:
            return msgspec.convert(d, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise UsageError(f"invalid configuration: {exc}") from None

    def to_dict(self) -> Dict[str, Any]:
        d = msgspec.structs.asdict(self)
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
        variant = safe_run_name(self.variant)
        model = self.preset
        if self.checkpoint:
            model = "ckpt_" + safe_run_name(Path(self.checkpoint).name or "checkpoint")
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


#: The most characters of a name that go into a run directory's name (its id adds a hash, so names cut there stay
#: apart; a file name may have 255 bytes).
RUN_NAME_CHARS = 80


def safe_run_name(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_``, ``.`` and ``-`` as ``_``, no dot
    first (``..`` or a hidden directory), at most :data:`RUN_NAME_CHARS` characters."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if name.startswith("."):
        name = "_" + name.lstrip(".")
    return name[:RUN_NAME_CHARS]
