"""``bambaprof analyze``: a Kineto trace (or run directory) into kernel, op, launch and idle metrics."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import click

from ..analysis.analysis import KERNEL_SORT_KEYS, OP_SORT_KEYS, Analysis, analyze, select_rows
from ..analysis.contractions import EXPANSION_MIN
from ..analysis.fleet import (
    BACKEND_COLLECTIVE_OPS,
    Fleet,
    Input,
    analyze_fleet,
    folder_traces,
    process_sources,
    rank_inputs,
)
from ..analysis.idle import idle_rows
from ..analysis.nsys import BACKEND as NSYS_BACKEND
from ..analysis.parse import BACKENDS
from ..analysis.rocpd import BACKEND as ROCPD_BACKEND
from ..analysis.rocprof import BACKENDS as ROCPROF_BACKENDS
from ..analysis.source import TraceSource
from ..errors import BambaprofError, UsageError
from ..render.columns import (
    ANALYZE_ALLOCATIONS,
    ANALYZE_ATTENTION,
    ANALYZE_CHECKPOINT,
    ANALYZE_COLLECTIVES,
    ANALYZE_COMPILED,
    ANALYZE_CONTRACTIONS,
    ANALYZE_COPIES,
    ANALYZE_DEPTHWISE,
    ANALYZE_GENERATION,
    ANALYZE_GROWING,
    ANALYZE_IDLE,
    ANALYZE_KERNELS,
    ANALYZE_KV_REPEATS,
    ANALYZE_OPS,
    ANALYZE_OPTIMIZER,
    ANALYZE_PHASES,
    ANALYZE_PREFILL_LOGITS,
    ANALYZE_PROJECTIONS,
    ANALYZE_SSD,
    ANALYZE_STEPS,
    ANALYZE_SYNCS,
    ANALYZE_TRANSFERS,
    FLEET_KERNELS,
    FLEET_RANKS,
)
from ..render.tables import render_rows, to_json
from ..render.text import module_columns, render_analysis, render_findings
from ..run import is_run_dir
from ._common import POSITIVE, emit, format_option, output_option, progress


def _render_fleet(fleet: Fleet, fmt: str) -> str:
    if fmt == "json":
        return to_json(fleet.to_dict())
    if fmt == "csv":
        return render_rows(fleet.to_dict()["ranks"], "csv")
    c = fleet.cross
    ranks = fleet.to_dict()["ranks"]
    lines = [render_findings(fleet.findings) if fleet.findings else "", ("Traces\n" if fleet.note else "Ranks\n")
             + render_rows([r for r in ranks if not r["error"]] or ranks, "table", FLEET_RANKS, compact=True)]
    lines.extend(f"rank {r['rank']} unreadable: {r['error']}" for r in ranks if r["error"])
    lines.extend(f"rank {r['rank']} left out of the cross-rank figures: its trace holds launch calls but no GPU "
                 "activity (the profiler's CUDA activity off, or its records lost)" for r in ranks if r.get("gpu_unrecorded"))
    if fleet.note:
        lines.append(fleet.note + "\n")
    if c:
        vs = f" ({c['slowest_over_median_pct']:+.1f}%)" if c["slowest_over_median_pct"] is not None else ""
        lines.append(f"slowest rank {c['slowest_rank']}: {c['slowest_us']:,.0f} us of work ({c['work']}) against a "
                     f"median of {c['median_us']:,.0f} us{vs}; collectives "
                     f"{c['collective_us']['min']:,.0f}-{c['collective_us']['max']:,.0f} us per rank\n")
    if fleet.kernel_spread:
        lines.append("Top kernels across ranks\n" + render_rows(fleet.kernel_spread, "table", FLEET_KERNELS))
    return "\n".join(x for x in lines if x)


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@format_option(("table", "json", "csv"))
@output_option()
@click.option("--top", type=int, default=None, help="Show the first N rows of each table [table default: 20].")
@click.option("--sort", "sort_key", default=None,
              help=f"Sort key: kernels {', '.join(KERNEL_SORT_KEYS)}; ops {', '.join(OP_SORT_KEYS)}.")
@click.option("--filter", "pattern", default=None, metavar="REGEX", help="Keep kernels/ops whose name matches REGEX.")
@click.option("--table", "which", type=click.Choice(["all", "kernels", "ops", "phases", "modules", "ssd", "findings",
                                                      "syncs", "allocations", "transfers", "idle", "collectives",
                                                      "steps", "contractions", "copies", "attention",
                                                      "optimizer", "compiled", "convs", "growing",
                                                      "projections", "repeats", "logits", "generation",
                                                      "checkpoint"]),
              default="all",
              show_default=True, help="Which tables to show (CSV holds one table: kernels unless another is named).")
@click.option("--peak-bandwidth", type=POSITIVE, default=None, metavar="GB/s",
              help="Peak DRAM bandwidth to compare against (default: the run's measurement or the datasheet).")
@click.option("--backend", type=click.Choice(list(BACKENDS)), default="auto", show_default=True,
              help="JSON parser backend.")
@click.option("--jobs", type=int, default=None, metavar="N",
              help="Worker processes that decode a large trace (or, for a folder of traces, that read them) "
                   "[default: one per CPU].")
@click.option("--ncu", "ncu_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Nsight Compute CSV (ncu --csv, either page) or report (.ncu-rep, exported by ncu) of the same "
                   "workload: show measured DRAM bandwidth, occupancy and warp states beside the derived values.")
@click.option("--process", default=None, metavar="PID|all",
              help="Of an Nsight Systems export holding several processes (one per rank): analyse that pid "
                   "alone, or 'all' of them as one trace [default: one rank per process, side by side].")
def analyze_command(paths: Tuple[str, ...], fmt: str, output: Optional[str], top: Optional[int], sort_key: Optional[str],
                    pattern: Optional[str], which: str, peak_bandwidth: Optional[float], backend: str,
                    jobs: Optional[int], ncu_csv: Optional[str], process: Optional[str]) -> None:
    """Analyse a Kineto trace (.json/.json.gz), a run directory, or several ranks' traces (a folder of them,
    or the files one after the other: side by side, one row per rank).

    An Nsight Systems export (nsys export --type sqlite: .sqlite or .sqlite.gz) is read too, and a .nsys-rep
    is exported first where the nsys CLI is installed: kernels, copies, memsets, CUDA API calls, NVTX ranges.
    An export of several processes with GPU work (one per rank) shows one rank per process, as a folder does.
    rocprofv3's CSV output is read from its kernel trace (<prefix>kernel_trace.csv) or its folder, its JSON
    output (<prefix>results.json) and its rocpd database (ROCm 7's default output, <pid>_results.db, gzipped or
    not) as they are.

    Reports span, GPU busy and idle time (waiting on the host vs other),
    launch overhead, CPU-bound stretches, host-device synchronisations (and
    the time the GPU sat empty after them), peak memory and where it was
    reached, and per kernel: time, launch configuration, Kineto's estimated
    and the theoretical occupancy with its limiter, waves, bytes moved and
    achieved GB/s against peak. Bytes come from kernel metadata or the
    launching op's shapes, else unknown. GPU time goes to profiler ranges
    (phases), to nn.Module calls (traces recorded with with_stack=True) and,
    for Mamba2 kernels recognised by name, to SSD steps; findings say what to
    try next.
    """
    if top is not None and top <= 0:
        raise UsageError(f"--top must be positive, got {top}")
    if jobs is not None and jobs <= 0:
        raise UsageError(f"--jobs must be positive, got {jobs}")
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
    if process is not None and process != "all":
        if not process.isdigit():
            raise UsageError(f"--process takes a pid or 'all', got {process!r}")
        if len(paths) > 1 or folder_traces(paths[0]) is not None or not Path(paths[0]).is_file():
            raise UsageError("--process picks one process of an Nsight Systems export: give the export's file")
        item: Input = TraceSource(Path(paths[0]), process=int(process))
        _analyze_one(item, fmt, output, top, kernel_sort, op_sort, pattern, which, peak_bandwidth, backend, jobs,
                     ncu_csv)
        return
    if len(paths) > 1 and any(is_run_dir(Path(p)) for p in paths):
        raise UsageError("several inputs are read as the ranks of one job: to put runs side by side, use "
                         "`bambaprof compare` or `bambaprof report`")
    items: List[Input] = list(rank_inputs(paths))
    with contextlib.ExitStack() as held:
        if process is None:  # an export of several processes: one rank each
            items = list(held.enter_context(process_sources(items)))
        if len(items) > 1:
            if ncu_csv is not None:
                raise UsageError("--ncu goes with one trace, not with several ranks")
            if which != "all" or sort_key or pattern:
                given = ", ".join(f for f, v in (("--table", which != "all"), ("--sort", sort_key),
                                                 ("--filter", pattern)) if v)
                raise UsageError(f"{given} picks among one trace's tables and rows, and {len(items)} ranks are "
                                 "shown side by side: name one rank's trace to see its tables")
            fleet = analyze_fleet(items, workers=jobs, backend=backend)
            if all(r["error"] for r in fleet.ranks):
                where = paths[0] if len(paths) == 1 else f"{len(paths)} inputs"
                raise BambaprofError(f"{where}: none of its {len(items)} traces could be read "
                                     f"({fleet.ranks[0]['error']})")
            emit(_render_fleet(fleet, fmt), output)
            return
        _analyze_one(items[0], fmt, output, top, kernel_sort, op_sort, pattern, which, peak_bandwidth, backend,
                     jobs, ncu_csv)


def _analyze_one(item: Input, fmt: str, output: Optional[str], top: Optional[int], kernel_sort: Optional[str],
                 op_sort: Optional[str], pattern: Optional[str], which: str, peak_bandwidth: Optional[float],
                 backend: str, jobs: Optional[int], ncu_csv: Optional[str]) -> None:
    """One trace's tables, rendered and written."""
    with progress("reading the trace", 1) as bar:
        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        source = item if isinstance(item, TraceSource) else str(item)
        a = analyze(source, backend=backend, peak_gbps=peak_bandwidth, ncu_csv=ncu_csv, progress=advance, jobs=jobs)
    limit = top if top is not None else (20 if fmt == "table" else None)
    kernels = select_rows(a.kernels, kernel_sort, limit, pattern) if which in ("all", "kernels") else []
    ops = select_rows(a.ops, op_sort, limit, pattern) if which in ("all", "ops") else []
    if fmt == "table" and which in _ONE_TABLE:
        text = _ONE_TABLE[which](a)
    elif fmt == "table":
        text = render_analysis(a, kernels, ops)
    elif fmt == "csv":
        tables = {"ops": ops, "phases": a.phases, "modules": a.modules, "ssd": a.ssd, "findings": a.findings,
                  "syncs": a.syncs, "allocations": a.allocations, "transfers": a.transfers,
                  "idle": idle_rows(a.summary.get("idle_by_cause")), "collectives": a.collectives, "steps": a.steps,
                  "contractions": a.contractions or [], "copies": a.copies or [], "attention": a.attention,
                  "optimizer": a.optimizer or [], "compiled": a.compiled_calls or [],
                  "convs": a.depthwise_convs or [], "growing": a.growing_cats or [],
                  "projections": a.projections or [], "repeats": a.kv_repeats or [],
                  "logits": a.prefill_logits or [],
                  "generation": a.generation or [],
                  "checkpoint": a.checkpointing or []}
        text = render_rows(tables.get(which, kernels), "csv", _CSV_COLUMNS.get(which if which in tables else "kernels"))
    else:
        payload = a.to_dict()
        payload["kernels"], payload["ops"] = kernels, ops
        text = to_json(payload)
    emit(text, output)



