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
    NOT_NEGATIVE,
    POSITIVE,
    check_scan_env,
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
@click.option("--with-stack", is_flag=True,
              help="Record Python stacks in the trace (and nn.Module calls: analyze gets its modules table).")
@click.option("--sample-interval-ms", type=POSITIVE, default=20.0, show_default=True, help="NVML sampling interval.")
@click.option("--gpm-interval-ms", type=POSITIVE, default=100.0, show_default=True,
              help="NVML GPM sampling interval (at least 100).")
@click.option("--telemetry-window-ms", type=NOT_NEGATIVE, default=1000.0, show_default=True,
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
    check_scan_env()
    from .._api import profile, validate_settings
    from ..collect.compile import parse_compile_options
    from ..errors import Interrupted, Terminated, UsageError, terminate_like_interrupt
    from ..run import summary_rows
    from ..run.summary import NOISY_SPREAD

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
    options = parse_compile_options(compile_options)
    if options and set(compiles or ("none",)) == {"none"}:
        click.echo("warning: --compile-option has no effect: every run is eager (add --compile MODE)", err=True)
    notices: set = set()
    repeated = {"count": 0}
    finished: list = []

    def starting(cfg, index: int, total: int) -> None:
        bar.length = total
        bar.announce(f"[{index}/{total}] {cfg.variant} {cfg.workload} b{cfg.batch} L{cfg.seq_len} "
                     f"compile={cfg.compile}")

    def report(record, done: int, total: int) -> None:
        m = record.manifest
        if m is not None and m.telemetry.notice and m.telemetry.notice not in notices:
            notices.add(m.telemetry.notice)
            click.echo(f"note: {m.telemetry.notice}", err=True)
        for w in m.warnings if m is not None else []:
            if w in notices:  # the same warning for another run: said once
                repeated["count"] += 1
                continue
            notices.add(w)
            click.echo(f"warning: {record.run_id}: {w}", err=True)
        if record.status == "failed":
            click.echo(f"failed: {record.run_id}: {record.error}", err=True)
        finished.append(record)
        bar.length = total
        bar.update(1)

    terminate_like_interrupt()
    try:
        with progress("profiling", 0) as bar:
            records = profile(
                variants, compiles=compiles, workloads=workloads, batches=batches, seq_lens=seq_lens,
                new_tokens=new_tokens, preset=preset_name, layers=layers, attention=False if no_attention else None,
                chunk_size=chunk_size, dtype=dtype, checkpoint=checkpoint, prompts=prompts_file,
                compile_options=options, device=resolve_device(device), out=runs_dir,
                resume=resume, progress=report, on_start=starting,
                command="bambaprof " + " ".join(shlex.quote(a) for a in sys.argv[1:]), **settings)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        if finished:
            emit(render_rows(summary_rows(finished), fmt, PROFILE_SUMMARY, compact=True,
                             meta={"runs": str(runs_dir), "interrupted": True} if fmt == "json" else None), output)
        again = " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
        raise Interrupted(f"{'terminated' if terminated else 'interrupted'} after {len(finished)} run(s); the run "
                          f"in progress left nothing behind; go on with: bambaprof {again} --resume",
                          143 if terminated else 130) from None
    if repeated["count"]:
        click.echo(f"({repeated['count']} repeated warning(s) of other runs not shown: see their manifests)", err=True)
    rows = summary_rows(records)
    emit(render_rows(rows, fmt, PROFILE_SUMMARY, meta={"runs": str(runs_dir)} if fmt == "json" else None,
                     compact=True), output)
    noisy = [r for r in rows if r.get("noise")]
    if noisy:
        click.echo(f"warning: {len(noisy)} ratio(s) rest on a noisy run (latency p90/p10 over {NOISY_SPREAD}): see the "
                   "'noisy' column; re-run on an idle machine before reading them", err=True)
    ok = [r for r in records if r.status != "failed"]
    if ok:
        where = Path(runs_dir)
        first = ok[0].path
        click.echo(f"runs in {where}/ (one directory each); next:\n"
                   f"  bambaprof analyze {shlex.quote(str(first))}/\n"
                   f"  bambaprof report {shlex.quote(str(where))}/ -o reports/{where.name or 'runs'}.html\n"
                   f"  bambaprof compare {shlex.quote(str(first))}/ "
                   f"{shlex.quote(str(ok[1].path if len(ok) > 1 else first))}/", err=True)
    failed = [r for r in records if r.status == "failed"]
    if failed and len(failed) == len(records):
        raise BambaprofError(f"all {len(records)} configuration(s) failed (see the run directories under "
                             f"{Path(runs_dir)})")
