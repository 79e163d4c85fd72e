"""``bambaprof report``: one self-contained HTML file from run directories or traces."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Optional, Tuple

import click

from ._common import POSITIVE


@click.command("report")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: reports/report-<time>.html].")
@click.option("--title", default=None, help="Page title.")
@click.option("--peak-bandwidth", type=POSITIVE, default=None, metavar="GB/s", help="Peak DRAM bandwidth.")
def report_command(inputs: Tuple[str, ...], output: Optional[str], title: Optional[str],
                   peak_bandwidth: Optional[float]) -> None:
    """Write an HTML report of run directories or traces (self-contained, offline, plotly inlined).

    A folder of run directories (or a sweep root) stands for its runs. Summary
    cards; latency, throughput, peak memory and energy per token across runs;
    kernel time per run; achieved bandwidth against peak and the roofline;
    occupancy against kernel time; NVML telemetry beside GPU busy time; the
    accuracy table when runs carry one; a comparison with the first run.
    """
    from .._api import report

    if output is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output = str(Path("reports") / f"report-{stamp}.html")
    path = report(list(inputs), output, title=title, peak_gbps=peak_bandwidth)
    click.echo(f"wrote {path}", err=True)
