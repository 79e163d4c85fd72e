"""``bambaprof sweep SPEC`` (run a TOML matrix over local workers) and ``bambaprof sweep status ROOT``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import BambaprofError, UsageError
from ..report.tables import Column, render_rows, shorten
from ._common import emit, format_option, matrix_options, model_options, option_names, output_option, progress

STATUS_COLUMNS = [Column("run_id", "run"), Column("state", "state"), Column("device", "device"),
                  Column("attempts", "attempts"), Column("error", "error", lambda v: shorten(v, 70))]


#: Flags that describe the matrix (instead of a SPEC file).
MATRIX_FLAGS = option_names(model_options, matrix_options)


@click.command("sweep")
@click.argument("spec_or_status", required=False)
@click.argument("status_root", required=False)
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
@click.option("--timeout", "timeout_s", type=float, default=None, metavar="SECONDS",
              help="Kill and fail a configuration that runs longer than this.")
@click.option("--resume", is_flag=True, help="Run only configurations that are not done.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write an HTML report of the finished runs into the root.")
@format_option(("table", "json", "csv"))
@output_option()
@click.pass_context
def sweep_command(ctx: click.Context, spec_or_status: Optional[str], status_root: Optional[str], preset_name: str,
                  layers, no_attention, chunk_size, dtype, variants, compiles, compile_options, dynamic, workloads,
                  batches, seq_lens, new_tokens, use_cache, prompts_file, warmup, iters, checkpoint,
                  root: Optional[str], launcher: str,
                  partition: Optional[str], gpus_per_task: int, time_min: int, account: Optional[str],
                  sbatch_opts, wait: bool, devices: Optional[str], workers: Optional[int],
                  timeout_s: Optional[float], resume: bool, report: bool, fmt: str, output: Optional[str]) -> None:
    """Run a sweep over local workers or Slurm, or show `status ROOT`.

    The matrix is a SPEC file (TOML: [model], [matrix], [run]) or the same
    flags as `profile` (--variant, --compile, --workload, --seq-len, ...;
    with neither, profile's defaults). Each configuration is one run directory under ROOT/runs, run in its own
    process pinned to a device, so one crash, OOM or hang (--timeout) does not
    stop the others; ROOT/index.json tracks pending, running, done and failed
    configurations, and --resume runs only those not done.
    """
    from click.core import ParameterSource

    from ..sweep.index import SweepIndex

    flags = [p.opts[0] for p in ctx.command.params
             if p.name in MATRIX_FLAGS and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
    if flags and spec_or_status:
        what = "status" if spec_or_status == "status" else "a SPEC file"
        raise UsageError(f"{', '.join(flags)}: matrix flags and {what} do not go together")
    if spec_or_status == "status":
        if not status_root:
            raise UsageError("usage: bambaprof sweep status ROOT")
        index = SweepIndex.load(Path(status_root))
        index.refresh()
        counts = index.counts()
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()), err=True)
        emit(render_rows(index.entries, fmt, STATUS_COLUMNS, meta={"counts": counts} if fmt == "json" else None),
             output)
        return
    if status_root:
        raise UsageError("a sweep takes one SPEC file (or: bambaprof sweep status ROOT)")
    from ..ssm.capabilities import cuda_available, enable_triton_interpreter_if_no_gpu
    from ..sweep.local import run_local
    from ..collect.compile import parse_compile_options
    from ..sweep.spec import configs_from_spec, load_spec, spec_from_flags, spec_name

    enable_triton_interpreter_if_no_gpu()
    if timeout_s is not None and timeout_s <= 0:
        raise UsageError("--timeout must be positive")
    if spec_or_status:
        spec = load_spec(Path(spec_or_status))
        name = Path(spec_or_status).stem
    else:
        matrix = {"variant": variants, "compile": compiles, "workload": workloads, "batch": batches,
                  "seq_len": seq_lens, "new_tokens": new_tokens}
        spec = spec_from_flags(preset_name, layers, no_attention, chunk_size, dtype, checkpoint, matrix, prompts_file,
                               parse_compile_options(compile_options),
                               {"warmup": warmup, "iters": iters, "use_cache": use_cache, "dynamic": dynamic})
        name = spec_name(spec)
    gpu = cuda_available()
    if launcher == "slurm":
        if devices or workers is not None:
            raise UsageError("--devices and --workers are for the local launcher")
        if time_min <= 0 or gpus_per_task < 0:
            raise UsageError("--time must be positive and --gpus-per-task not negative")
        extra = {}
        for opt in sbatch_opts:
            key, sep, value = opt.partition("=")
            if not sep or not key:
                raise UsageError(f"--sbatch must look like key=value, got {opt!r}")
            extra[key.strip().lstrip("-")] = value.strip()
        slots = []
    elif gpu:
        import torch

        slots = devices.split(",") if devices else [str(i) for i in range(torch.cuda.device_count())]
        if workers is not None:
            raise UsageError("--workers is for CPU-only machines; choose GPUs with --devices")
    else:
        if devices:
            raise UsageError("--devices needs CUDA GPUs; on the CPU use --workers")
        if workers is not None and workers <= 0:
            raise UsageError("--workers must be positive")
        slots = [f"cpu{i}" for i in range(workers or 1)]
    target_gpu = gpu or (launcher == "slurm" and gpus_per_task > 0)
    configs = configs_from_spec(spec, "cuda" if target_gpu else "cpu")
    sweep_root = Path(root) if root else Path("traces") / "sweeps" / name
    index = SweepIndex.create(sweep_root, configs, spec)
    with progress("sweeping", len(index.entries)) as bar:
        def event(kind: str, run_id: str, detail: str) -> None:
            if kind in ("done", "failed"):
                bar.update(1)
            if kind == "failed":
                click.echo(f"failed: {run_id}: {detail}", err=True)

        if launcher == "slurm":
            from ..sweep.slurm import submit_slurm

            submit_slurm(index, partition, gpus_per_task, time_min, account, extra, resume, wait, event)
        else:
            run_local(index, slots, gpu, timeout_s, resume, event)
    if launcher == "slurm" and not wait:
        click.echo(f"submitted; follow with: bambaprof sweep status {sweep_root}", err=True)
        return
    counts = index.counts()
    click.echo(f"sweep {sweep_root}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v), err=True)
    from ..collect.runner import RunRecord, summary_rows
    from .profile import SUMMARY_COLUMNS
    from ..collect.matrix import config_from_dict
    from ..rundir import read_manifest

    records = []
    for e in index.entries:
        run_dir = index.runs_dir / e["run_id"]
        manifest = read_manifest(run_dir) if (run_dir / "manifest.json").is_file() else {}
        records.append(RunRecord(e["run_id"], config_from_dict(e["config"]), e["state"], run_dir, manifest or {},
                                 e.get("error")))
    done = [index.runs_dir / e["run_id"] for e in index.entries if e["state"] == "done"]
    if report and done:
        from .._io import write_text_atomic
        from ..report.html import build_report

        page = build_report(done, title=f"sweep {sweep_root.name}")
        write_text_atomic(sweep_root / "report.html", page)
        click.echo(f"wrote {sweep_root / 'report.html'}", err=True)
    emit(render_rows(summary_rows(records), fmt, SUMMARY_COLUMNS), output)
    if counts["done"] == 0:
        raise BambaprofError(f"no configuration finished (see {sweep_root / 'index.json'})")
