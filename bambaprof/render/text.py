"""Terminal renderings of an analysis and a comparison: the tables ``analyze`` and ``compare`` print."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from .._untrusted import printable
from . import columns
from .tables import format_cell, render_rows

#: Copy rows the full text report shows (``--table copies`` shows them all).
COPY_ROWS = 10


def summary_table_rows(summary: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The analysis summary as ``metric``/``value`` rows, each value written in the unit its name ends in; a mapping
    (skipped events by kind, peak TFLOP/s by dtype class) as ``key value`` pairs."""
    rows = []
    for key, value in summary.items():
        kind = next((k for suffix, k in columns.SUMMARY_KINDS.items() if key.endswith(suffix)), "text")
        if isinstance(value, dict):
            cell = ", ".join(f"{printable(str(k))} {format_cell(v, 'num') if isinstance(v, float) else printable(str(v))}"
                             for k, v in value.items())
        else:
            cell = format_cell(value, kind)
        rows.append({"metric": key, "value": cell})
    return rows


#: The tables of op calls that ``bambaprof analyze`` shows when they have rows: (the analysis's attribute, the title
#: line, the columns), in order.
_OP_TABLES = (
    ("depthwise_convs", "\nDepthwise convolutions on ATen's generic kernels (floor: input, weight and output moved once)\n",
     columns.ANALYZE_DEPTHWISE),
    ("growing_cats", "\nTensors grown by torch.cat call after call (each call copies the whole tensor)\n",
     columns.ANALYZE_GROWING),
    ("projections", "\nMatrix products of one activation shape run one after another (weights that could be stacked; "
     "at stake: the most stacking could save)\n", columns.ANALYZE_PROJECTIONS),
    ("kv_repeats", "\nKeys and values copied to the query's heads before attention (grouped-query attention by "
     "repeating)\n", columns.ANALYZE_KV_REPEATS),
    ("prefill_logits", "\nPrefills that computed logits at every prompt position before decode steps (which read the "
     "last position's)\n", columns.ANALYZE_PREFILL_LOGITS),
    ("generation", "\nForwards on one token more each time (generation without a cache; recomputed: time on tokens an "
     "earlier forward ran)\n", columns.ANALYZE_GENERATION),
    ("checkpointing", "\nForward ops recomputed in the backward pass (activation checkpointing)\n",
     columns.ANALYZE_CHECKPOINT),
    ("optimizer", "\nOptimizer steps (GPU idle: inside their kernels' windows, first start to last end, with no GPU "
     "activity running)\n", columns.ANALYZE_OPTIMIZER),
    ("contractions", "\nContractions computed elementwise (a broadcast product stored, then reduced; floor: the "
     "contraction at once, operands and result moved once; einsum over the operands squeezed)\n",
     columns.ANALYZE_CONTRACTIONS),
)


