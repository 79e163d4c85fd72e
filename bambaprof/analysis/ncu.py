"""Reading Nsight Compute's CSV (``ncu --csv``): one dict of metrics per profiled kernel.

ncu writes one row per (kernel, metric) with numbers formatted with thousands
separators; :func:`read_ncu_csv` folds them into one record per kernel ID, in
launch order, with numeric metric values as floats in base units: bytes,
bytes/s, bytes/block and ns, whatever ``--print-units`` wrote (``Mbyte``, ``Gbyte/second``,
``usecond``, ...; SI prefixes, as ncu's are). Other units are kept as written.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
import re
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

from ..errors import BambaprofError
from .source import allow_long_csv_fields
from .vendor_tools import NCU

_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}
_BYTES = re.compile(r"^([kmgtp]?)byte(?:/(?:s|second|block))?$", re.IGNORECASE)
_TIME_NS = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6, "s": 1e9,
            "second": 1e9}


def _number(text: str, unit: str = ""):
    """The value as a float in base units (bytes, bytes/s, ns) where ``unit`` is one of those scaled, else as
    written; text that is not a number stays text."""
    cleaned = text.replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return text
    unit = unit.strip()
    m = _BYTES.match(unit)
    if m:
        return value * _PREFIX[m.group(1).lower()]
    return value * _TIME_NS.get(unit.lower(), 1.0)


def _dims(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.strip("() ").split(","))
    except ValueError:
        return ()


#: Columns of ncu's CSV about the launch, not a metric: the raw page (``--page raw``) has one column per metric besides these.
_LAUNCH_COLUMNS = {"ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context", "Stream", "Block Size",
                   "Grid Size", "Device", "CC", "Section Name", "Metric Name", "Metric Unit", "Metric Value"}


def _whole(value: object) -> Optional[int]:
    """``value`` as an int where it is a finite whole number (a register count), else None."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


#: The header of ``ncu --page source --csv``'s table (a kernel's SASS or source lines with their counters).
SOURCE_PAGE_HEADER = re.compile(r'^\ufeff?"?(?:# )?Address"?,"?Source"?,', re.MULTILINE)
#: The header line of ``ncu --csv``'s table.
_HEADER = re.compile(r'^\ufeff?("ID"|ID)[,\r\n]', re.MULTILINE)


def _cell(row: List[str], column: Dict[str, int], name: str) -> str:
    i = column.get(name)
    return row[i] if i is not None and i < len(row) else ""


#: Environment variable naming the ``ncu`` executable that exports reports (default: ``ncu`` on PATH).
NCU_ENV = NCU.env
#: Nsight Compute report files, exported to CSV by the ``ncu`` CLI before they are read.
REPORT_SUFFIXES = (".ncu-rep",)


def _exported(report: Path) -> str:
    """The raw page of an Nsight Compute report as CSV text (``ncu -i REPORT --csv --page raw``, by
    ``$BAMBAPROF_NCU``, else ``ncu`` on PATH): every metric collected, by its raw name, with units under the
    header. Raises :class:`BambaprofError` (one line) when there is no ``ncu`` or the export fails."""
    return NCU.run(["-i", str(report), "--csv", "--page", "raw"],
                   command=f"ncu -i {report.name} --csv --page raw > {report.stem}.csv", then="pass the .csv",
                   prefix=f"{report}: ")


