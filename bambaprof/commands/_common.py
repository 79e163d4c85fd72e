"""Options and helpers shared by the commands."""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable, Optional, Tuple

import click

from .._io import write_text_atomic
from ..render.tables import FORMATS
from ..run import COMPILE_MODES, WORKLOADS


class FiniteNumber(click.ParamType):
    """A float option's type: a finite number above ``low`` (or at least ``low`` where ``inclusive``); ``nan``,
    ``inf`` and numbers out of range are usage errors (exit 2) before the command runs (an interval of ``inf``
    would never end, a peak of 0 divides by it, ``nan`` passes every ``<`` test)."""

    name = "number"

    def __init__(self, low: float = 0.0, inclusive: bool = False) -> None:
        self.low, self.inclusive = low, inclusive

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < self.low or (number == self.low and not self.inclusive):
            self.fail(f"must be a finite number {'of at least' if self.inclusive else 'above'} {self.low:g}, "
                      f"not {value}", param, ctx)
        return number


#: A finite number above 0 (bandwidths, intervals, time budgets).
POSITIVE = FiniteNumber()
#: A finite number of at least 0 (windows, thresholds).
NOT_NEGATIVE = FiniteNumber(inclusive=True)


def format_option(choices=FORMATS, default: str = "table") -> Callable:
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
        help="Output format.",
    )


def output_option() -> Callable:
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
        help="Write the result to this file (atomically) instead of standard output.",
    )


def device_option() -> Callable:
    return click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
        help="Where to run: auto picks CUDA when a GPU is visible, else the CPU.",
    )


def resolve_device(device: str) -> str:
    """``--device``'s value as the device to run on (:func:`bambaprof.ssm.capabilities.resolve_device`)."""
    from ..ssm.capabilities import resolve_device as resolve

    return resolve(device, "--device")


def emit(text: str, output: Optional[str]) -> None:
    """Print ``text`` to stdout, or write it atomically to ``output`` and say so on stderr."""
    if output:
        path = write_text_atomic(output, text)
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(text, nl=False)


class _Silent:
    """Stand-in for a progress bar when stderr is not a terminal."""

    length = 0
    pos = 0

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def announce(self, text: str) -> None:
        """Say which item is being worked on: one line on stderr (no terminal to redraw a bar on)."""
        click.echo(text, err=True)

    def update(self, n: int) -> None:
        return None


def progress(label: str, total: int) -> Any:
    """A progress bar on stderr, shown only when stderr is a terminal (so pipes stay clean)."""
    if not sys.stderr.isatty():
        return _Silent()
    bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                            item_show_func=lambda item: item)

    def announce(text: str) -> None:  # name the item being worked on after the bar
        bar.current_item = text
        bar.render_progress()

    bar.announce = announce  # type: ignore[attr-defined]
    return bar


def model_options(func: Callable) -> Callable:
    """``--preset``, ``--layers``, ``--no-attention``, ``--chunk-size``, ``--dtype``: a model configuration."""
    from ..model.config import preset_names

    options = [
        click.option("--preset", "preset_name", type=click.Choice(preset_names()), default="tiny", show_default=True,
                     help="Model preset."),
        click.option("--layers", type=int, default=None, help="Number of decoder layers (default: the preset's)."),
        click.option("--no-attention", "no_attention", is_flag=True, default=False,
                     help="Remove the attention layers (the study profiled 4 Mamba2 layers only)."),
        click.option("--chunk-size", type=int, default=None, help="SSD chunk size (default: the preset's)."),
        click.option("--dtype", default=None, help="Model dtype: float32, bfloat16, float16 (default: the preset's)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def renamed_option(old: str, new: str) -> Callable:
    """A hidden option ``old`` that answers, as a usage error, that it was renamed ``new``."""
    def refuse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            raise click.UsageError(f"{old} was renamed {new}")
        return value

    return click.option(old, "_renamed_" + old.lstrip("-").replace("-", "_"), hidden=True, expose_value=False,
                        default=None, callback=refuse, is_eager=True)


def matrix_options(func: Callable) -> Callable:
    """The run matrix shared by ``profile`` and ``sweep``: variants, compile modes, workloads, shapes,
    iterations and an optional checkpoint (repeatable options multiply out)."""
    options = [
        click.option("--variant", "variants", multiple=True, metavar="NAME",
                     help="SSD variant (repeatable; a name or package.module:attr). Default: every variant that "
                          "runs here."),
        click.option("--compile", "compiles", multiple=True, type=click.Choice(COMPILE_MODES),
                     help="torch.compile mode (repeatable) [default: none]."),
        click.option("--compile-option", "compile_options", multiple=True, metavar="KEY=VALUE",
                     help="Inductor option for compiled runs (repeatable), e.g. epilogue_fusion=True."),
        click.option("--dynamic", is_flag=True, help="Compile for dynamic shapes (avoids a recompile per length)."),
        click.option("--workload", "workloads", multiple=True, type=click.Choice(WORKLOADS),
                     help="Workload (repeatable) [default: mixer, prefill, generate]."),
        click.option("--batch", "batches", multiple=True, type=int, help="Batch size (repeatable) [default: 1]."),
        click.option("--seq-len", "seq_lens", multiple=True, type=int,
                     help="Prompt / sequence length (repeatable) [default: 64 for tiny, 512 for bamba-9b]."),
        click.option("--new-tokens", "new_tokens", multiple=True, type=int,
                     help="Tokens to generate (repeatable) [16]."),
        click.option("--use-cache/--no-cache", default=None,
                     help="Generate with the conv/SSM/KV cache, or recompute the prefix every token [default: "
                          "use-cache; no-cache with --host hf or fms, which generate without it]."),
        click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False), default=None,
                     help="JSON file of prompts (lengths or token ids), used instead of --seq-len."),
        click.option("--warmup", type=int, default=None,
                     help="Warm-up iterations (the first is timed) [default: 2; 1 for a variant that runs on the "
                          "Triton interpreter (CPU)]."),
        click.option("--iters", type=int, default=None,
                     help="Measured iterations [default: 10; 3 on the Triton interpreter]."),
        click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
                     help="A local Hugging Face-format Bamba checkpoint (config.json + safetensors) instead of "
                          "the preset's seeded weights."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def option_names(*decorators: Callable) -> Tuple[str, ...]:
    """The parameter names that option decorators (e.g. :func:`model_options`) add to a command."""
    def probe() -> None:
        pass

    for decorator in decorators:
        probe = decorator(probe)
    return tuple(p.name for p in getattr(probe, "__click_params__", []))


def config_from_options(preset_name: str, layers, no_attention: bool, chunk_size, dtype):
    """The :class:`~bambaprof.model.BambaConfig` that :func:`model_options` describe."""
    from ..model.config import preset

    return preset(preset_name, layers=layers, attention=False if no_attention else None, chunk_size=chunk_size,
                  dtype=dtype)


def check_scan_env() -> None:
    """A ``BAMBAPROF_SSD_SCAN`` that names no chunk scan fails before any run, as a usage error (exit 2), not in
    every configuration's forward (commands that run the SSD kernels call this first)."""
    if not os.environ.get("BAMBAPROF_SSD_SCAN", "").strip():
        return
    from ..errors import UsageError
    from ..ssm.kernels.ssd import scan_kernel_from_env

    try:
        scan_kernel_from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