#: Why a table of host calls is unknown: the trace holds none of them.
_NO_HOST_CALLS = ("the trace holds no runtime or driver calls, only GPU activity (record the host side: torch.profiler's "
                  "ProfilerActivity.CPU, nsys --trace=cuda, rocprofv3 --hip-trace)")


def _rows_or_why(rows: List[Dict[str, Any]], columns: Any, unknown: bool, why_unknown: str, why_none: str) -> str:
    """A ``--table`` of ``rows`` as text; without rows, why: ``why_unknown`` where the trace cannot show them
    (``unknown``), else ``why_none`` (it shows there are none)."""
    if rows:
        return render_rows(rows, "table", columns)
    return (why_unknown if unknown else why_none) + "\n"


def _ssd_text(a: Analysis) -> str:
    """``--table ssd``: the SSD kernels by step, or why there are none."""
    if a.ssd:
        return render_rows(a.ssd, "table", ANALYZE_SSD)
    return ("no SSD kernels recognised by name in this trace (mamba_ssm's, causal_conv1d's, bambaprof's)"
            + ("; its profiler ranges name the steps: --table phases" if a.summary.get("phase_coverage_pct")
               else "") + "\n")


def _collectives_text(a: Analysis) -> str:
    """``--table collectives``: the collective kernels by kind, or why there are none (and, for a CPU job, the
    collectives its CPU ops ran: gloo's)."""
    if a.collectives:
        return render_rows(a.collectives, "table", ANALYZE_COLLECTIVES)
    cpu = [o for o in a.ops if o["name"].startswith(BACKEND_COLLECTIVE_OPS)]
    also = (f"; its CPU ops ran {sum(o['count'] for o in cpu):,} collectives ({', '.join(o['name'] for o in cpu[:3])}"
            f"), {sum(o['cpu_total_us'] for o in cpu):,.1f} us: see --table ops") if cpu else ""
    return f"no collective kernels (NCCL, RCCL, MSCCL) in this trace{also}\n"


