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
@click.option("--ncu", "ncu_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Nsight Compute CSV (ncu --csv, either page) or report (.ncu-rep) of the one run or trace "
                   "reported: its figures beside the kernels, and the findings that read them.")
def report_command(inputs: Tuple[str, ...], output: Optional[str], title: Optional[str],
                   peak_bandwidth: Optional[float], ncu_csv: Optional[str]) -> None:
    """Write an HTML report of run directories or traces (self-contained, offline, plotly inlined).

    A folder of run directories (or a sweep root) stands for its runs. Summary
    cards; latency, throughput, peak memory and energy per token across runs;
    kernel time per run; achieved bandwidth against peak and the roofline;
    occupancy against kernel time; NVML telemetry beside GPU busy time; the
    accuracy table when runs carry one; a comparison with the first run.
    With --ncu, one run's kernels beside Nsight Compute's measurements.
    """
    from .._api import report

    if output is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output = str(Path("reports") / f"report-{stamp}.html")
    path = report(list(inputs), output, title=title, peak_gbps=peak_bandwidth, ncu_csv=ncu_csv)
    click.echo(f"wrote {path}", err=True)
