"""Sweep specifications: a TOML file (or the same matrix given as flags).

::

    [model]            # preset and overrides, or a checkpoint
    preset = "bamba-9b"
    layers = 4
    attention = false
    dtype = "bf16"

    [matrix]           # every combination is one configuration
    variant = ["default", "independent"]
    compile = ["none", "max-autotune"]
    workload = ["mixer", "generate"]
    batch = [1]
    seq_len = [512, 2048]
    new_tokens = [16]

    [run]              # the other RunConfig fields
    warmup = 2
    iters = 10
    use_cache = true

``compile_options`` (a table) goes in ``[run]``; ``prompts`` (a path) in ``[matrix]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import UsageError
from ..run import RunConfig

MATRIX_KEYS = {"variant": "variants", "compile": "compiles", "workload": "workloads", "batch": "batches",
               "seq_len": "seq_lens", "new_tokens": "new_tokens"}
MODEL_KEYS = {"preset", "layers", "attention", "chunk_size", "dtype", "checkpoint"}


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def load_spec(path: Path) -> Dict[str, Any]:
    """The parsed spec (dict); one-line errors for unreadable or invalid files."""
    if Path(path).exists() and not Path(path).is_file():
        raise UsageError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            spec = _toml().load(fh)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from None
    unknown = sorted(set(spec) - {"model", "matrix", "run"})
    if unknown:
        raise UsageError(f"{path}: unknown section(s) {', '.join(unknown)} (expected model, matrix, run)")
    return spec


def configs_from_spec(spec: Dict[str, Any], device: str) -> List[RunConfig]:
    """Every configuration of the spec's matrix on ``device``."""
    from ..collect.matrix import build_configs

    model, matrix, run = (dict(spec.get(section) or {}) for section in ("model", "matrix", "run"))
    bad = sorted(set(model) - MODEL_KEYS)
    if bad:
        raise UsageError(f"[model] has unknown key(s): {', '.join(bad)}")
    kwargs: Dict[str, Any] = {}
    for key, arg in MATRIX_KEYS.items():
        value = matrix.pop(key, [])
        kwargs[arg] = tuple(value if isinstance(value, list) else [value])
    prompts = matrix.pop("prompts", None)
    if matrix:
        raise UsageError(f"[matrix] has unknown key(s): {', '.join(sorted(matrix))}")
    compile_options = run.pop("compile_options", None)
    fields = set(RunConfig.field_names())
    bad = sorted(set(run) - fields)
    if bad:
        raise UsageError(f"[run] has unknown key(s): {', '.join(bad)}")
    common = {k: v for k, v in model.items() if k not in ("preset", "checkpoint")}
    common.update(run)
    return build_configs(device, model.get("preset", "tiny"), prompts_file=prompts, compile_options=compile_options,
                         checkpoint=model.get("checkpoint"), **kwargs, **common)


def spec_from_flags(preset: str, layers: Optional[int], no_attention: bool, chunk_size: Optional[int],
                    dtype: Optional[str], checkpoint: Optional[str], matrix: Dict[str, Sequence[Any]],
                    prompts: Optional[str], compile_options: Dict[str, Any], run: Dict[str, Any]) -> Dict[str, Any]:
    """The spec that ``profile``-style flags describe (the same three tables as a TOML spec).

    ``matrix`` maps spec keys (``variant``, ``compile``, ...) to the repeated flag's values; empty
    ones are left out, so the profile defaults apply.
    """
    model: Dict[str, Any] = {"preset": preset}
    for key, value in (("layers", layers), ("chunk_size", chunk_size), ("dtype", dtype), ("checkpoint", checkpoint)):
        if value is not None:
            model[key] = value
    if no_attention:
        model["attention"] = False
    table: Dict[str, Any] = {k: list(v) for k, v in matrix.items() if v}
    if prompts:
        table["prompts"] = prompts
    run = {k: v for k, v in run.items() if v is not None}  # unset flags: the per-variant defaults apply
    if compile_options:
        run["compile_options"] = dict(compile_options)
    return {"model": model, "matrix": table, "run": run}


def spec_name(spec: Dict[str, Any]) -> str:
    """A stable name for a spec given as flags (``flags-<8 hex digits>``), for its default sweep root."""
    import hashlib
    import json

    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    return f"flags-{digest[:8]}"
