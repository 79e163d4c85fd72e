"""``bambaprof analyze``: a Kineto trace (or run directory) into kernel, op, launch and idle metrics."""

from __future__ import annotations

import re
from typing import Optional

import click

from ..analyze.analysis import KERNEL_SORT_KEYS, OP_SORT_KEYS, Analysis, analyze, select_rows
from ..analyze.parse import BACKENDS
from ..errors import UsageError
from ..report.tables import Column, fixed, kernel_label, render_rows, shorten, to_json, yes_no
from ._common import emit, format_option, output_option, progress


_us = fixed(",.1f")
_pct = fixed(".1f")


def _num(v) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "" if v is None else str(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _bytes(v) -> str:
    if not isinstance(v, (int, float)):
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {unit}"
    return f"{v:.0f} B"


KERNEL_COLUMNS = [
    Column("name", "kernel", kernel_label),
    Column("count", "n"),
    Column("total_us", "total us", _us),
    Column("share_pct", "% GPU", _pct),
    Column("mean_us", "mean us", _us),
    Column("median_us", "median us", _us),
    Column("grid", "grid"),
    Column("block", "block"),
    Column("registers", "regs"),
    Column("est_occupancy_pct", "est occ % (Kineto)", _pct),
    Column("theoretical_occupancy_pct", "theor occ %", _pct),
    Column("limiter", "limiter"),
    Column("waves_per_sm", "waves", _num),
    Column("bytes", "bytes", _bytes),
    Column("achieved_gbps", "GB/s", _num),
    Column("pct_of_peak_bw", "% peak BW", _pct),
    Column("launched_by", "launched by", lambda v: shorten(v, 30)),
]
OP_COLUMNS = [
    Column("name", "op", shorten),
    Column("count", "n"),
    Column("cpu_total_us", "CPU total us", _us),
    Column("cpu_self_us", "CPU self us", _us),
    Column("gpu_self_us", "GPU self us", _us),
    Column("gpu_total_us", "GPU total us", _us),
    Column("kernels", "kernels"),
]
NCU_COLUMNS = [
    Column("ncu_id", "ncu id"),
    Column("name", "kernel", lambda v: kernel_label(v, 50)),
    Column("same_config", "same launch", yes_no),
    Column("trace_us", "trace us", _us),
    Column("ncu_us", "ncu us", _us),
    Column("derived_gbps", "derived GB/s", _num),
    Column("ncu_dram_gbps", "ncu GB/s", _num),
    Column("gbps_ratio", "ratio", lambda v: f"{v:.2f}" if isinstance(v, float) else ""),
    Column("theoretical_occupancy_pct", "theor occ %", _pct),
    Column("ncu_theoretical_occupancy_pct", "ncu theor %", _pct),
    Column("ncu_achieved_occupancy_pct", "ncu achieved %", _pct),
]
SUMMARY_UNITS = {
    "_us": _us, "_pct": _pct, "_bytes": _bytes, "_gbps": _num,
}


def _summary_rows(a: Analysis) -> list:
    rows = []
    for key, value in a.summary.items():
        fmt = next((f for suffix, f in SUMMARY_UNITS.items() if key.endswith(suffix)), None)
        rows.append({"metric": key, "value": fmt(value) if fmt and value is not None else ("" if value is None else value)})
    return rows


def _render_table(a: Analysis, kernels: list, ops: list) -> str:
    parts = ["Summary (times in us)\n", render_rows(_summary_rows(a), "table")]
    if a.notes:
        parts.append("\n" + "\n".join(f"note: {n}" for n in a.notes) + "\n")
    if kernels:
        parts += ["\nKernels (est occ is Kineto's estimate: theoretical occupancy capped by the grid, not measured)\n",
                  render_rows(kernels, "table", KERNEL_COLUMNS)]
    if ops:
        parts += ["\nCPU ops\n", render_rows(ops, "table", OP_COLUMNS)]
    if a.stretches:
        parts += ["\nLongest CPU-bound stretches (GPU idle waiting on the host; start from trace start)\n",
                  render_rows(a.stretches, "table", [Column("start_us", "start us", _us), Column("dur_us", "us", _us),
                                                     Column("device", "device"), Column("cpu_op", "CPU op", shorten),
                                                     Column("cpu_region", "region", shorten)])]
    if a.ncu:
        parts += ["\nNsight Compute beside the trace (derived = bytes the kernel must move / trace duration; "
                  "ncu = DRAM bytes measured)\n", render_rows([r for r in a.ncu if r["matched"]], "table", NCU_COLUMNS)]
    if a.telemetry:
        rows = [{"series": k, **v} for k, v in a.telemetry.items()]
        parts += ["\nNVML telemetry over the profiled window\n", render_rows(rows, "table")]
    return "".join(parts)


@click.command("analyze")
@click.argument("path", type=click.Path(path_type=str))
@format_option(("table", "json", "csv"))
@output_option()
@click.option("--top", type=int, default=None, help="Show the first N rows of each table [table default: 20].")
@click.option("--sort", "sort_key", default=None,
              help=f"Sort key: kernels {', '.join(KERNEL_SORT_KEYS)}; ops {', '.join(OP_SORT_KEYS)}.")
@click.option("--filter", "pattern", default=None, metavar="REGEX", help="Keep kernels/ops whose name matches REGEX.")
@click.option("--table", "which", type=click.Choice(["all", "kernels", "ops"]), default="all", show_default=True,
              help="Which tables to show (CSV holds one table: kernels unless 'ops').")
@click.option("--peak-bandwidth", type=float, default=None, metavar="GB/s",
              help="Peak DRAM bandwidth to compare against (default: the run's measurement or the datasheet).")
@click.option("--backend", type=click.Choice(list(BACKENDS)), default="auto", show_default=True,
              help="JSON parser backend.")
@click.option("--ncu", "ncu_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Nsight Compute CSV (ncu --csv) of the same workload: show measured DRAM bandwidth and "
                   "achieved occupancy beside the derived values.")
def analyze_command(path: str, fmt: str, output: Optional[str], top: Optional[int], sort_key: Optional[str],
                    pattern: Optional[str], which: str, peak_bandwidth: Optional[float], backend: str,
                    ncu_csv: Optional[str]) -> None:
    """Analyse a Kineto trace (.json/.json.gz) or a run directory.

    Reports span, GPU busy and idle time (waiting on the host vs other),
    launch overhead, CPU-bound stretches, peak memory, and per kernel: time,
    launch configuration, Kineto's estimated and the theoretical occupancy
    with its limiter, waves, bytes moved and achieved GB/s against peak.
    Bytes come from kernel metadata or the launching op's shapes, else unknown.
    """
    if top is not None and top <= 0:
        raise UsageError(f"--top must be positive, got {top}")
    if peak_bandwidth is not None and peak_bandwidth <= 0:
        raise UsageError(f"--peak-bandwidth must be positive, got {peak_bandwidth}")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--filter is not a valid regular expression: {exc}") from None
    kernel_sort = op_sort = None
    if sort_key:
        if which == "ops" and sort_key not in OP_SORT_KEYS:
            raise UsageError(f"--sort for ops must be one of {', '.join(OP_SORT_KEYS)}")
        if which != "ops" and sort_key not in KERNEL_SORT_KEYS + OP_SORT_KEYS:
            raise UsageError(f"--sort must be one of {', '.join(KERNEL_SORT_KEYS + OP_SORT_KEYS)}")
        kernel_sort = sort_key if sort_key in KERNEL_SORT_KEYS else None
        op_sort = sort_key if sort_key in OP_SORT_KEYS else None
    with progress("reading events", 1) as bar:
        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        a = analyze(path, backend=backend, peak_gbps=peak_bandwidth, ncu_csv=ncu_csv, progress=advance)
    limit = top if top is not None else (20 if fmt == "table" else None)
    kernels = select_rows(a.kernels, kernel_sort, limit, pattern) if which in ("all", "kernels") else []
    ops = select_rows(a.ops, op_sort, limit, pattern) if which in ("all", "ops") else []
    if fmt == "table":
        text = _render_table(a, kernels, ops)
    elif fmt == "csv":
        text = render_rows(ops if which == "ops" else kernels, "csv")
    else:
        payload = a.to_dict()
        payload["kernels"], payload["ops"] = kernels, ops
        text = to_json(payload)
    emit(text, output)