def render_analysis(a: Any, kernels: Sequence[Dict[str, Any]], ops: Sequence[Dict[str, Any]]) -> str:
    """The text report of an :class:`~bambaprof.analysis.Analysis`: summary, notes, the given kernel and op
    rows, CPU-bound stretches, Nsight Compute beside the trace, telemetry."""
    parts = []
    if a.findings:
        parts += ["Findings (most GPU time at stake first)\n", render_findings(a.findings), "\n"]
    parts += ["Summary (times in us)\n", render_rows(summary_table_rows(a.summary), "table")]
    if a.notes:
        parts.append("\n" + "\n".join(f"note: {printable(n)}" for n in a.notes) + "\n")
    phases = phase_rows(a)
    if phases:
        parts += ["\nPhases (GPU time under each profiler range; layers summed)\n",
                  render_rows(phases[:PHASE_ROWS], "table", columns.ANALYZE_PHASES)]
    if getattr(a, "ssd", None):
        parts += ["\nSSD kernels (recognised by name: the chunked scan's steps first, then the rest of the mixer)\n",
                  render_rows(a.ssd, "table", columns.ANALYZE_SSD)]
    if a.module_kinds:
        parts += ["\nModules (GPU time under each nn.Module call, host time of its calls less the calls inside; "
                  "instance numbers folded, so layers are summed)\n",
                  render_rows(a.module_kinds[:PHASE_ROWS], "table", module_columns(a))]
    if kernels:
        parts += ["\nKernels (% kernel time: share of summed kernel, memcpy and memset time, which overlapping streams "
                  "count twice; est occ is Kineto's estimate: theoretical occupancy capped by the grid, not measured)\n",
                  render_rows(kernels, "table", [c for c in columns.ANALYZE_KERNELS if not c.key.startswith("sampled_")
                                                  or any(k.get(c.key) is not None for k in kernels)])]
    if ops:
        parts += ["\nCPU ops\n", render_rows(ops, "table", columns.ANALYZE_OPS)]
    if getattr(a, "attention", None):
        parts += ["\nAttention by backend (math, flex-eager and unfused store the score matrix; floor: attention at once, "
                  "q, k, v and the output moved once; backward: kernels autograd ran for the calls)\n",
                  render_rows(a.attention, "table", columns.ANALYZE_ATTENTION)]
    if any(r["breaks"] for r in getattr(a, "compiled_calls", None) or ()):
        parts += ["\nCalls of torch.compile'd code (outside: host time outside their graphs; GPU idle meanwhile)\n",
                  render_rows(a.compiled_calls, "table", columns.ANALYZE_COMPILED)]
    for attr, title, table_columns in _OP_TABLES:
        if getattr(a, attr, None):
            parts += [title, render_rows(getattr(a, attr), "table", table_columns)]
    if getattr(a, "copies", None):
        more = len(a.copies) - COPY_ROWS
        parts += ["\nCopies on the device (cast: another dtype; layout: made contiguous; copy: any other; caller: the "
                  "op that asked for it)\n", render_rows(a.copies[:COPY_ROWS], "table", columns.ANALYZE_COPIES)]
        if more > 0:
            parts.append(f"({more} smaller groups left out: --table copies lists them all)\n")
    if getattr(a, "collectives", None):
        parts += ["\nCollectives (NCCL/RCCL kernels by kind; exposed: no compute kernel ran beside them on their "
                  "device)\n", render_rows(a.collectives, "table", columns.ANALYZE_COLLECTIVES)]
    if getattr(a, "syncs", None):
        parts += ["\nHost-device synchronisations inside the GPU window (GPU empty after: until the next launch, "
                  "when nothing else ran)\n", render_rows(a.syncs, "table", columns.ANALYZE_SYNCS)]
    if getattr(a, "allocations", None):
        parts += ["\nMemory allocation calls inside the GPU window (GPU idle: during each call, and after it until the "
                  "next activity when nothing else ran)\n", render_rows(a.allocations, "table",
                                                                        columns.ANALYZE_ALLOCATIONS)]
    if getattr(a, "transfers", None):
        parts += ["\nCopies between host and device (no kernel beside: the time no kernel ran on their device while "
                  "they did)\n", render_rows(a.transfers, "table", columns.ANALYZE_TRANSFERS)]
    if a.stretches:
        parts += ["\nLongest CPU-bound stretches (GPU idle waiting on the host; start from trace start)\n",
                  render_rows(a.stretches, "table", [c for c in columns.ANALYZE_STRETCHES if c.key != "cpu_module"
                                                     or any(s.get("cpu_module") for s in a.stretches)])]
    if a.ncu:
        parts += ["\nNsight Compute beside the trace (derived = bytes the kernel must move / trace duration; "
                  "ncu = DRAM bytes measured)\n",
                  render_rows([r for r in a.ncu if r["matched"]], "table",
                              _known(columns.ANALYZE_NCU, a.ncu, columns.NCU_OPTIONAL_KEYS))]  # where collected
    if a.telemetry:
        rows = [{"series": k, **v} for k, v in a.telemetry.items()]
        what = "Nsight Systems' sampled GPU metrics over the GPU window" if all(
            k.startswith("nsys.") for k in a.telemetry) else "NVML telemetry over the profiled window"
        parts += [f"\n{what}\n", render_rows(rows, "table")]
    return "".join(parts)


#: Phases (and module kinds) shown in the text report (JSON and CSV carry all).
PHASE_ROWS = 15


