"""The Python API: what the commands do, as functions (re-exported from :mod:`bambaprof`).

- :func:`profile`: a matrix of variants x compile modes x workloads x shapes into run directories;
- :func:`bambaprof.record`: any code of yours, step by step, into a run directory;
- :func:`analyze`, :func:`compare`, :func:`report`: what the run directories (or any Kineto traces) say.

Each returns typed values (:class:`~bambaprof.run.RunRecord`, :class:`~bambaprof.analysis.Analysis`,
:class:`~bambaprof.analysis.compare.Comparison`); errors are :class:`~bambaprof.errors.BambaprofError`
(bad input: :class:`~bambaprof.errors.UsageError`) with a one-line message. Only :func:`profile` and
``record`` import torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Union

from .errors import BambaprofError, UsageError

if TYPE_CHECKING:
    from .analysis.compare import Comparison
    from .analysis.fleet import Fleet
    from .run import RunRecord

PathLike = Union[str, "os.PathLike[str]"]

def validate_settings(settings: Dict[str, Any], label: Callable[[str], str] = lambda name: name) -> None:
    """Refuse run settings out of range, naming each as ``label(name)`` (the command line passes its flags)."""
    from .run.config import COUNT_MINIMUMS, INTERVALS, count_problem, interval_problem

    for name in COUNT_MINIMUMS:  # None: the per-variant default applies
        problem = count_problem(name, settings[name], label(name)) if settings.get(name) is not None else None
        if problem:
            raise UsageError(problem)
    for name in INTERVALS:
        problem = interval_problem(name, settings[name], label(name)) if settings.get(name) is not None else None
        if problem:
            raise UsageError(problem)


def profile(
    variants: Sequence[str] = (),
    *,
    compiles: Sequence[str] = (),
    workloads: Sequence[str] = (),
    batches: Sequence[int] = (),
    seq_lens: Sequence[int] = (),
    new_tokens: Sequence[int] = (),
    preset: str = "tiny",
    layers: Optional[int] = None,
    attention: Optional[bool] = None,
    chunk_size: Optional[int] = None,
    dtype: Optional[str] = None,
    checkpoint: Optional[PathLike] = None,
    prompts: Optional[PathLike] = None,
    compile_options: Optional[Dict[str, Any]] = None,
    device: str = "auto",
    out: PathLike = "traces",
    resume: bool = False,
    progress: Optional[Callable[["RunRecord", int, int], None]] = None,
    command: Optional[str] = None,
    on_start: Optional[Callable[[Any, int, int], None]] = None,
    **settings: Any,
) -> List["RunRecord"]:
    """Profile every combination of the axes into one run directory each under ``out``; returns a record
    per configuration (a configuration that fails is a ``failed`` record, not an exception).

    Empty axes take ``bambaprof profile``'s defaults: every variant that runs on ``device`` (``auto``:
    CUDA when a GPU is visible), eager, the mixer, prefill and generate workloads, batch 1, 64 tokens for
    ``tiny`` (512 for ``bamba-9b``), 16 new tokens. ``settings`` are the other
    :class:`~bambaprof.run.RunConfig` fields: ``warmup``, ``iters``, ``profile_wait``,
    ``profile_warmup``, ``profile_active``, ``with_stack``, ``sample_interval_ms``, ``gpm_interval_ms``,
    ``telemetry_window_ms`` (ms), ``telemetry``, ``host``, ``use_cache``, ``dynamic``, ``seed``.
    ``progress(record, done, total)`` hears each run as it ends, ``on_start(config, index, total)`` each
    configuration before it runs. With ``resume``, runs already complete and ok are
    kept (``skipped (done)``). Without a GPU, Triton variants run on Triton's CPU interpreter.
    """
    from .collect.matrix import build_configs
    from .collect.runner import run_matrix
    from .model.config import preset as model_preset
    from .ssm.capabilities import enable_triton_interpreter_if_no_gpu, resolve_device

    enable_triton_interpreter_if_no_gpu()
    unknown = sorted(set(settings) - set(_setting_names()))
    if unknown:
        raise UsageError(f"unknown profile setting(s): {', '.join(unknown)}")
    validate_settings(settings)
    device = resolve_device(device)
    if checkpoint is not None:
        from .model.checkpoint import _read_json, config_from_hf

        config_from_hf(_read_json(Path(checkpoint) / "config.json"), dtype)  # fails early, in one line
        if layers is not None or attention is not None or chunk_size is not None:
            raise UsageError("layers, attention and chunk size do not apply to a checkpoint")
    else:
        model_preset(preset, layers=layers, attention=attention, chunk_size=chunk_size, dtype=dtype)  # validates
    configs = build_configs(device, preset, variants, compiles, workloads, batches, seq_lens, new_tokens,
                            str(prompts) if prompts is not None else None, compile_options,
                            str(checkpoint) if checkpoint is not None else None,
                            layers=layers, attention=attention, chunk_size=chunk_size, dtype=dtype, **settings)
    return run_matrix(configs, Path(out), resume=resume, progress=progress, command=command, on_start=on_start)


def _setting_names() -> List[str]:
    from .run import RunConfig

    axes = {"preset", "variant", "compile", "compile_options", "workload", "batch", "seq_len", "new_tokens",
            "prompt_name", "prompt_ids", "device", "checkpoint", "layers", "attention", "chunk_size", "dtype"}
    return [f for f in RunConfig.field_names() if f not in axes]


def analyze(path: PathLike, process: Optional[int] = None, **options: Any) -> Any:
    """Analyse a run directory, a Kineto trace (``.json``/``.json.gz``), an Nsight Systems export (every
    process in it combined, or the one whose pid is ``process``) or rocprofv3's kernel trace
    (``<prefix>kernel_trace.csv``); see :func:`bambaprof.analysis.analyze` for the options and
    :class:`~bambaprof.analysis.Analysis` for the result (times in us, bytes, GB/s)."""
    from .analysis import analyze as _analyze
    from .analysis.source import TraceSource

    _require_path(path, "analyze")
    if process is not None and (not isinstance(process, int) or isinstance(process, bool)):
        raise UsageError(f"process must be a pid (an int), not {process!r}")
    return _analyze(Path(path) if process is None else TraceSource(Path(path), process=process), **options)


def _require_path(path: Any, what: str) -> None:
    """Refuse what is not a path (``None``, a number) as a usage error naming ``what`` takes it."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"{what} takes a path (a str or os.PathLike), not {type(path).__name__}")