def _contractions_text(a: Analysis) -> str:
    """``--table contractions``: contractions computed as a broadcast product and a reduction, or why there are
    none (none found, or no shapes to find them by)."""
    return _rows_or_why(a.contractions or [], ANALYZE_CONTRACTIONS, a.contractions is None,
                        f"contractions unknown: the trace holds no CPU ops with their input shapes ({_ops_from(a)})",
                        "no contraction computed as a broadcast product and a reduction (aten::mul at least "
                        f"{EXPANSION_MIN:g}x its larger input, then aten::sum or aten::mean of it)")


def _attention_text(a: Analysis) -> str:
    """``--table attention``: the attention calls by backend and shapes, and attention kernels found by name; or
    why there are none."""
    return _rows_or_why(a.attention, ANALYZE_ATTENTION, a.summary.get("attention_calls") is None and not a.attention,
                        f"attention calls unknown: the trace holds no CPU ops ({_ops_from(a)}), and no kernel whose "
                        "name is an attention kernel's",
                        "no attention in this trace (scaled_dot_product_attention calls, matmul-softmax-matmul "
                        "chains, or kernels named as FlashAttention's, the memory-efficient kernels', cuDNN's)")


def _copies_text(a: Analysis) -> str:
    """``--table copies``: the device's copies by kind, dtypes, shape and caller, or why there are none."""
    return _rows_or_why(a.copies or [], ANALYZE_COPIES, a.copies is None,
                        f"copies unknown: the trace holds no CPU ops to tell them by ({_ops_from(a)})",
                        "no copies made by aten::copy_ on the device in this trace")