def phase_rows(a: Any) -> List[Dict[str, Any]]:
    """The phase table to show: layers summed (``phase_kinds``) when the trace has ranges, else nothing."""
    rows = a.phase_kinds if len(a.phase_kinds) < len(a.phases) else a.phases
    return [] if all(r["phase"] == "(no range)" for r in rows) else list(rows)


def module_columns(a: Any) -> List[Any]:
    """The module table's columns: the host side only for a trace without GPU work."""
    gpu = any(a.summary.get(k) for k in ("kernel_count", "memcpy_count", "memset_count"))
    return columns.ANALYZE_MODULES if gpu else columns.ANALYZE_MODULES_CPU


def render_findings(findings: Sequence[Dict[str, Any]]) -> str:
    """Each finding as its severity, id and sentence, then its suggestion on the next line."""
    lines = []
    for f in findings:
        stake = f" [{format_cell(f['time_us'], 'us')} us at stake]" if f.get("time_us") is not None else ""
        lines.append(f"- {f['severity']:<6} {f['id']}{stake}: {printable(f['message'])}")
        if f.get("suggestion"):
            lines.append(f"         try: {printable(f['suggestion'])}")
    return "\n".join(lines) + "\n"


def _in_megabytes(row: Dict[str, Any]) -> Dict[str, Any]:
    """A summary row in bytes written in MB, or GB from 1 GB up (the table's; the JSON keeps bytes)."""
    if row.get("unit") != "bytes":
        return row
    values = {k: row.get(k) for k in ("baseline", "candidate", "delta")}
    known = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    unit, scale = ("GB", 1e9) if max((abs(v) for v in known.values()), default=0.0) >= 1e9 else ("MB", 1e6)
    return {**row, **{k: v / scale for k, v in known.items()}, "unit": unit}


def _known(cols: Sequence[Any], rows: Sequence[Dict[str, Any]], optional: Sequence[str]) -> List[Any]:
    """``cols`` less those of ``optional`` keys that no row knows (all None: warp states ncu did not collect, the
    GPU time of CPU-only traces)."""
    return [c for c in cols if c.key not in optional or any(r.get(c.key) is not None for r in rows)]


def render_comparison(comp: Any, top: int) -> str:
    """The text report of a :class:`~bambaprof.analysis.compare.Comparison`: summary metrics, the findings of
    both sides' diagnoses (new, resolved, kept), then the first ``top`` phase, module, kernel and op rows by
    impact (phases and modules where the traces have them and their time changed), then notes."""
    parts = []
    if comp.summary:
        parts.append("Summary (baseline -> candidate)\n"
                     + render_rows([_in_megabytes(r) for r in comp.summary], "table", columns.COMPARE_SUMMARY))
    findings = getattr(comp, "findings", ())
    if findings:
        parts.append("Findings (each side's diagnosis: new in the candidate, resolved, kept, or not judged by the side "
                     "without it)\n"
                     + render_rows(findings, "table", columns.COMPARE_FINDINGS, compact=True))
    for rows, what, cols in ((getattr(comp, "phases", ()), "Phases (profiler ranges, layers summed)",
                              columns.COMPARE_PHASES),
                             (getattr(comp, "modules", ()), "Modules (nn.Module calls, instance numbers folded)",
                              columns.COMPARE_MODULES),
                             (getattr(comp, "ssd", ()), "SSD steps (kernels recognised by name)",
                              columns.COMPARE_SSD)):
        changed = [r for r in rows if r["delta_us"]]
        if changed and any(r.get(cols[0].key) not in ("(no range)", "(no module)") for r in rows):
            parts.append(f"{what} per profiled step, by impact\n"
                         + render_rows(changed[:top], "table", cols, compact=True))
    if comp.kernels:  # an empty table is not printed (CPU-only traces have no kernels)
        parts.append("Kernels per profiled step, by impact\n"
                     + render_rows(comp.kernels[:top], "table", columns.COMPARE_KERNELS))
    if comp.ops:
        shown = _known(columns.COMPARE_OPS, comp.ops, [c.key for c in columns.COMPARE_OPS if c.key.startswith("gpu_")])
        parts.append("CPU ops per profiled step, by impact\n" + render_rows(comp.ops[:top], "table", shown))
    return "\n".join(parts) + "".join(f"note: {printable(n)}\n" for n in comp.notes)
