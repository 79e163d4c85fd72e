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

from ..errors import ProblemsError, UsageError
from ..run import RunConfig
from ..run.config import COUNT_MINIMUMS, INTERVALS, count_problem, interval_problem

MATRIX_KEYS = {"variant": "variants", "compile": "compiles", "workload": "workloads", "batch": "batches",
               "seq_len": "seq_lens", "new_tokens": "new_tokens"}
MODEL_KEYS = {"preset", "layers", "attention", "chunk_size", "dtype", "checkpoint"}
#: RunConfig fields that a spec gives outside ``[run]`` (each one's place), so that ``[run]`` cannot set them twice.
RUN_ELSEWHERE = {**{key: f"[matrix] (a list: {key} = [...])" for key in MATRIX_KEYS},
                 **{key: "[model]" for key in MODEL_KEYS},
                 "device": "the command's --device", "prompt_name": "[matrix] prompts (a file of prompts)",
                 "prompt_ids": "[matrix] prompts (a file of prompts)"}


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
    problems = spec_problems(spec, from_file=True)
    if problems:
        raise ProblemsError([f"{path}: {p}" for p in problems])
    return spec


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def spec_problems(spec: Dict[str, Any], from_file: bool = False) -> List[str]:
    """Every problem of a spec, one sentence each (empty when it is valid), found before anything runs.

    A file's empty ``[matrix]`` or empty list is a problem (it would run the whole default matrix); flags
    that give no matrix values mean the defaults."""
    from ..model.config import DTYPES, preset_names
    from ..run import COMPILE_MODES, WORKLOADS

    out: List[str] = []
    unknown = sorted(set(spec) - {"model", "matrix", "run"})
    if unknown:
        out.append(f"unknown section(s) {', '.join(unknown)} (expected model, matrix, run)")
    tables = {}
    for section in ("model", "matrix", "run"):
        value = spec.get(section, {})
        if not isinstance(value, dict):
            out.append(f"{section} must be a table ([{section}]), not {type(value).__name__}")
            value = {}
        tables[section] = value
    model, matrix, run = tables["model"], tables["matrix"], tables["run"]

    for key in sorted(set(model) - MODEL_KEYS):
        out.append(f"[model] has an unknown key {key!r} (known: {', '.join(sorted(MODEL_KEYS))})")
    if "preset" in model and model["preset"] not in preset_names():
        out.append(f"[model] preset {model['preset']!r} is unknown (choose from {', '.join(preset_names())})")
    for key in ("layers", "chunk_size"):
        if key in model and not (_is_int(model[key]) and model[key] > 0):
            out.append(f"[model] {key} must be a positive integer, not {model[key]!r}")
    if "attention" in model and not isinstance(model["attention"], bool):
        out.append(f"[model] attention must be true or false, not {model['attention']!r}")
    if "dtype" in model and (not isinstance(model["dtype"], str) or model["dtype"].lower() not in DTYPES):
        out.append(f"[model] dtype {model['dtype']!r} is unknown (choose from {', '.join(sorted(DTYPES))})")
    if "checkpoint" in model and not isinstance(model["checkpoint"], str):
        out.append("[model] checkpoint must be a path (a string)")

    if from_file and "matrix" in spec and isinstance(spec["matrix"], dict) and not matrix:
        out.append("[matrix] is empty: list values to sweep, or leave the section out for the defaults")
    allowed = {"variant": None, "compile": COMPILE_MODES, "workload": WORKLOADS}
    for key, value in matrix.items():
        if key == "prompts":
            if not isinstance(value, str):
                out.append("[matrix] prompts must be a path (a string)")
            continue
        if key not in MATRIX_KEYS:
            out.append(f"[matrix] has an unknown key {key!r} (known: {', '.join(sorted([*MATRIX_KEYS, 'prompts']))})")
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            out.append(f"[matrix] {key} is an empty list: give at least one value, or leave the key out")
        if key in allowed:
            for v in values:
                if not isinstance(v, str):
                    out.append(f"[matrix] {key} values must be strings, not {v!r}")
                elif allowed[key] is not None and v not in allowed[key]:
                    out.append(f"[matrix] {key} {v!r} is unknown (choose from {', '.join(allowed[key])})")
        elif any(not (_is_int(v) and v > 0) for v in values):
            out.append(f"[matrix] {key} values must be positive integers, not {values!r}")

    options = run.get("compile_options", {})
    if not isinstance(options, dict):
        out.append("[run] compile_options must be a table (key = value)")
    fields = set(RunConfig.field_names())
    for key in sorted(set(run) - fields - {"compile_options"}):
        out.append(f"[run] has an unknown key {key!r}")
    for key in sorted(set(run) & set(RUN_ELSEWHERE)):
        out.append(f"[run] cannot set {key}: it goes in {RUN_ELSEWHERE[key]}")
    for key, value in run.items():
        if key not in fields or key == "compile_options" or key in RUN_ELSEWHERE:
            continue
        problem = _field_problem(key, value)
        if problem:
            out.append(f"[run] {problem}")
    return out


def _field_problem(key: str, value: Any) -> Optional[str]:
    """Why ``key = value`` is not a valid RunConfig field value, or ``None``."""
    import msgspec

    try:
        msgspec.convert({key: value}, RunConfig, strict=True)
    except msgspec.ValidationError as exc:
        expected = str(exc).split(" - at ")[0]
        return f"{key} = {value!r}: {expected[0].lower() + expected[1:]}"
    if key in COUNT_MINIMUMS:
        return count_problem(key, value)
    return interval_problem(key, value) if key in INTERVALS else None


def configs_from_spec(spec: Dict[str, Any], device: str) -> List[RunConfig]:
    """Every configuration of the spec's matrix on ``device``."""
    from ..collect.matrix import build_configs

    problems = spec_problems(spec)
    if problems:
        raise ProblemsError(problems)
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
