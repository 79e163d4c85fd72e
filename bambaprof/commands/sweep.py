"""``bambaprof sweep run SPEC|flags`` (a matrix over local workers or Slurm) and ``bambaprof sweep status ROOT``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import BambaprofError, UsageError
from ..render.columns import PROFILE_SUMMARY, SWEEP_STATUS
from ..render.tables import render_rows
from ._common import (
    POSITIVE,
    check_scan_env,
    emit,
    format_option,
    matrix_options,
    model_options,
    option_names,
    output_option,
    progress,
)

#: Flags that describe the matrix (instead of a SPEC file).
MATRIX_FLAGS = option_names(model_options, matrix_options)


class SweepGroup(click.Group):
    """``sweep run`` and ``sweep status``; anything else (a spec file, say) is a usage error naming them."""

    def resolve_command(self, ctx: click.Context, args):  # type: ignore[no-untyped-def]
        name = args[0] if args else ""
        if name and name not in self.commands and not name.startswith("-"):
            raise click.UsageError(f"no sweep command {name!r}: run a spec with `bambaprof sweep run {name}`, "
                                   "or show one with `bambaprof sweep status ROOT`")
        return super().resolve_command(ctx, args)


@click.group("sweep", cls=SweepGroup)
def sweep_group() -> None:
    """Run a matrix of configurations over workers (`run`), or show a sweep root's states (`status`)."""


@sweep_group.command("run")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@model_options
@matrix_options
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Sweep root [default: traces/sweeps/<spec name>].")
@click.option("--launcher", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="local: worker processes on this machine; slurm: a job array through submitit.")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--gpus-per-task", type=int, default=0, show_default=True, help="Slurm GPUs per task.")
@click.option("--time", "time_min", type=int, default=60, show_default=True, help="Slurm time limit per task, minutes.")
@click.option("--account", default=None, help="Slurm account.")
@click.option("--sbatch", "sbatch_opts", multiple=True, metavar="KEY=VALUE", help="Extra sbatch option (repeatable).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Slurm: wait for the tasks and summarise, or return once submitted.")
@click.option("--devices", default=None, metavar="0,1,...",
              help="GPUs for local workers, one worker each [default: every visible GPU].")
@click.option("--workers", type=int, default=None, help="CPU-only: number of worker slots [default: 1].")
@click.option("--timeout", "timeout_s", type=POSITIVE, default=None, metavar="SECONDS",
              help="Kill and fail a configuration that runs longer than this.")
@click.option("--resume", is_flag=True, help="Run only configurations that are not done.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write an HTML report of the finished runs into the root.")
@format_option(("table", "json", "csv"))
@output_option()
@click.pass_context
def sweep_run_command(ctx: click.Context, spec: Optional[str], preset_name: str, layers, no_attention, chunk_size,
                      dtype, variants, compiles, compile_options, dynamic, workloads, batches, seq_lens, new_tokens,
                      use_cache, prompts_file, warmup, iters, checkpoint, root: Optional[str], launcher: str,
                      partition: Optional[str], gpus_per_task: int, time_min: int, account: Optional[str],
                      sbatch_opts, wait: bool, devices: Optional[str], workers: Optional[int],
                      timeout_s: Optional[float], resume: bool, report: bool, fmt: str, output: Optional[str]) -> None:
    """Run a sweep: a SPEC file (TOML: [model], [matrix], [run]) or the same flags as `profile`.

    With neither, profile's defaults. Each configuration is one run directory under ROOT/runs, run in its
    own process pinned to a device, so one crash, OOM or hang (--timeout) does not stop the others;
    ROOT/index.json tracks pending, running, done and failed configurations, and --resume runs only those
    not done.
    """
    check_scan_env()
    from click.core import ParameterSource

    from ..collect.compile import parse_compile_options
    from ..run import summary_rows
    from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu
    from ..sweep import SlurmOptions, run_sweep
    from ..sweep.spec import load_spec, spec_from_flags, spec_name

    flags = [p.opts[0] for p in ctx.command.params
             if p.name in MATRIX_FLAGS and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
    if flags and spec:
        raise UsageError(f"{', '.join(flags)}: matrix flags and a SPEC file do not go together")
    enable_triton_interpreter_if_no_gpu()
    if spec:
        spec_data = load_spec(Path(spec))
        name = Path(spec).stem
    else:
        matrix = {"variant": variants, "compile": compiles, "workload": workloads, "batch": batches,
                  "seq_len": seq_lens, "new_tokens": new_tokens}
        spec_data = spec_from_flags(preset_name, layers, no_attention, chunk_size, dtype, checkpoint, matrix,
                                    prompts_file, parse_compile_options(compile_options),
                                    {"warmup": warmup, "iters": iters, "use_cache": use_cache, "dynamic": dynamic})
        name = spec_name(spec_data)
    sbatch = {}
    for opt in sbatch_opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise UsageError(f"--sbatch must look like key=value, got {opt!r}")
        sbatch[key.strip().lstrip("-")] = value.strip()
    slurm = SlurmOptions(partition, gpus_per_task, time_min, account, sbatch, wait)
    sweep_root = Path(root) if root else Path("traces") / "sweeps" / name
    with progress("sweeping", 0) as bar:
        def event(kind: str, run_id: str, detail: str) -> None:
            if kind in ("done", "failed"):
                bar.update(1)
            if kind == "failed":
                click.echo(f"failed: {run_id}: {detail}", err=True)

        result = run_sweep(spec_data, sweep_root, launcher, devices.split(",") if devices else None, workers,
                           timeout_s, resume, slurm, report, event)
    if launcher == "slurm" and not wait:
        click.echo(f"submitted; follow with: bambaprof sweep status {sweep_root}", err=True)
        return
    counts = result.index.counts()
    click.echo(f"sweep {sweep_root}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v), err=True)
    if result.report is not None:
        click.echo(f"wrote {result.report}", err=True)
    emit(render_rows(summary_rows(result.records), fmt, PROFILE_SUMMARY), output)
    if counts["done"] == 0:
        raise BambaprofError(f"no configuration finished (see {result.index.path})")


@sweep_group.command("status")
@click.argument("root", type=click.Path(file_okay=False))
@format_option(("table", "json", "csv"))
@output_option()
def sweep_status_command(root: str, fmt: str, output: Optional[str]) -> None:
    """Show the state of every configuration of the sweep root ROOT (refreshed from its run directories)."""
    from ..sweep import sweep_status

    index = sweep_status(Path(root))
    counts = index.counts()
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()), err=True)
    emit(render_rows(index.entries, fmt, SWEEP_STATUS, meta={"counts": counts} if fmt == "json" else None), output)
