"""``bambaprof compare``: two runs or traces (or groups of them) side by side, with a regression gate."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from .._api import compare
from ..analysis.compare import KERNEL_ROW_FIELDS, METRICS, check_metric, check_threshold, new_finding, regression
from ..errors import BambaprofError, UsageError
from ..render.columns import Column
from ..render.tables import render_rows, to_json
from ..render.text import render_comparison
from ._common import POSITIVE, emit, format_option, output_option


@click.command("compare")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--baseline", "baselines", multiple=True, type=click.Path(), help="A baseline run or trace (repeatable).")
@click.option("--candidate", "candidates", multiple=True, type=click.Path(), help="A candidate run or trace (repeatable).")
@click.option("--fail-on-regression", "threshold", type=float, default=None, metavar="PCT",
              help="Exit 1 when the candidate is worse than the baseline by more than PCT percent.")
@click.option("--metric", default="gpu_time", show_default=True, metavar="METRIC",
              help=f"Metric the regression gate watches: {', '.join(METRICS)}, or a part's GPU time per step: "
                   "phase:GLOB, module:GLOB, ssd:GLOB, kernel:GLOB (e.g. 'phase:*/ssd*', 'ssd:chunk scan').")
@click.option("--fail-on-new-finding", "finding_level", type=click.Choice(["high", "medium", "low"]), default=None,
              help="Exit 1 when the candidate's diagnosis has a finding of at least this severity that the "
                   "baseline's did not (or had below it); one the baseline could not judge does not count.")
@click.option("--top", type=int, default=30, show_default=True, help="Kernel rows to show (table).")
@click.option("--peak-bandwidth", type=POSITIVE, default=None, metavar="GB/s", help="Peak DRAM bandwidth.")
@format_option(("table", "json", "csv", "html"))
@output_option()
def compare_command(inputs: Tuple[str, ...], baselines, candidates, threshold: Optional[float], metric: str,
                    finding_level: Optional[str], top: int, peak_bandwidth, fmt: str, output: Optional[str]) -> None:
    """Compare A and B (run directories or traces), or --baseline A1 A2 ... --candidate B1 B2 ...

    Summary metrics (GPU time, latency, throughput, peak memory, energy per
    token, exposed communication, step time: the host's time per profiled
    step, where the inputs have them) with ratio and a bootstrap interval
    that says whether a change is beyond the noise; kernels matched by name
    with added/removed ones, sorted by impact; each side's findings, new,
    resolved, kept, or not judged by a side that lacks what the rule reads.
    Only what both sides recorded is compared. --fail-on-regression PCT and
    --fail-on-new-finding SEVERITY make it a CI gate.
    """
    if inputs and (baselines or candidates):
        raise UsageError("give A B, or --baseline ... --candidate ..., not both")
    if inputs:
        if len(inputs) != 2:
            raise UsageError(f"compare takes two inputs A B, got {len(inputs)}")
        baselines, candidates = (inputs[0],), (inputs[1],)
    if not baselines or not candidates:
        raise UsageError("compare needs a baseline and a candidate (A B, or --baseline/--candidate)")
    check_metric(metric)
    if threshold is not None:
        check_threshold(threshold)
    if top <= 0:
        raise UsageError("--top must be positive")
    comp = compare(list(baselines), list(candidates), peak_gbps=peak_bandwidth)
    verdicts = [v for v in (regression(comp, metric, threshold) if threshold is not None else None,
                            new_finding(comp, finding_level) if finding_level else None) if v]
    verdict = "; ".join(verdicts) or None
    for warning in comp.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "table":
        text = render_comparison(comp, top)
    elif fmt == "csv":
        text = render_rows(comp.kernels, "csv", [Column(k, k) for k in KERNEL_ROW_FIELDS])  # a header without rows
    elif fmt == "json":
        payload = comp.to_dict()
        payload["regression"] = verdict
        text = to_json(payload)
    else:
        from ..render.html import render_comparison_page

        gate = None
        if threshold is not None or finding_level:
            passed = ([f"{metric} within {threshold:g}% of the baseline"] if threshold is not None else []) + \
                ([f"no new finding at {finding_level} or worse"] if finding_level else [])
            gate = {"failed": verdict is not None, "text": verdict or "; ".join(passed)}
        text = render_comparison_page(comp, gate)
    emit(text, output)
    if verdict:
        raise BambaprofError(verdict)