#: The readers of other tools' exports (``summary.parser_backend``), by the tool that wrote them.
_EXPORTS = {NSYS_BACKEND: "Nsight Systems", ROCPD_BACKEND: "rocpd", **dict.fromkeys(ROCPROF_BACKENDS, "rocprofv3")}


def _ops_from(a: Analysis) -> str:
    """Where a trace's CPU ops and their shapes come from, for a table that needs them: another tool's export holds
    none at all."""
    how = ("the PyTorch profiler's ProfilerActivity.CPU with record_shapes=True; bambaprof profile and "
           "bambaprof.record record them")
    tool = _EXPORTS.get(a.summary.get("parser_backend"))  # kernels and API calls, no aten ops
    return f"an export of {tool} records no PyTorch ops: {how}" if tool else how


def _syncs_text(a: Analysis) -> str:
    """``--table syncs``: the synchronising calls, or why there are none (the trace made none, or holds no runtime
    calls that could show one)."""
    return _rows_or_why(a.syncs, ANALYZE_SYNCS, a.summary.get("sync_count") is None,
                        f"synchronisations unknown: {_NO_HOST_CALLS}",
                        "no synchronising calls inside the GPU window (device, stream or event syncs, synchronous "
                        "copies)")


def _allocations_text(a: Analysis) -> str:
    """``--table allocations``: the memory allocation calls inside the GPU window, or why there are none."""
    return _rows_or_why(a.allocations, ANALYZE_ALLOCATIONS, a.summary.get("allocation_calls") is None,
                        f"allocation calls unknown: {_NO_HOST_CALLS}",
                        "no memory allocation calls inside the GPU window (cudaMalloc, cudaFree, pinned host memory, "
                        "their driver, HIP and Unified Runtime forms)")


