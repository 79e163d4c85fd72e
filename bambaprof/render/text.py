"""Terminal renderings of an analysis and a comparison: the tables ``analyze`` and ``compare`` print."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from . import columns
from .tables import format_cell, render_rows


def summary_table_rows(summary: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The analysis summary as ``metric``/``value`` rows, each value written in the unit its name ends in."""
    rows = []
    for key, value in summary.items():
        kind = next((k for suffix, k in columns.SUMMARY_KINDS.items() if key.endswith(suffix)), "text")
        rows.append({"metric": key, "value": format_cell(value, kind)})
    return rows


def render_analysis(a: Any, kernels: Sequence[Dict[str, Any]], ops: Sequence[Dict[str, Any]]) -> str:
    """The text report of an :class:`~bambaprof.analysis.Analysis`: summary, notes, the given kernel and op
    rows, CPU-bound stretches, Nsight Compute beside the trace, telemetry."""
    parts = ["Summary (times in us)\n", render_rows(summary_table_rows(a.summary), "table")]
    if a.notes:
        parts.append("\n" + "\n".join(f"note: {n}" for n in a.notes) + "\n")
    if kernels:
        parts += ["\nKernels (est occ is Kineto's estimate: theoretical occupancy capped by the grid, not measured)\n",
                  render_rows(kernels, "table", columns.ANALYZE_KERNELS)]
    if ops:
        parts += ["\nCPU ops\n", render_rows(ops, "table", columns.ANALYZE_OPS)]
    if a.stretches:
        parts += ["\nLongest CPU-bound stretches (GPU idle waiting on the host; start from trace start)\n",
                  render_rows(a.stretches, "table", columns.ANALYZE_STRETCHES)]
    if a.ncu:
        parts += ["\nNsight Compute beside the trace (derived = bytes the kernel must move / trace duration; "
                  "ncu = DRAM bytes measured)\n",
                  render_rows([r for r in a.ncu if r["matched"]], "table", columns.ANALYZE_NCU)]
    if a.telemetry:
        rows = [{"series": k, **v} for k, v in a.telemetry.items()]
        parts += ["\nNVML telemetry over the profiled window\n", render_rows(rows, "table")]
    return "".join(parts)


def render_comparison(comp: Any, top: int) -> str:
    """The text report of a :class:`~bambaprof.analysis.compare.Comparison`: summary metrics, then the
    first ``top`` kernel and op rows by impact, then notes."""
    return ("Summary (baseline -> candidate)\n" + render_rows(comp.summary, "table", columns.COMPARE_SUMMARY)
            + "\nKernels, by impact\n" + render_rows(comp.kernels[:top], "table", columns.COMPARE_KERNELS)
            + "\nCPU ops, by impact\n" + render_rows(comp.ops[:top], "table", columns.COMPARE_OPS)
            + "".join(f"note: {n}\n" for n in comp.notes))
