"""The configurations of a matrix: variants x compile modes x workloads x batches x lengths x new tokens.

Shared by ``bambaprof profile`` (flags) and ``bambaprof sweep`` (a TOML spec).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import UsageError
from ..run import WORKLOADS, RunConfig

DEFAULT_SEQ_LEN = {"tiny": 64, "bamba-9b": 512}

#: Iteration counts for a variant that runs on the Triton interpreter (CPU) when the user sets none:
#: there a step takes seconds, and its timings measure the interpreter, so a few iterations show that
#: it works, and the profiler records its one step without a warm-up step (RunConfig's defaults,
#: 2 / 10 / 1 / 2, apply everywhere else).
INTERPRETER_ITERATIONS = {"warmup": 1, "iters": 3, "profile_warmup": 0, "profile_active": 1}


def build_configs(
    device: str,
    preset: str = "tiny",
    variants: Sequence[str] = (),
    compiles: Sequence[str] = (),
    workloads: Sequence[str] = (),
    batches: Sequence[int] = (),
    seq_lens: Sequence[int] = (),
    new_tokens: Sequence[int] = (),
    prompts_file: Optional[str] = None,
    compile_options: Optional[Dict[str, Any]] = None,
    checkpoint: Optional[str] = None,
    **common: Any,
) -> List[RunConfig]:
    """Every configuration of the matrix; ``common`` holds the other :class:`RunConfig` fields.

    Default variants: every variant that runs on ``device`` except ``reference``. New-token
    counts vary the generate workload only; a mixer ignores prompt token ids. ``warmup``, ``iters``,
    ``profile_warmup`` and ``profile_active`` given as ``None`` (or not at all) take RunConfig's defaults, or
    :data:`INTERPRETER_ITERATIONS` for a variant that runs on the Triton interpreter. ``use_cache``
    unset generates with the cache on bambaprof's own model and without it on a host (``hf``, ``fms``),
    which has none; asking a host to generate with it is a usage error.
    """
    from ..ssm import get_variant, list_variants
    from ..ssm.capabilities import runnable
    from .workloads import load_prompts

    for name, values in (("batch", batches), ("seq-len", seq_lens), ("new-tokens", new_tokens)):
        if any(not isinstance(v, int) or v <= 0 for v in values):
            raise UsageError(f"{name} values must be positive integers")
    if any(w not in WORKLOADS for w in workloads):
        raise UsageError(f"workloads must be among {', '.join(WORKLOADS)}")
    if variants:
        for v in variants:
            get_variant(v)  # unknown names are usage errors before anything runs
        chosen = list(variants)
    else:
        chosen = [v.name for v in list_variants() if v.name != "reference" and runnable(v, device).ok]
    if prompts_file and seq_lens:
        raise UsageError("give either sequence lengths or a prompts file, not both")
    prompts = load_prompts(prompts_file) if prompts_file else None
    shapes = ([(p["length"], p["name"], tuple(p["token_ids"]) if p["token_ids"] else None) for p in prompts]
              if prompts else [(L, None, None) for L in (seq_lens or (DEFAULT_SEQ_LEN.get(preset, 512),))])
    if compile_options:
        from .compile import check_inductor_options

        check_inductor_options(compile_options)
    options = dict(sorted((compile_options or {}).items()))
    tokens = tuple(new_tokens) or (16,)
    host = common.get("host") or "bambaprof"
    if common.get("use_cache") is None:
        common["use_cache"] = host == "bambaprof"
    elif common["use_cache"] and host != "bambaprof" and "generate" in (workloads or WORKLOADS):
        raise UsageError(f"--host {host} generates without the cache: leave out --use-cache (or the generate "
                         "workload)")
    unset = [k for k in INTERPRETER_ITERATIONS if common.get(k) is None]
    common = {k: v for k, v in common.items() if k not in unset}
    configs: List[RunConfig] = []
    for wl, var, comp, b, (L, pname, pids), nt in itertools.product(
            workloads or WORKLOADS, chosen, compiles or ("none",), batches or (1,), shapes, tokens):
        if wl != "generate" and nt != tokens[0]:
            continue
        if wl == "mixer":
            pids = None
        configs.append(RunConfig(
            preset=preset, variant=var, compile=comp, compile_options=options if comp != "none" else {},
            workload=wl, batch=b, seq_len=L, new_tokens=nt, prompt_name=pname, prompt_ids=pids, device=device,
            checkpoint=str(Path(checkpoint).resolve()) if checkpoint else None,
            **common, **_iteration_defaults(var, device, unset)))
    return configs


def _iteration_defaults(variant: str, device: str, unset: List[str]) -> Dict[str, int]:
    """The iteration counts the user left unset, for ``variant`` on ``device``."""
    from ..ssm import get_variant
    from ..ssm.contract import NEEDS_TRITON

    if not unset or device.startswith("cuda") or NEEDS_TRITON not in get_variant(variant).needs:
        return {}
    return {k: INTERPRETER_ITERATIONS[k] for k in unset}