def read_ncu_csv(path: Union[str, Path]) -> List[Dict[str, object]]:
    """Records ``{"id", "name", "grid", "block", "process", "device_index", <metric>: value, ...}`` (the process ID as
    text, ``""`` where the CSV has none; the CUDA device index, or None) in kernel-ID order, from either layout
    of ``ncu --csv``: the details page (a row per kernel and metric: ``Metric Name``, ``Metric Unit``, ``Metric
    Value``) or the raw page (a row per kernel, a column per metric, units in the row under the header); or from a
    report (``.ncu-rep``), whose raw page the ``ncu`` CLI exports first (:func:`_exported`)."""
    p = Path(path)
    if p.suffix in REPORT_SUFFIXES:
        text = _exported(p)
    else:
        try:
            raw = p.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8", "replace")  # a kernel name cut inside a character keeps the rest
        except (OSError, EOFError, zlib.error) as exc:
            raise BambaprofError(f"{p}: cannot read Nsight Compute CSV ({exc})") from None
    # ncu may print log lines (==PROF==) before the header, which starts with "ID" (quoted as ncu writes it, or
    # bare as a spreadsheet or pandas saves the table again, perhaps after a byte-order mark)
    header = _HEADER.search(text)
    if header is None:
        if SOURCE_PAGE_HEADER.search(text):
            raise BambaprofError(f"{p}: an Nsight Compute source page (one kernel's instructions); --ncu reads the "
                                 "raw or details page: ncu -i REPORT --csv --page raw")
        raise BambaprofError(f"{p}: not an Nsight Compute CSV (no \"ID\" header)")
    start = header.start(1)
    allow_long_csv_fields()  # a long template kernel name is a field of more than 128 KB
    try:
        table = list(csv.reader(io.StringIO(text[start:])))
    except csv.Error as exc:
        raise BambaprofError(f"{p}: not a readable Nsight Compute CSV ({exc})") from None
    header = table[0]
    column = {name: i for i, name in enumerate(header)}
    per_metric = "Metric Name" in column and "Metric Value" in column
    metrics = [(i, name) for i, name in enumerate(header)
               if name not in _LAUNCH_COLUMNS and name and not any(c.isspace() for c in name)]
    units: Dict[str, str] = {}
    records: Dict[int, Dict[str, object]] = {}
    for n, row in enumerate(table[1:], start=1):
        cell = functools.partial(_cell, row, column)
        kid = cell("ID").strip()
        if not kid:  # a blank line, or the raw page's units under its header
            if not per_metric and not records and not units:
                units = {name: row[i] for i, name in metrics if i < len(row)}
            continue
        try:
            ident = int(kid)
        except ValueError:
            raise BambaprofError(f"{p}: row {n} of the table: kernel ID {kid[:40]!r} is not a number") from None
        rec = records.setdefault(ident, {"id": ident, "name": cell("Kernel Name"), "grid": _dims(cell("Grid Size")),
                                         "block": _dims(cell("Block Size")), "process": cell("Process ID").strip(),
                                         "device_index": _whole(_number(cell("Device")))})
        if per_metric:
            if cell("Metric Name"):
                rec[cell("Metric Name")] = _number(cell("Metric Value"), cell("Metric Unit"))
        else:
            for i, name in metrics:
                if i < len(row):
                    rec[name] = _number(row[i], units.get(name, ""))
    return sorted(records.values(), key=lambda r: r["id"])


#: Nsight Compute's warp states (its WarpStateStats section), by the key of their raw metric
#: ``smsp__average_warps_issue_stalled_<key>_per_issue_active.ratio`` (cycles a warp spends in the state per
#: instruction issued), with what a warp in that state waits for. They add up, with ``selected`` (the cycle of the
#: issue itself), to the cycles between two issues of a warp (``Warp Cycles Per Issued Instruction``).
STALL_REASONS: Dict[str, str] = {
    "long_scoreboard": "global or local memory (an L1TEX load from L2 or DRAM, or spilled registers)",
    "barrier": "the other warps of its block at a barrier",
    "short_scoreboard": "shared memory or the special-function unit (exp, log, reciprocal)",
    "wait": "a fixed-latency dependency (the result of an instruction just before)",
    "mio_throttle": "a full queue of shared-memory and special-function instructions",
    "lg_throttle": "a full queue of local and global memory instructions",
    "math_pipe_throttle": "a busy math pipe",
    "tex_throttle": "a full texture queue",
    "membar": "a memory fence",
    "drain": "its stores to drain before it exits",
    "dispatch_stall": "the dispatcher",
    "branch_resolving": "a branch target to resolve",
    "no_instruction": "the instruction cache",
    "imc_miss": "the immediate-constant cache",
    "sleeping": "nothing (it sleeps)",
    "misc": "other causes",
    "gmma": "a warpgroup MMA (wgmma) in flight",
    "not_selected": "another eligible warp, issued instead",
    "selected": "nothing (its own issue cycle)",
}
_STALL_RAW = re.compile(r"^smsp__average_warps?_issue_stalled_([a-z_]+?)_per_issue_active\.ratio$")
_CYCLES_PER_ISSUE = ("smsp__average_warp_latency_per_inst_issued.ratio", "Warp Cycles Per Issued Instruction")
_ISSUE_RATE = ("smsp__issue_active.avg.per_cycle_active", "Issued Warp Per Scheduler")


