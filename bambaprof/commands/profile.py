"""``bambaprof profile``: every variant x compile mode x workload x shape into run directories."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..errors import BambaprofError
from ..render.columns import PROFILE_SUMMARY
from ..render.tables import render_rows
from ..run import HOSTS
from ._common import (
    device_option,
    emit,
    format_option,
    matrix_options,
    model_options,
    output_option,
    progress,
    renamed_option,
    resolve_device,
)


def flag_name(field: str) -> str:
    """The command-line flag of a run setting: ``profile_active`` -> ``--profile-active``."""
    return "--" + field.replace("_", "-")


@click.command("profile")
@model_options
@matrix_options
@click.option("--profile-wait", type=int, default=0, show_default=True, help="Profiler schedule: wait steps.")
@click.option("--profile-warmup", type=int, default=None,
              help="Profiler schedule: warm-up steps [default: 1; 0 on the Triton interpreter].")
@click.option("--profile-active", type=int, default=None,
              help="Profiler schedule: recorded steps [default: 2; 1 on the Triton interpreter].")
@click.option("--with-stack", is_flag=True, help="Record Python stacks in the trace.")
@click.option("--sample-interval-ms", type=float, default=20.0, show_default=True, help="NVML sampling interval.")
@click.option("--gpm-interval-ms", type=float, default=100.0, show_default=True,
              help="NVML GPM sampling interval (at least 100).")
@click.option("--telemetry-window-ms", type=float, default=1000.0, show_default=True,
              help="Shortest window for energy and GPM: after the measured iterations, untimed ones run until "
                   "the window is this long (the energy counter and GPM's 100 ms intervals need time).")
@click.option("--host", type=click.Choice(HOSTS), default="bambaprof", show_default=True,
              help="Model stack: bambaprof's own model, transformers' BambaForCausalLM, or the Foundation Model "
                   "Stack's Bamba, hosting the variant (hosts generate without cache).")
@click.option("--telemetry/--no-telemetry", default=True, show_default=True,
              help="Sample NVML (and GPM) during the run.")
@device_option()
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights and inputs.")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False), default="traces", show_default=True,
              help="Folder the run directories are written into.")
@renamed_option("--out", "--runs")
@click.option("--resume", is_flag=True, help="Skip configurations whose run directory is complete and ok.")
@format_option(("table", "json", "csv"))
@output_option()
def profile_command(preset_name, layers, no_attention, chunk_size, dtype, variants, compiles, compile_options,
                    dynamic, workloads, batches, seq_lens, new_tokens, use_cache, prompts_file, warmup, iters,
                    profile_wait, profile_warmup, profile_active, with_stack, sample_interval_ms, gpm_interval_ms,
                    telemetry_window_ms, checkpoint, host, telemetry, device, seed, runs_dir, resume, fmt,
                    output) -> None:
    """Profile SSD variants x compile modes x workloads x shapes, one run directory each.

    Each run: warm-up (first call and compile time recorded), measured
    iterations timed with CUDA events (wall clock on CPU) under an NVML sampler
    (power, clocks, GPM DRAM bandwidth and SM occupancy on Hopper) and the
    energy counter (extended by untimed iterations to --telemetry-window-ms),
    then a torch.profiler trace. Failed configurations are
    recorded and the matrix goes on. Ends with a summary against the first
    variant. With no flags on a CPU-only machine: tiny preset, every variant
    that runs here, eager.
    """
    from .._api import profile, validate_settings
    from ..collect.compile import parse_compile_options
    from ..errors import UsageError
    from ..run import summary_rows

    settings = dict(dynamic=dynamic, use_cache=use_cache, seed=seed, warmup=warmup, iters=iters,
                    profile_wait=profile_wait, profile_warmup=profile_warmup, profile_active=profile_active,
                    with_stack=with_stack, sample_interval_ms=sample_interval_ms, gpm_interval_ms=gpm_interval_ms,
                    telemetry_window_ms=telemetry_window_ms, telemetry=telemetry, host=host)
    validate_settings(settings, flag_name)  # named as flags; the library checks them again, by field name
    for name, values in (("--batch", batches), ("--seq-len", seq_lens), ("--new-tokens", new_tokens)):
        if any(v <= 0 for v in values):
            raise UsageError(f"{name} must be positive")
    if checkpoint is not None and (layers is not None or no_attention or chunk_size is not None):
        raise UsageError("--layers, --no-attention and --chunk-size do not apply to a --checkpoint")
    notices: set = set()

    def report(record, done: int, total: int) -> None:
        m = record.manifest
        if m is not None and m.telemetry.notice and m.telemetry.notice not in notices:
            notices.add(m.telemetry.notice)
            click.echo(f"note: {m.telemetry.notice}", err=True)
        for w in m.warnings if m is not None else []:
            click.echo(f"warning: {record.run_id}: {w}", err=True)
        if record.status == "failed":
            click.echo(f"failed: {record.run_id}: {record.error}", err=True)
        bar.length = total
        bar.update(1)

    with progress("profiling", 0) as bar:
        records = profile(
            variants, compiles=compiles, workloads=workloads, batches=batches, seq_lens=seq_lens,
            new_tokens=new_tokens, preset=preset_name, layers=layers, attention=False if no_attention else None,
            chunk_size=chunk_size, dtype=dtype, checkpoint=checkpoint, prompts=prompts_file,
            compile_options=parse_compile_options(compile_options), device=resolve_device(device), out=runs_dir,
            resume=resume, progress=report,
            command="bambaprof " + " ".join(shlex.quote(a) for a in sys.argv[1:]), **settings)
    emit(render_rows(summary_rows(records), fmt, PROFILE_SUMMARY, meta={"runs": str(runs_dir)} if fmt == "json"
                     else None), output)
    failed = [r for r in records if r.status == "failed"]
    if failed and len(failed) == len(records):
        raise BambaprofError(f"all {len(records)} configuration(s) failed (see the run directories under "
                             f"{Path(runs_dir)})")
