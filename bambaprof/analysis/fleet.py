"""Several ranks' traces at once: a per-rank summary and the cross-rank view of a distributed job.

A folder written by ``tensorboard_trace_handler`` (``<worker>.<time>.pt.trace.json[.gz]``, one file per rank
or step) holds one trace per file; an Nsight Systems export of a whole job (``nsys profile torchrun ...``)
holds every rank, one process each, and :func:`process_sources` makes each process a trace of its own (its
rank: its position in pid order). :func:`analyze_fleet` parses them in parallel processes and returns:

- one row per trace: its rank (``distributedInfo.rank``; else the process it is one of: each process of an export,
  each worker that ``tensorboard_trace_handler`` named a file after, each other file, numbered in order) and its
  *cycle* (the profiler's schedule repeats write one trace per cycle: a worker's traces in time order, 0, 1, ...;
  ``None`` where every rank has one trace), span, GPU busy and window, kernel
  time, collectives (NCCL/RCCL kernels, or gloo/c10d CPU ops in a CPU-only job), their share of kernel
  time and, on a GPU, their exposed time, and the trace's error when it could not be read (the others still count);
- the cross-rank view: the slowest rank, the one with the most *work* (GPU busy time less the time its
  collectives ran with no compute beside them, :mod:`.comms`; in a CPU-only job the span less its collectives:
  a straggler arrives last and waits least) and by how much it exceeds the median rank;
  the spread (min, median, max) of GPU busy time; the spread of each top kernel's time across ranks, with
  the rank where it is longest; each rank's collective *wait*, its collective time beyond the least
  any rank spent in collectives (a rank that arrives early waits inside the collective for the others) in the same
  cycle; where ranks have several cycles, each rank's figures are sums over the cycles every rank has. Traces of
  one process alone (its cycles) have no cross-rank view: :attr:`Fleet.note` says so;
- findings: ``slowest-rank`` when the slowest rank's work exceeds the median rank's by :data:`SLOWEST_RANK_PCT`
  or more, naming the kernels that differ most.

Times in us.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

from ..diagnose.rules import gpu_unrecorded
from .comms import is_collective_kernel
from .rocprof import is_rocprof
from .source import one_trace_folder

if TYPE_CHECKING:
    from ..errors import BambaprofError
    from .analysis import Analysis
    from .source import TraceSource

#: The slowest rank must exceed the median rank by this much (%) for the ``slowest-rank`` finding.
SLOWEST_RANK_PCT = 10.0
#: CPU ops of CPU-only jobs that are collectives (a GPU job's are its kernels: :func:`.comms.is_collective_kernel`).
COLLECTIVE = re.compile(r"nccl|rccl|gloo|c10d::|all_?reduce|all_?gather|reduce_?scatter|broadcast|alltoall",
                        re.IGNORECASE)
#: The prefixes of the CPU ops that do a collective's work (a backend's own, ``gloo:all_reduce``; the ``c10d::`` ops
#: around them only launch it).
BACKEND_COLLECTIVE_OPS = ("gloo:", "nccl:", "mpi:", "ucc:")
#: A rank's ``idle_cause`` names a cause holding at least this share of its GPU idle time (%).
IDLE_CAUSE_PCT = 5.0
#: Kernels whose spread across ranks is reported.
TOP_KERNELS = 5
#: One input of a command: a path, or a trace source (one process of an Nsight Systems export).
Input = Union[str, "os.PathLike[str]", "TraceSource"]
#: File names of a run directory that are not traces.
_SIDE_FILES = {"manifest.json", "telemetry.json.gz", "launch-map.json.gz", "inductor-kernels.json"}


#: The names of trace files in a folder of traces.
_TRACE_SUFFIXES = (".json", ".json.gz", ".json.bz2", ".json.xz", ".sqlite", ".sqlite.gz", ".db", ".db.gz")


def trace_files(folder: Union[str, Path]) -> List[Path]:
    """The trace files directly in ``folder`` (``*.json`` and ``*.json`` gzipped, bzip2ed or xz'd, Nsight Systems'
    ``*.sqlite`` and ``*.sqlite.gz``, rocprofv3's ``*kernel_trace.csv`` and rocpd databases, ``*.db`` and
    ``*.db.gz``; a run directory's side files left out), by name."""
    out = []
    for p in sorted(Path(folder).iterdir()):
        if p.name in _SIDE_FILES or p.name.startswith("."):
            continue
        if (p.name.endswith(_TRACE_SUFFIXES) or is_rocprof(p)) and p.is_file():
            out.append(p)
    return out


def folder_traces(path: Union[str, "os.PathLike[str]"]) -> Optional[List[Path]]:
    """The trace files of ``path`` when it is a folder of traces (one per rank or step) rather than a run
    directory; ``None`` for anything else (a file, a run directory, a folder read as one trace, see
    :func:`one_trace_folder`, a folder with no trace file)."""
    from ..run import is_run_dir

    p = Path(path)
    if not p.is_dir() or is_run_dir(p) or one_trace_folder(p):
        return None
    return trace_files(p) or None


def rank_inputs(paths: Sequence[Union[str, "os.PathLike[str]"]]) -> List[Path]:
    """The traces several ranks' inputs stand for: a folder of traces for its traces, anything else itself."""
    out: List[Path] = []
    for item in paths:
        out.extend(folder_traces(item) or [Path(item)])
    return out


def expand_inputs(paths: Sequence[Union[str, "os.PathLike[str]"]], members: Optional[set] = None) -> List[Path]:
    """Inputs as ``report`` and ``compare`` take them: a run directory or trace stays itself; a folder of run
    directories (or a sweep root) stands for its ok runs; a folder of traces (one per rank or step) for its
    traces; anything else stays itself (and fails with its own one-line error where it is read).

    ``members``, when given, receives the traces that stand for a folder of traces: a reader may leave out one
    that cannot be read (as ``analyze`` lists an unreadable rank), where an input named on its own must fail."""
    from ..run import is_run_dir, iter_runs

    out: List[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir() and not is_run_dir(p) and not one_trace_folder(p):
            runs = [r.path for r in iter_runs(p) if r.path is not None and r.ok]
            traces = [] if runs else trace_files(p)
            if members is not None and len(traces) > 1:
                members.update(traces)
            out.extend(runs or traces or [p])
        else:
            out.append(p)
    return out


def none_read(what: str, left_out: Sequence[tuple]) -> "BambaprofError":
    """The error for inputs none of which could be read: ``what`` (``input``, ``baseline input``) and the first
    of ``left_out`` (path, why)."""
    from ..errors import BambaprofError

    if not left_out:
        return BambaprofError(f"no {what} to read")
    path, why = left_out[0]
    return BambaprofError(f"no {what} could be read ({Path(path).name}: {why}{', ...' if len(left_out) > 1 else ''})")


def unreadable(path: Path, exc: BaseException) -> str:
    """Why a folder's trace ``path`` could not be read: the error's first line without the path it starts with."""
    from ..errors import first_line, without_path

    return without_path(first_line(exc), path)


@contextlib.contextmanager
def process_sources(items: Sequence[Input]) -> Iterator[List[Union[Path, "TraceSource"]]]:
    """``items`` with each Nsight Systems export (``.sqlite``, ``.sqlite.gz``, ``.nsys-rep``) that holds GPU
    work of several processes (a distributed job under one ``nsys profile torchrun ...``) replaced by one
    :class:`~bambaprof.analysis.source.TraceSource` per process, in pid order, so that each process counts as
    a rank. Each export is opened once (inflated or exported) and held until the block ends; anything else
    stays itself (as a :class:`~pathlib.Path`). Raises :class:`~bambaprof.analysis.source.TraceError` (one
    line) for an export that cannot be opened."""
    from .nsys import database, gpu_processes, is_sqlite, is_unexported_report
    from .source import TraceError, TraceSource

    with contextlib.ExitStack() as held:
        out: List[Union[Path, TraceSource]] = []
        for item in items:
            if isinstance(item, TraceSource):
                out.append(item)
                continue
            p = Path(item)
            if not p.is_file() or not (is_unexported_report(p) or is_sqlite(p)):
                out.append(p)
                continue
            try:
                db = held.enter_context(database(p))
                pids = gpu_processes(db)
            except TraceError as exc:
                raise TraceError(f"{p}: {exc}") from None
            if len(pids) < 2:
                out.append(TraceSource(p, database=db))
            else:
                out.extend(TraceSource(p, process=pid, database=db) for pid in pids)
        yield out


def _rank_row(args: tuple) -> Dict[str, Any]:
    """One trace's row (runs in a worker process: plain data in and out)."""
    path, backend, jobs = args
    from ..errors import BambaprofError
    from .analysis import analyze
    from .source import TraceSource

    process = path.process if isinstance(path, TraceSource) else None
    file = path.label if isinstance(path, TraceSource) else str(path)
    try:
        a = analyze(path, backend=backend, jobs=jobs)
    except BambaprofError as exc:
        return {"file": file, "pid": process, "rank": None, "error": str(exc).splitlines()[0]}
    return rank_row(a, file, process)


def rank_row(a: "Analysis", file: str, pid: Optional[int] = None) -> Dict[str, Any]:
    """A trace's row from its analysis: ``rank`` is the one the trace names (``distributedInfo.rank``), else None
    until :func:`fleet_of` numbers the processes; ``pid``, the process of an Nsight Systems export it was read
    from."""
    s = a.summary
    rank = s.get("rank")
    kernels = {k["name"]: k["total_us"] for k in a.kernels if k["kind"] == "kernel"}
    on_gpu = bool(kernels)
    if on_gpu:
        collective = sum(t for n, t in kernels.items() if is_collective_kernel(n))
    else:  # a CPU-only job: its collectives are CPU ops; the backend's own (gloo:...) last until every rank
        # joined, the c10d:: calls only launch them: count one kind, never both
        ops = [o for o in a.ops if COLLECTIVE.search(o["name"])]
        work = [o for o in ops if o["name"].startswith(BACKEND_COLLECTIVE_OPS)]
        collective = sum(o["cpu_total_us"] for o in (work or ops))
    top = next((f for f in a.findings if f.get("id") != "slowest-rank"), None)
    unrecorded = gpu_unrecorded(a)
    if unrecorded:  # GPU work whose activity is not in the trace: no figure of it is known
        collective = None
    return {
        "file": file, "pid": pid, "rank": rank if rank is not None and rank >= 0 else None, "error": None,
        "platform": s["platform"], "span_us": s["span_us"], "gpu_busy_us": s["gpu_busy_us"] if on_gpu else None,
        "gpu_window_us": s["gpu_window_us"] if on_gpu else None, "kernel_us": s["kernel_us"] if on_gpu else None,
        "collective_us": collective,
        "collective_share_pct": 100.0 * collective / s["kernel_us"] if on_gpu and s["kernel_us"] else None,
        "collective_exposed_us": s.get("collective_exposed_us") if on_gpu else None,
        "top_finding": top["id"] if top else None, "top_finding_us": top.get("time_us") if top else None,
        "sync_count": s.get("sync_count"), "sync_drain_us": s.get("sync_drain_us") if on_gpu else None,
        "transfer_exposed_us": s.get("transfer_exposed_us") if on_gpu else None,
        "gpu_idle_us": (s.get("idle_by_cause") or {}).get("idle") if on_gpu else None,
        "idle_cause": _main_idle_cause(s.get("idle_by_cause")) if on_gpu else None,
        "kernels": kernels, "gpu_unrecorded": unrecorded,
    }


def _main_idle_cause(by_cause: Optional[Dict[str, Any]]) -> Optional[str]:
    """The named cause holding most of a rank's GPU idle time (:mod:`.idle`), with its time and share; None where no
    named cause holds :data:`IDLE_CAUSE_PCT` of it (the rest holds it) or the split is unknown. A rank whose GPU waits on its host
    (its DataLoader, its allocator) makes the others wait in their collectives."""
    if not by_cause or not by_cause.get("idle"):
        return None
    us, cause = max(((us, cause) for cause, us in by_cause.items() if cause not in ("idle", "the rest") and us),
                    default=(0.0, None))
    if cause is None or 100.0 * us / by_cause["idle"] < IDLE_CAUSE_PCT:
        return None
    return f"{cause} {us / 1e3:,.2f} ms ({100 * us / by_cause['idle']:.0f}%)"


@dataclass
class Fleet:
    """The result of :func:`analyze_fleet`: per-rank rows, the cross-rank view and findings."""

    ranks: List[Dict[str, Any]]
    cross: Dict[str, Any] = field(default_factory=dict)
    kernel_spread: List[Dict[str, Any]] = field(default_factory=list)
    findings: List[Dict[str, Any]] = field(default_factory=list)
    #: Why there is no cross-rank view (every readable trace is one process's), else None.
    note: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        for r in d["ranks"]:
            r.pop("kernels", None)
        return d


def _spread(values: Sequence[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"min": None, "median": None, "max": None}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def analyze_fleet(paths: Sequence[Input], workers: Optional[int] = None, backend: str = "auto") -> Fleet:
    """Analyse several ranks' traces in parallel processes (``workers``: default the CPUs, at most one per
    trace; CPUs left over decode each large trace in parallel) and put them side by side (see the module's
    description). A path may be a :class:`~bambaprof.analysis.source.TraceSource` (one process of an Nsight
    Systems export, see :func:`process_sources`): its row carries its ``pid``."""
    from .source import TraceSource
    from .workers import default_jobs

    cpus = workers or default_jobs()
    n = max(1, min(len(paths), cpus))
    jobs = [(p if isinstance(p, TraceSource) else str(p), backend, max(1, cpus // n)) for p in paths]
    if n == 1:
        rows = [_rank_row(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=n) as pool:
            rows = list(pool.map(_rank_row, jobs))
    return fleet_of(rows)


#: ``tensorboard_trace_handler``'s file name: ``<worker>.<time>.pt.trace.json`` (time in ns, ms in older PyTorch),
#: compressed or not; the worker defaults to ``<host>_<pid>``, so one process's cycles share it.
_HANDLER_NAME = re.compile(r"^(?P<worker>.+)\.(?P<time>\d+)\.pt\.trace\.json(?:\.(?:gz|bz2|xz))?$")


def _process_of(row: Dict[str, Any]) -> tuple:
    """What a trace is one process of, and its time in that process's sequence of traces: the rank it names; the
    process of an export; the worker a handler named the file after (its time from the name); else the file."""
    name = Path(row["file"]).name
    m = _HANDLER_NAME.match(name)
    when = int(m["time"]) if m else 0
    if row.get("rank") is not None:
        return ("rank", row["rank"]), when
    if row.get("pid") is not None:
        return ("pid", str(Path(row["file"]).parent), row["pid"]), when
    if m:
        return ("worker", str(Path(row["file"]).parent), m["worker"]), when
    return ("file", row["file"]), when


def number_ranks(rows: List[Dict[str, Any]]) -> None:
    """Give each row (:func:`rank_row`, or one with an ``error``) its ``rank`` and ``cycle`` in place: a trace that
    names no rank gets its process's number, the processes that name none numbered in input order with the numbers
    no named rank holds; ``cycle``, its place among its process's traces by time (None where no process has
    several)."""
    keyed: Dict[tuple, List[tuple]] = {}
    for i, r in enumerate(rows):
        key, when = _process_of(r)
        keyed.setdefault(key, []).append((when, i))
    taken = {key[1] for key in keyed if key[0] == "rank"}
    free = (n for n in range(len(rows) + len(taken)) if n not in taken)
    repeats = any(len(members) > 1 for members in keyed.values())
    for key, members in keyed.items():
        rank = key[1] if key[0] == "rank" else next(free)
        for cycle, (_, i) in enumerate(sorted(members)):
            rows[i]["rank"] = rank
            rows[i]["cycle"] = cycle if repeats else None


def _by_rank(ok: List[Dict[str, Any]], cycles: int) -> List[Dict[str, Any]]:
    """Each rank's figures summed over its first ``cycles`` cycles (a rank of one trace: that trace's)."""
    out: Dict[Any, Dict[str, Any]] = {}
    for r in ok:
        if (r.get("cycle") or 0) >= cycles:
            continue
        agg = out.setdefault(r["rank"], {"rank": r["rank"], "work_us": 0.0, "collective_us": 0.0,
                                         "collective_wait_us": 0.0, "gpu_busy_us": None, "kernel_us": None,
                                         "kernels": {}})
        for key in ("work_us", "collective_us", "collective_wait_us"):
            agg[key] += r[key] or 0.0
        for key in ("gpu_busy_us", "kernel_us"):
            if r.get(key) is not None:
                agg[key] = (agg[key] or 0.0) + r[key]
        for name, t in r["kernels"].items():
            agg["kernels"][name] = agg["kernels"].get(name, 0.0) + t
    for agg in out.values():
        agg["collective_share_pct"] = (100.0 * agg["collective_us"] / agg["kernel_us"]
                                       if agg["kernel_us"] else None)
    return list(out.values())


def fleet_of(rows: List[Dict[str, Any]]) -> Fleet:
    """The cross-rank view and findings of trace rows (:func:`rank_row`; a row with an ``error`` is listed
    and left out of the figures); numbers the ranks and cycles first (:func:`number_ranks`)."""
    from ..render.tables import kernel_label

    number_ranks(rows)
    readable = [r for r in rows if r["error"] is None]
    # a rank whose trace holds launch calls but no GPU activity has no figure to set beside the others
    ok = [r for r in readable if not r.get("gpu_unrecorded")]
    fleet = Fleet(rows)
    if not ok:
        return fleet
    on_gpu = all(r.get("gpu_busy_us") is not None for r in ok)
    least: Dict[Any, float] = {}  # the least collective time of any rank in each cycle
    for r in ok:
        least[r.get("cycle")] = min(least.get(r.get("cycle"), r["collective_us"]), r["collective_us"])
    for r in ok:
        # on a GPU, busy time less the collectives' exposed part (the time they ran alone): a collective that
        # compute hid takes nothing from the work; summed kernel time would subtract it twice
        alone = r.get("collective_exposed_us")
        taken = alone if on_gpu and alone is not None else r["collective_us"]
        r["work_us"] = max((r["gpu_busy_us"] if on_gpu else r["span_us"]) - taken, 0.0)
    counts: Dict[Any, int] = {}
    for r in ok:
        counts[r["rank"]] = counts.get(r["rank"], 0) + 1
    if len(counts) < 2:  # one process's traces (its profiling cycles): nothing to compare across ranks
        for r in ok:
            r["collective_wait_us"] = None
        fleet.note = (f"{len(ok)} traces of one process (rank {ok[0]['rank']}, profiling cycles "
                      f"{', '.join(str(r['cycle']) for r in ok)}), no other rank: nothing to compare across ranks")
        return fleet
    for r in ok:
        r["collective_wait_us"] = r["collective_us"] - least[r.get("cycle")]
    cycles = min(counts.values())  # the cycles every rank has
    ranks = _by_rank(ok, cycles)
    key = "work_us"
    median = statistics.median(r[key] for r in ranks)
    slowest = max(ranks, key=lambda r: r[key])
    fleet.cross = {
        "ranks": len(counts), "traces": len(rows), "unreadable": len(rows) - len(readable),
        "without_gpu_activity": len(readable) - len(ok),
        "cycles": cycles if any(r.get("cycle") is not None for r in ok) else None,
        "work": ("GPU busy minus collectives alone" if on_gpu else "span minus collectives")
                + (f", summed over {cycles} cycles" if cycles > 1 else ""),
        "slowest_rank": slowest["rank"], "slowest_us": slowest[key], "median_us": median,
        "slowest_over_median_pct": 100.0 * (slowest[key] / median - 1) if median > 0 else None,
        "gpu_busy_us": _spread([r["gpu_busy_us"] for r in ranks if r.get("gpu_busy_us") is not None]),
        "collective_us": _spread([r["collective_us"] for r in ranks]),
        "collective_share_pct": _spread([r["collective_share_pct"] for r in ranks
                                         if r.get("collective_share_pct") is not None]),
    }
    totals: Dict[str, float] = {}
    for r in ranks:
        for name, t in r["kernels"].items():
            totals[name] = totals.get(name, 0.0) + t
    for name in sorted(totals, key=lambda k: -totals[k])[:TOP_KERNELS]:
        per_rank = {r["rank"]: r["kernels"].get(name, 0.0) for r in ranks}
        spread = _spread(list(per_rank.values()))
        fleet.kernel_spread.append({"name": name, **{f"{k}_us": v for k, v in spread.items()},
                                    "longest_on_rank": max(per_rank, key=lambda k: per_rank[k])})
    pct = fleet.cross["slowest_over_median_pct"]
    if pct is not None and pct >= SLOWEST_RANK_PCT:
        diffs = sorted(((slowest["kernels"].get(name, 0.0) - statistics.median([r["kernels"].get(name, 0.0)
                                                                                   for r in ranks]), name)
                        for name in totals), reverse=True)[:3]
        what = ", ".join(f"{kernel_label(name, 60)} (+{d:,.0f} us)" for d, name in diffs if d > 0)
        over = f" over {cycles} cycles" if cycles > 1 else ""
        fleet.findings.append({
            "id": "slowest-rank", "severity": "high" if pct >= 25 else "medium",
            "time_us": slowest[key] - median,
            "message": (f"Rank {slowest['rank']} is the slowest: {slowest[key]:,.0f} us of work outside collectives"
                        f"{over} against a median of {median:,.0f} us over {len(ranks)} ranks (+{pct:.0f}%), while "
                        f"the others wait up to {max(r['collective_wait_us'] for r in ranks):,.0f} us in collectives"
                        + (f"; its kernels above the median rank: {what}." if what else ".")),
            "evidence": [{"rank": r["rank"], key: r[key]} for r in ranks],
            "suggestion": "Look for load imbalance (uneven batches or sequence lengths) or a slow device on that "
                          "rank; the other ranks wait for it in their collectives.",
        })
    return fleet