def _transfers_text(a: Analysis) -> str:
    """``--table transfers``: the copies between host and device, or why there are none."""
    return _rows_or_why(a.transfers, ANALYZE_TRANSFERS, a.summary.get("transfer_count") is None,
                        "copies between host and device unknown: the trace holds no GPU activity, or its profiler "
                        "records copies only when asked (rocprofv3 --memory-copy-trace)",
                        "no copies between host and device memory in this trace")


def _module_text(a: Analysis) -> str:
    """``--table modules``: GPU time by nn.Module call path, or why there is none."""
    if not a.modules:
        return ("no nn.Module calls in this trace: the PyTorch profiler records them with with_stack=True "
                "(bambaprof profile --with-stack)\n")
    return render_rows(a.modules, "table", module_columns(a))


#: ``--table NAME`` as CSV with no rows: the header its columns name.
_CSV_COLUMNS = {"phases": ANALYZE_PHASES, "ssd": ANALYZE_SSD, "syncs": ANALYZE_SYNCS,
                "allocations": ANALYZE_ALLOCATIONS, "transfers": ANALYZE_TRANSFERS, "idle": ANALYZE_IDLE,
                "collectives": ANALYZE_COLLECTIVES,
                "steps": ANALYZE_STEPS,
                "ops": ANALYZE_OPS, "kernels": ANALYZE_KERNELS,
                "contractions": ANALYZE_CONTRACTIONS, "copies": ANALYZE_COPIES, "attention": ANALYZE_ATTENTION,
                "optimizer": ANALYZE_OPTIMIZER, "compiled": ANALYZE_COMPILED,
                "convs": ANALYZE_DEPTHWISE, "growing": ANALYZE_GROWING, "projections": ANALYZE_PROJECTIONS,
                "repeats": ANALYZE_KV_REPEATS, "logits": ANALYZE_PREFILL_LOGITS,
                "generation": ANALYZE_GENERATION,
                "checkpoint": ANALYZE_CHECKPOINT}

