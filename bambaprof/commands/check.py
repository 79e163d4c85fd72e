"""``bambaprof check``: every variant against ``reference`` on the same seeded inputs."""

from __future__ import annotations

from typing import List, Optional, Tuple

import click

from .._env import environment
from ..errors import BambaprofError, UsageError
from ..model.config import parse_dtype, preset, preset_names
from ..render.columns import CHECK
from ..render.tables import render_rows
from ..ssm import get_variant, list_variants
from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu, runnable
from ..ssm.check import Shape, check_variants, failed
from ._common import check_scan_env, device_option, emit, format_option, output_option, progress, resolve_device


def default_seq_lens(chunk: int) -> List[int]:
    """Below, equal to, not a multiple of, and several times the chunk."""
    return sorted({max(1, chunk // 2), chunk, 2 * chunk + chunk // 2 + 1, 4 * chunk})


def build_shapes(
    preset_name: str, batch: Tuple[int, ...], seq_len: Tuple[int, ...], chunk_size: Optional[int],
    heads: Optional[int], head_dim: Optional[int], groups: Optional[int], state: Optional[int],
) -> List[Shape]:
    cfg = preset(preset_name)
    chunk = chunk_size if chunk_size is not None else cfg.mamba_chunk_size
    h = heads if heads is not None else cfg.mamba_n_heads
    p = head_dim if head_dim is not None else cfg.mamba_d_head
    g = groups if groups is not None else cfg.mamba_n_groups
    n = state if state is not None else cfg.mamba_d_state
    for name, value in (("--chunk-size", chunk), ("--heads", h), ("--head-dim", p), ("--groups", g), ("--state", n)):
        if value <= 0:
            raise UsageError(f"{name} must be positive, got {value}")
    if h % g:
        raise UsageError(f"--heads ({h}) must be a multiple of --groups ({g})")
    lens = seq_len or tuple(default_seq_lens(chunk))
    for value in (*batch, *lens):
        if value <= 0:
            raise UsageError(f"--batch and --seq-len must be positive, got {value}")
    return [Shape(b, L, h, p, g, n, chunk) for b in batch for L in lens]


@click.command("check")
@click.option("--variant", "variant_names", multiple=True, metavar="NAME",
              help="Variant to check (repeatable; a name or package.module:attr). "
                   "Default: every variant that runs here.")
@click.option("--preset", "preset_name", type=click.Choice(preset_names()), default="tiny", show_default=True,
              help="Model preset whose SSM shapes (heads, head dim, groups, state, chunk) are used.")
@click.option("--batch", multiple=True, type=int, default=(2,), show_default=True, help="Batch size (repeatable).")
@click.option("--seq-len", multiple=True, type=int,
              help="Sequence length (repeatable). Default: half, one, 2.5 and 4 chunks.")
@click.option("--chunk-size", type=int, default=None, help="Override the preset's chunk size.")
@click.option("--heads", type=int, default=None, help="Override the number of SSM heads.")
@click.option("--head-dim", type=int, default=None, help="Override the SSM head dimension.")
@click.option("--groups", type=int, default=None, help="Override the number of B/C groups.")
@click.option("--state", type=int, default=None, help="Override the SSM state size.")
@click.option("--dtype", default="float32", show_default=True, help="Input dtype: float32, bfloat16, float16, float64.")
@click.option("--initial-state/--no-initial-state", default=False, show_default=True,
              help="Start from a random initial state.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@device_option()
@format_option(("table", "json", "csv"))
@output_option()
def check_command(variant_names, preset_name, batch, seq_len, chunk_size, heads, head_dim, groups, state,
                  dtype, initial_state, seed, device, fmt, output) -> None:
    """Check every variant against the exact recurrence (float64) on seeded inputs.

    Reports max abs error, relative error ||y - ref|| / ||ref||, final-state
    error and decode-step consistency. Exits 1 when an exact variant exceeds
    its tolerance for the dtype; the approximate `independent` variant's error
    is reported (watch it grow with the number of chunks), not judged.
    """
    check_scan_env()
    enable_triton_interpreter_if_no_gpu()
    dev = resolve_device(device)
    torch_dtype = parse_dtype(dtype)
    shapes = build_shapes(preset_name, batch, seq_len, chunk_size, heads, head_dim, groups, state)
    if variant_names:
        variants = [get_variant(n) for n in variant_names]
    else:
        variants = [v for v in list_variants() if v.name != "reference" and runnable(v, dev).ok]
        skipped = [v.name for v in list_variants() if v.name != "reference" and not runnable(v, dev).ok]
        if skipped:
            click.echo(f"note: skipping variants that cannot run on {dev}: {', '.join(skipped)}", err=True)
    with progress("checking", len(shapes) * len(variants)) as bar:
        rows = check_variants(variants, shapes, torch_dtype, dev, seed, initial_state,
                              progress=lambda _label: bar.update(1))
    meta = {"device": dev, "dtype": str(torch_dtype).replace("torch.", ""), "seed": seed,
            "initial_state": initial_state, "environment": environment(dev)}
    emit(render_rows([r.to_dict() for r in rows], fmt, CHECK, meta=meta), output)
    bad = failed(rows)
    if bad:
        names = ", ".join(sorted({r.variant for r in bad}))
        raise BambaprofError(f"{len(bad)} check(s) failed or errored ({names})")
