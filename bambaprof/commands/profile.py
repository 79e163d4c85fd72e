"""``bambaprof profile``: every variant x compile mode x workload x shape into run directories."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..errors import UsageError
from ..report.tables import Column, fixed, render_rows, shorten
from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu
from ._common import config_from_options, device_option, emit, format_option, matrix_options, model_options, \
    output_option, resolve_device


def _gb(v) -> str:
    return f"{v / 1e9:.2f}" if isinstance(v, (int, float)) else ""


_ms = fixed(",.3f")
SUMMARY_COLUMNS = [
    Column("workload", "workload"), Column("variant", "variant"), Column("compile", "compile"),
    Column("batch", "b"), Column("seq_len", "L"), Column("status", "status"),
    Column("latency_ms", "median ms", _ms), Column("latency_p90_ms", "p90 ms", _ms),
    Column("ttft_ms", "TTFT ms", _ms), Column("throughput_tokens_per_s", "tokens/s", fixed(",.0f")),
    Column("peak_allocated_bytes", "peak GB", _gb),
    Column("joules_per_token", "J/token", fixed(".4f", kinds=(float,))),
    Column("gpm_dram_bw_util_pct", "GPM DRAM BW %", fixed(".1f", kinds=(float,))),
    Column("gpm_sm_occupancy_pct", "GPM SM occ %", fixed(".1f", kinds=(float,))),
    Column("vs_baseline", "vs baseline", fixed(".2f", "x")), Column("error", "error", shorten),
]


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
@click.option("--host", type=click.Choice(["bambaprof", "hf", "fms"]), default="bambaprof", show_default=True,
              help="Model stack: bambaprof's own model, transformers' BambaForCausalLM, or the Foundation Model "
                   "Stack's Bamba, hosting the variant (hosts generate without cache).")
@click.option("--telemetry/--no-telemetry", default=True, show_default=True,
              help="Sample NVML (and GPM) during the run.")
@device_option()
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights and inputs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="traces", show_default=True,
              help="Where run directories are written.")
@click.option("--resume", is_flag=True, help="Skip configurations whose run directory is complete and ok.")
@format_option(("table", "json", "csv"))
@output_option()
def profile_command(preset_name, layers, no_attention, chunk_size, dtype, variants, compiles, compile_options,
                    dynamic, workloads, batches, seq_lens, new_tokens, use_cache, prompts_file, warmup, iters,
                    profile_wait, profile_warmup, profile_active, with_stack, sample_interval_ms, gpm_interval_ms,
                    telemetry_window_ms, checkpoint, host, telemetry, device, seed, out_dir, resume, fmt, output) -> None:
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
    enable_triton_interpreter_if_no_gpu()
    from ..collect import run_matrix, summary_rows
    from ..collect.compile import parse_compile_options
    from ..collect.matrix import build_configs

    dev = resolve_device(device)
    if checkpoint is not None:
        from ..model.checkpoint import _read_json, config_from_hf

        config_from_hf(_read_json(Path(checkpoint) / "config.json"), dtype)  # fails early, in one line
        if layers is not None or no_attention or chunk_size is not None:
            raise UsageError("--layers, --no-attention and --chunk-size do not apply to a --checkpoint")
    model_cfg = config_from_options(preset_name, layers, no_attention, chunk_size, dtype)  # validates overrides
    for name, value, low in (("--warmup", warmup, 1), ("--iters", iters, 1), ("--profile-active", profile_active, 1),
                             ("--profile-wait", profile_wait, 0), ("--profile-warmup", profile_warmup, 0)):
        if value is not None and value < low:
            raise UsageError(f"{name} must be at least {low}, got {value}")
    if sample_interval_ms <= 0:
        raise UsageError("--sample-interval-ms must be positive")
    if telemetry_window_ms < 0:
        raise UsageError("--telemetry-window-ms must not be negative")
    for name, values in (("--batch", batches), ("--seq-len", seq_lens), ("--new-tokens", new_tokens)):
        if any(v <= 0 for v in values):
            raise UsageError(f"{name} must be positive")  # the flag's name in the message
    configs = build_configs(
        dev, preset_name, variants, compiles, workloads, batches, seq_lens, new_tokens, prompts_file,
        parse_compile_options(compile_options), checkpoint,
        layers=layers, attention=False if no_attention else None, chunk_size=chunk_size, dtype=dtype,
        dynamic=dynamic, use_cache=use_cache, seed=seed, warmup=warmup, iters=iters, profile_wait=profile_wait,
        profile_warmup=profile_warmup, profile_active=profile_active, with_stack=with_stack,
        sample_interval_ms=sample_interval_ms, gpm_interval_ms=gpm_interval_ms,
        telemetry_window_ms=telemetry_window_ms, telemetry=telemetry, host=host)
    del model_cfg

    notices: set = set()
    command = "bambaprof " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def report(record) -> None:
        notice = (record.manifest.get("telemetry") or {}).get("notice")
        if notice and notice not in notices:
            notices.add(notice)
            click.echo(f"note: {notice}", err=True)
        for w in record.manifest.get("warnings") or []:
            click.echo(f"warning: {record.run_id}: {w}", err=True)
        if record.status == "failed":
            click.echo(f"failed: {record.run_id}: {record.error}", err=True)
        bar.update(1)

    from ._common import progress

    with progress("profiling", len(configs)) as bar:
        records = run_matrix(configs, Path(out_dir), resume=resume, progress=report, command=command)
    rows = summary_rows(records)
    emit(render_rows(rows, fmt, SUMMARY_COLUMNS, meta={"out": str(out_dir)} if fmt == "json" else None), output)
    failed = [r for r in records if r.status == "failed"]
    if failed and len(failed) == len(records):
        from ..errors import BambaprofError

        raise BambaprofError(f"all {len(records)} configuration(s) failed (see the run directories under {out_dir})")