def _path_list(value: Any, what: str) -> List[PathLike]:
    """One path or a sequence of them as a list, each checked by :func:`_require_path`."""
    from collections.abc import Iterable

    items = [value] if isinstance(value, (str, os.PathLike)) or not isinstance(value, Iterable) else list(value)
    for item in items:
        _require_path(item, what)
    return items


def analyze_ranks(paths: Union[PathLike, Sequence[PathLike]], workers: Optional[int] = None) -> "Fleet":
    """The ranks of one job side by side: a folder of traces (one per rank), trace files, or an Nsight Systems
    export of several processes (one rank each); returns a :class:`~bambaprof.analysis.fleet.Fleet` (per-rank
    rows, the cross-rank view, the ``slowest-rank`` finding; times in us). ``workers``: processes that read
    the traces (default: one per CPU)."""
    from .analysis.fleet import analyze_fleet, process_sources, rank_inputs

    given = _path_list(paths, "analyze_ranks")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise UsageError(f"workers must be a positive int (or None: one per CPU), not {workers!r}")
    items = rank_inputs(given)
    if not items:
        raise UsageError("analyze_ranks needs at least one trace")
    with process_sources(items) as sources:
        fleet = analyze_fleet(sources, workers=workers)
    if all(r["error"] for r in fleet.ranks):  # as the command says it: nothing to put side by side
        raise BambaprofError(f"none of the {len(fleet.ranks)} traces could be read ({fleet.ranks[0]['error']})")
    return fleet


def compare(baseline: Union[PathLike, Sequence[PathLike]], candidate: Union[PathLike, Sequence[PathLike]],
            peak_gbps: Optional[float] = None) -> "Comparison":
    """Baseline against candidate: each a run directory or trace, a list of repeated runs, or a folder (of
    runs, or of one trace per rank: each counts as an input). Summary metrics with a bootstrap noise
    interval, kernels and ops matched by name, sorted by impact."""
    from .analysis.compare import compare as _compare
    from .analysis.fleet import expand_inputs, process_sources

    members: set = set()  # a folder's ranks: one that cannot be read is left out with a note

    def as_list(x: Union[PathLike, Sequence[PathLike]]) -> List[Union[str, Path]]:
        return list(expand_inputs(_path_list(x, "compare"), members))

    with process_sources(as_list(baseline)) as base, process_sources(as_list(candidate)) as cand:
        return _compare(base, cand, peak_gbps=peak_gbps, optional=members)


def report(paths: Union[PathLike, Sequence[PathLike]], output: PathLike, title: Optional[str] = None,
           peak_gbps: Optional[float] = None, ncu_csv: Optional[PathLike] = None) -> Path:
    """Write one self-contained HTML report of run directories or traces to ``output`` (atomically);
    returns its path. A folder of runs or a sweep root stands for its runs. ``ncu_csv``: an Nsight Compute CSV
    or report of the same workload as the one run reported (see :func:`analyze`): its figures beside the
    kernels and the findings that read them."""
    from ._io import write_text_atomic
    from .analysis.fleet import expand_inputs, process_sources
    from .render.html import build_report, report_size_ok

    items = _path_list(paths, "report")
    _require_path(output, "report")
    members: set = set()  # a folder's ranks: one that cannot be read is left out with a note
    inputs: List[Union[str, Path]] = list(expand_inputs(items, members))
    if not inputs:
        raise UsageError("report needs at least one run directory or trace")
    if ncu_csv is not None:
        _require_path(ncu_csv, "report's ncu_csv")
    with process_sources(inputs) as sources:  # an export of several processes: one run each
        if ncu_csv is not None and len(sources) != 1:
            raise UsageError(f"--ncu goes with one run or trace, not {len(sources)}: Nsight Compute profiles one "
                             "workload")
        page = build_report(sources, title=title, peak_gbps=peak_gbps, optional=members,
                            ncu_csv=Path(ncu_csv) if ncu_csv is not None else None)
    if not report_size_ok(page):
        raise BambaprofError(f"the report would be {len(page.encode()) / 1e6:.1f} MB, over the 10 MB limit")
    return write_text_atomic(Path(output), page)