def _finite(value: object) -> Optional[float]:
    return value if isinstance(value, float) and math.isfinite(value) and value >= 0 else None


def warp_stalls(record: Dict[str, object]) -> Optional[Dict[str, object]]:
    """A kernel's warp states from its Nsight Compute record, where it holds them (WarpStateStats collected, or the
    raw ``smsp__average_warps_issue_stalled_*`` metrics asked for): ``reasons`` (key of :data:`STALL_REASONS` ->
    cycles per issued instruction, largest first), ``cycles_per_issue`` (ncu's, else the reasons' sum) and
    ``issue_rate`` (instructions a scheduler issues a cycle, 0-1; None where not collected). Read from the raw
    metric names or from the details page's labels (``Stall Long Scoreboard``); None where there are none."""
    reasons: Dict[str, float] = {}
    for name, value in record.items():
        v = _finite(value)
        if v is None:
            continue
        m = _STALL_RAW.match(name)
        key = m.group(1) if m else ("selected" if name == "Selected" else  # the details page's labels
                                    name[6:].strip().lower().replace(" ", "_") if name.startswith("Stall ") else None)
        if key in STALL_REASONS:
            reasons[key] = v
    if not reasons:
        return None
    cycles = next((v for v in (_finite(record.get(k)) for k in _CYCLES_PER_ISSUE) if v), None)
    rate = next((v for v in (_finite(record.get(k)) for k in _ISSUE_RATE) if v is not None), None)
    return {"reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "cycles_per_issue": cycles if cycles is not None else sum(reasons.values()),
            "issue_rate": rate}


#: The details page's labels of the metrics compared, as its sections (SpeedOfLight, LaunchStats, Occupancy) print
#: them: a CSV of the default sections has these instead of the raw names.
_LABELS = {"gpu__time_duration.sum": "Duration", "launch__registers_per_thread": "Registers Per Thread",
           "sm__maximum_warps_per_active_cycle_pct": "Theoretical Occupancy",
           "sm__warps_active.avg.pct_of_peak_sustained_active": "Achieved Occupancy",
           "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed": "DRAM Throughput",
           "lts__throughput.avg.pct_of_peak_sustained_elapsed": "L2 Cache Throughput",
           "l1tex__throughput.avg.pct_of_peak_sustained_active": "L1/TEX Cache Throughput",
           "sm__throughput.avg.pct_of_peak_sustained_elapsed": "Compute (SM) Throughput"}
