"""``bambaprof report``: one self-contained HTML file from run directories or traces."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Optional, Tuple

import click

from ..errors import BambaprofError, UsageError
from ._common import emit


@click.command("report")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: reports/report-<time>.html].")
@click.option("--title", default=None, help="Page title.")
@click.option("--peak-bandwidth", type=float, default=None, metavar="GB/s", help="Peak DRAM bandwidth.")
def report_command(inputs: Tuple[str, ...], output: Optional[str], title: Optional[str],
                   peak_bandwidth: Optional[float]) -> None:
    """Write an HTML report of run directories or traces (self-contained, offline, plotly inlined).

    Summary cards; latency, throughput, peak memory and energy per token across
    runs; kernel time per run; achieved bandwidth against peak and the roofline;
    occupancy against kernel time; NVML telemetry beside GPU busy time; the
    accuracy table when runs carry one; a comparison with the first run.
    """
    if peak_bandwidth is not None and peak_bandwidth <= 0:
        raise UsageError("--peak-bandwidth must be positive")
    from ..report.html import build_report, report_size_ok

    page = build_report(list(inputs), title=title, peak_gbps=peak_bandwidth)
    if not report_size_ok(page):
        raise BambaprofError(f"the report would be {len(page.encode()) / 1e6:.1f} MB, over the 10 MB limit")
    if output is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output = str(Path("reports") / f"report-{stamp}.html")
    emit(page, output)