#: ``--table NAME`` shown alone as a table: how each is written.
_ONE_TABLE: Dict[str, Callable[[Analysis], str]] = {
    "phases": lambda a: render_rows(a.phases, "table", ANALYZE_PHASES),
    "modules": _module_text,
    "ssd": _ssd_text,
    "syncs": _syncs_text,
    "allocations": _allocations_text,
    "transfers": _transfers_text,
    "idle": lambda a: render_rows(idle_rows(a.summary.get("idle_by_cause")), "table", ANALYZE_IDLE)
    if a.summary.get("idle_by_cause") else "no GPU activity in this trace: no GPU idle time to split\n",
    "collectives": lambda a: _collectives_text(a),
    "contractions": _contractions_text,
    "copies": _copies_text,
    "attention": _attention_text,
    "checkpoint": lambda a: _rows_or_why(a.checkpointing or [], ANALYZE_CHECKPOINT, a.checkpointing is None,
                                         f"recomputation unknown: the trace holds no CPU ops ({_ops_from(a)})",
                                         "no forward op recomputed in the backward pass (no activation "
                                         "checkpointing, or no backward pass)"),
    "generation": lambda a: _rows_or_why(a.generation or [], ANALYZE_GENERATION, a.generation is None,
                                        f"forwards unknown: the trace holds no CPU ops with shapes ({_ops_from(a)})",
                                        "no forward ran on one token more than the last (the weight products' token "
                                        "counts do not grow run after run)"),
    "growing": lambda a: _rows_or_why(a.growing_cats or [], ANALYZE_GROWING, a.growing_cats is None,
                                      f"concatenations unknown: the trace holds no CPU ops with shapes ({_ops_from(a)})",
                                      "no tensor grown by torch.cat call after call in this trace"),
    "projections": lambda a: _rows_or_why(a.projections or [], ANALYZE_PROJECTIONS, a.projections is None,
                                          f"matrix products unknown: the trace holds no CPU ops with shapes "
                                          f"({_ops_from(a)})",
                                          "no two matrix products of one activation shape ran one after another "
                                          "(outside the backward pass, not square chains) in this trace"),
    "repeats": lambda a: _rows_or_why(a.kv_repeats or [], ANALYZE_KV_REPEATS, a.kv_repeats is None,
                                      f"copies unknown: the trace holds no CPU ops with shapes ({_ops_from(a)})",
                                      "no keys or values copied to the query's heads before an attention call in "
                                      "this trace"),
    "logits": lambda a: _rows_or_why(a.prefill_logits or [], ANALYZE_PREFILL_LOGITS, a.prefill_logits is None,
                                     f"products unknown: the trace holds no CPU ops with shapes ({_ops_from(a)})",
                                     "no prefill computed logits at every position before a decode step (or no "
                                     "embedding, LM head or decode step in this trace)"),
    "convs": lambda a: _rows_or_why(a.depthwise_convs or [], ANALYZE_DEPTHWISE, a.depthwise_convs is None,
                                    "depthwise convolutions unknown: the trace holds no GPU activity or no CPU ops "
                                    f"({_ops_from(a)})",
                                    "no depthwise convolution ran ATen's generic kernels (conv_depthwise2d, "
                                    "conv_depthwise3d) in this trace"),
    "compiled": lambda a: _rows_or_why(a.compiled_calls or [], ANALYZE_COMPILED, a.compiled_calls is None,
                                       f"compiled calls unknown: the trace holds no CPU ops ({_ops_from(a)})",
                                       "no torch.compile'd code ran in this trace (Dynamo records each call as "
                                       "Torch-Compiled Region: <frame>/<compile>)"),
    "optimizer": lambda a: _rows_or_why(a.optimizer or [], ANALYZE_OPTIMIZER, a.optimizer is None,
                                        f"optimizer steps unknown: the trace holds no CPU ops ({_ops_from(a)})",
                                        "no optimizer steps in this trace (torch.optim records each as "
                                        "Optimizer.step#<class>.step)"),
    "findings": lambda a: render_findings(a.findings),
    "steps": lambda a: render_rows(a.steps, "table", ANALYZE_STEPS) if a.steps else (
        "no profiled steps in this trace (ProfilerStep#<n> ranges: torch.profiler's schedule with prof.step())\n"),
}