#: The units of the Speed Of Light section, each as busy as its busiest sub-unit (% of its peak): the SMs' pipes,
#: L1/TEX (with shared memory), L2 and DRAM. The busiest of them is what a kernel that waits is most likely short of.
UNIT_BUSY = (("SM", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
             ("L1", "l1tex__throughput.avg.pct_of_peak_sustained_active"),
             ("L2", "lts__throughput.avg.pct_of_peak_sustained_elapsed"),
             ("DRAM", "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"))


def _metric(rec: Dict[str, object], name: str) -> object:
    """Metric ``name`` of a record by its raw name, else by the details page's label for it."""
    value = rec.get(name)
    return rec.get(_LABELS[name]) if value is None and name in _LABELS else value


def compare_with_ncu(trace, records: List[Dict[str, object]], notes: Optional[List[str]] = None) -> List[dict]:
    """Match Nsight Compute's kernels to the trace's launches (:func:`.ncu_match.match_launches`: in launch order,
    by name and, where one matches, grid and block) and put the derived figures beside the measured ones.

    Each row: ``derived_gbps`` (bytes the kernel must move / its trace duration) against
    ``ncu_dram_gbps`` (``dram__bytes.sum.per_second``) and their ratio; ``derived_bytes``
    against ``ncu_dram_bytes`` (read + write); theoretical occupancy against ncu's
    ``sm__maximum_warps_per_active_cycle_pct``; ncu's measured achieved occupancy
    (``sm__warps_active.avg.pct_of_peak_sustained_active``); how busy the SMs, L1, L2 and DRAM were and which
    was busiest (:func:`_unit_fields`); the warp states (:func:`_stall_fields`). ``same_launch`` says whether
    both launched the kernel with the same grid and block, and ``same_config`` whether with the same registers as
    well (an autotuned kernel may be tiled otherwise in ncu's own process). Where the grid or block differ, the
    two launches did other work or split it otherwise, so ``gbps_ratio`` is None: ncu's figures describe its own
    launch, not the trace's.

    A capture of several processes (``ncu --target-processes all`` over a job's ranks) is matched one process at a
    time, and only the process that matches this trace best is kept (:func:`_one_process`); ``notes`` (where
    given) gets a line saying which, and how many kernels of the others were left out.
    """
    import numpy as np

    from .kernels import instance_traffic
    from .ncu_match import match_launches
    from .occupancy import theoretical_occupancy

    gpu = trace.gpu
    kernels = np.nonzero(gpu.kind == "kernel")[0]
    order = kernels[np.argsort(gpu.ts[kernels], kind="stable")].tolist()
    launches = [(tuple(gpu.grid[i].tolist()), tuple(gpu.block[i].tolist())) for i in order]
    trace_names = [gpu.name[i] for i in order]

    def match(part: List[Dict[str, object]]) -> Tuple[List[Optional[int]], Tuple[int, int]]:
        """The part's matches, and how good they are: matches on ncu's grid and block, then matches."""
        picks = match_launches(trace_names, launches, [str(rec["name"]) for rec in part],
                               [_launch_of(rec) for rec in part])
        found = [(rec, j) for rec, j in zip(part, picks) if j is not None]
        return picks, (sum(1 for rec, j in found if _launch_of(rec) == launches[j]), len(found))

    records, picks = _one_process(records, match, set(gpu.device[kernels].tolist()), notes)
    traffic = instance_traffic(trace)
    rows: List[dict] = []
    for rec, j in zip(records, picks):
        if j is None:
            rows.append({"ncu_id": rec["id"], "name": rec["name"], "matched": False})
            continue
        i = order[j]
        (grid, block), regs = launches[j], int(gpu.registers[i])
        dev = trace.devices.get(int(gpu.device[i]))
        occ = theoretical_occupancy(dev, grid, block, regs, int(gpu.shared_memory[i])) if dev else None
        t = traffic[i]
        dur_us = float(gpu.dur[i])
        derived = t.bytes / (dur_us * 1e3) if t is not None and dur_us > 0 else None
        ncu_gbps = rec.get("dram__bytes.sum.per_second")
        ncu_gbps = ncu_gbps / 1e9 if isinstance(ncu_gbps, float) else None
        rd, wr = rec.get("dram__bytes_read.sum"), rec.get("dram__bytes_write.sum")
        ncu_ns = _metric(rec, "gpu__time_duration.sum")
        same_launch = (grid, block) == (rec.get("grid"), rec.get("block"))
        rows.append({
            "ncu_id": rec["id"],
            "name": gpu.name[i],
            "matched": True,
            "same_launch": same_launch,
            "same_config": same_launch and regs == _whole(_metric(rec, "launch__registers_per_thread")),
            "bytes_source": t.source if t is not None else None,
            "trace_us": dur_us,
            "ncu_us": ncu_ns / 1e3 if isinstance(ncu_ns, float) else None,
            "derived_bytes": t.bytes if t is not None else None,
            "derived_flops": t.flops if t is not None else None,
            "ncu_dram_bytes": rd + wr if isinstance(rd, float) and isinstance(wr, float) else None,
            "derived_gbps": derived,
            "ncu_dram_gbps": ncu_gbps,
            "gbps_ratio": derived / ncu_gbps if derived is not None and ncu_gbps and same_launch else None,
            "ncu_dram_pct_of_peak": _metric(rec, "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"),
            "theoretical_occupancy_pct": 100.0 * occ.theoretical if occ else None,
            "ncu_theoretical_occupancy_pct": _metric(rec, "sm__maximum_warps_per_active_cycle_pct"),
            "est_occupancy_pct": float(gpu.est_occupancy[i]),
            "ncu_achieved_occupancy_pct": _metric(rec, "sm__warps_active.avg.pct_of_peak_sustained_active"),
            **_unit_fields(rec),
            **_stall_fields(rec),
        })
    return rows


def _one_process(records: List[Dict[str, object]],
                 match: Callable[[List[Dict[str, object]]], Tuple[List[Optional[int]], Tuple[int, int]]],
                 devices: Set[int], notes: Optional[List[str]]) -> Tuple[List[Dict[str, object]], List[Optional[int]]]:
    """The records of the one process of a capture that matches the trace best, and their matches. Processes are
    told apart by ncu's ``Process ID``; where several ran on the trace's devices, those on other devices are left
    out first (a rank's trace holds its own device's kernels); of the rest, the one whose kernels match the most
    launches (the most on ncu's grid and block, then the most by name, then the first) is kept."""
    processes: Dict[object, List[Dict[str, object]]] = {}
    for rec in records:
        processes.setdefault(rec.get("process", ""), []).append(rec)
    if len(processes) < 2:
        return records, match(records)[0]
    here = {p: part for p, part in processes.items() if any(rec.get("device_index") in devices for rec in part)}
    candidates = here or processes
    best = None
    for process, part in candidates.items():
        picks, score = match(part)
        if best is None or score > best[0]:
            best = (score, process, part, picks)
    assert best is not None
    _, process, part, picks = best
    if notes is not None:
        device = next((rec.get("device_index") for rec in part if rec.get("device_index") is not None), None)
        notes.append(f"the Nsight Compute capture holds {len(processes)} processes: process {process}"
                     + (f" (device {device})" if device is not None else "")
                     + f" matched this trace best ({sum(1 for j in picks if j is not None)} of its {len(part)} "
                     f"kernels); the other processes' {len(records) - len(part)} kernels were left out")
    return part, picks


def _launch_of(rec: Dict[str, object]) -> Optional[tuple]:
    """(grid, block) of an ncu record, or None where its CSV does not give both."""
    grid, block = rec.get("grid"), rec.get("block")
    return (grid, block) if isinstance(grid, tuple) and isinstance(block, tuple) else None


def _unit_fields(rec: Dict[str, object]) -> Dict[str, object]:
    """How busy each unit of :data:`UNIT_BUSY` was (``ncu_sm_pct``, ``ncu_l1_pct``, ``ncu_l2_pct``, % of its peak;
    DRAM's is ``ncu_dram_pct_of_peak``) and the busiest of the four as text (``ncu_busiest``, ``"L2 89%"``); None
    where ncu's CSV lacks them (the busiest is named only where all four are known)."""
    busy = {unit: _finite(_metric(rec, name)) for unit, name in UNIT_BUSY}
    known = {unit: v for unit, v in busy.items() if v is not None}
    top = max(known, key=lambda unit: known[unit]) if len(known) == len(busy) else None
    return {"ncu_sm_pct": busy["SM"], "ncu_l1_pct": busy["L1"], "ncu_l2_pct": busy["L2"],
            "ncu_busiest": f"{top} {known[top]:.0f}%" if top is not None else None}


def _stall_fields(rec: Dict[str, object]) -> Dict[str, object]:
    """The warp-state columns of a compared kernel: cycles between a warp's issues, the schedulers' issue rate, the
    three largest stall reasons as text (``long_scoreboard 2.3, barrier 1.4, ...``) and all of them (cycles per
    issue); None where ncu's CSV has no warp states."""
    stalls = warp_stalls(rec)
    if stalls is None:
        return {"ncu_cycles_per_issue": None, "ncu_issue_rate": None, "ncu_top_stalls": None, "ncu_stalls": None}
    reasons = stalls["reasons"]
    assert isinstance(reasons, dict)
    top = [(k, v) for k, v in reasons.items() if k != "selected"][:3]
    return {"ncu_cycles_per_issue": stalls["cycles_per_issue"], "ncu_issue_rate": stalls["issue_rate"],
            "ncu_top_stalls": ", ".join(f"{k} {v:.1f}" for k, v in top), "ncu_stalls": reasons}
