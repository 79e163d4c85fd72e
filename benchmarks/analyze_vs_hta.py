"""Speed and peak memory of ``bambaprof analyze`` against HTA 0.5.0 on a large trace (CPU).

Builds a large Kineto trace by replicating a real H200 trace (the naive FMS
Bamba-9B mixer, tests/data/) end to end: each copy shifted in time, with its
correlation, External id and flow ids offset so that links stay unique. Then,
side by side in one run, each tool analyses the same file in a fresh process,
``--repeats`` times, alternating:

- HTA: ``TraceAnalysis(trace_dir=...)`` (load) + ``get_gpu_kernel_breakdown()``;
- bambaprof: :func:`bambaprof.analysis.analysis.analyze` (load + every table:
  summary, kernels with bytes and occupancy, ops, launch, idle, memory).

Wall time is measured around the whole process (imports included). Memory is
the peak, sampled every 50 ms, of the summed proportional set size (PSS) of the
child's whole process tree, so bambaprof's worker processes count (shared pages
once); the largest single process's peak RSS (``wait4``) is reported beside it.
Reports medians.

    python benchmarks/analyze_vs_hta.py --size-mb 200 --hta-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "h200-fms-naive-mixer-eager-b1-L512.json.gz"

HTA_SNIPPET = """
import logging, sys
logging.disable(logging.WARNING)
from hta.trace_analysis import TraceAnalysis
a = TraceAnalysis(trace_dir=sys.argv[1])
kernel_type_df, kernel_df = a.get_gpu_kernel_breakdown(visualize=False)
print(len(kernel_df))
"""
OURS_SNIPPET = """
import sys
from bambaprof.analysis.analysis import analyze
a = analyze(sys.argv[1])
print(len(a.kernels))
"""


def build_trace(target_bytes: int, out: Path) -> dict:
    """Write a trace of at least ``target_bytes`` (uncompressed JSON) to ``out``; returns its stats."""
    with gzip.open(SOURCE, "rb") as fh:
        doc = json.load(fh)
    events = [e for e in doc["traceEvents"] if e.get("ph") != "M"]
    meta_events = [e for e in doc["traceEvents"] if e.get("ph") == "M"]
    ts = [e["ts"] for e in events if isinstance(e.get("ts"), (int, float))]
    ends = [e["ts"] + e.get("dur", 0) for e in events if isinstance(e.get("ts"), (int, float))]
    period = (max(ends) - min(ts)) + 100.0
    encoder = msgspec.json.Encoder()
    head = {k: v for k, v in doc.items() if k != "traceEvents"}
    head["distributedInfo"] = {"backend": "nccl", "rank": 0, "world_size": 1}
    head_bytes = encoder.encode(head)[:-1] + b', "traceEvents": ['
    written, copies, n_events = 0, 0, 0
    with open(out, "wb") as fh:
        fh.write(head_bytes)
        fh.write(b",".join(encoder.encode(e) for e in meta_events))
        written += len(head_bytes)
        while written < target_bytes:
            shift, offset = copies * period, copies * 10_000_000
            batch = []
            for e in events:
                c = dict(e)
                if "ts" in c:
                    c["ts"] = c["ts"] + shift
                if "id" in c and isinstance(c["id"], int):
                    c["id"] = c["id"] + offset
                if isinstance(c.get("args"), dict):
                    a = dict(c["args"])
                    for key in ("correlation", "External id"):
                        if isinstance(a.get(key), int) and a[key] >= 0:
                            a[key] = a[key] + offset
                    c["args"] = a
                batch.append(c)
            chunk = b"," + b",".join(encoder.encode(e) for e in batch)
            fh.write(chunk)
            written += len(chunk)
            copies += 1
            n_events += len(batch)
        fh.write(b"]}")
    return {"copies": copies, "events": n_events + len(meta_events), "bytes": out.stat().st_size}


def _tree(pid: int) -> list:
    """``pid`` and its descendants (Linux ``/proc/<pid>/task/<tid>/children``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def _pss_bytes(pid: int) -> int:
    """Proportional set size of one process (shared pages divided among their sharers), bytes."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_child(cmd, env=None, sample_s: float = 0.05) -> dict:
    """Run ``cmd``; its wall time, largest single-process peak RSS (``wait4``) and the peak of the summed
    PSS of its whole process tree (worker processes included), sampled every ``sample_s`` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(sample_s):
            peak[0] = max(peak[0], sum(_pss_bytes(p) for p in _tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    out = proc.stdout.read().decode().strip()
    err = proc.stderr.read().decode().strip()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.splitlines()[-1] if err else ''}")
    return {"wall_s": wall, "max_rss_bytes": usage.ru_maxrss * 1024, "peak_tree_pss_bytes": peak[0],
            "output": out.splitlines()[-1] if out else ""}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=200.0, help="trace size, MB of JSON (1e6 bytes)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hta-python", default=None, help="a Python with holistictraceanalysis==0.5.0 (skip HTA if unset)")
    ap.add_argument("--workdir", default="/tmp/bambaprof-bench")
    ap.add_argument("-o", "--output", default=None, help="results JSON")
    args = ap.parse_args(argv)

    work = Path(args.workdir)
    (work / "hta").mkdir(parents=True, exist_ok=True)
    trace = work / "hta" / "rank-0.json"  # HTA reads every trace in a directory
    t0 = time.perf_counter()
    stats = build_trace(int(args.size_mb * 1e6), trace)
    os.sync()  # the trace written out before timing: no write-back competes with either tool
    print(f"built {trace}: {stats['bytes'] / 1e6:.0f} MB, {stats['events']:,} events "
          f"({stats['copies']} copies) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = {"bambaprof": [], "hta": []}
    for i in range(args.repeats):
        r = run_child([sys.executable, "-c", OURS_SNIPPET, str(trace)], env)
        runs["bambaprof"].append(r)
        print(f"bambaprof run {i}: {r['wall_s']:.2f} s, tree {r['peak_tree_pss_bytes'] / 1e9:.2f} GB", file=sys.stderr)
        if args.hta_python:
            r = run_child([args.hta_python, "-c", HTA_SNIPPET, str(trace.parent)])
            runs["hta"].append(r)
            print(f"HTA run {i}: {r['wall_s']:.2f} s, tree {r['peak_tree_pss_bytes'] / 1e9:.2f} GB", file=sys.stderr)

    def summary(rs):
        if not rs:
            return None
        return {"median_wall_s": statistics.median(r["wall_s"] for r in rs),
                "max_rss_bytes": max(r["max_rss_bytes"] for r in rs),
                "peak_tree_pss_bytes": max(r["peak_tree_pss_bytes"] for r in rs), "runs": rs}

    result = {
        "what": "bambaprof analyze vs HTA 0.5.0 (TraceAnalysis + get_gpu_kernel_breakdown), fresh process each",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "trace": stats,
        "bambaprof": summary(runs["bambaprof"]),
        "hta": summary(runs["hta"]),
    }
    if runs["hta"]:
        result["speedup"] = result["hta"]["median_wall_s"] / result["bambaprof"]["median_wall_s"]
        # memory: the peak of the whole process tree (bambaprof's worker processes included), against HTA's
        result["memory_ratio"] = (result["bambaprof"]["peak_tree_pss_bytes"]
                                  / max(result["hta"]["peak_tree_pss_bytes"], result["hta"]["max_rss_bytes"]))
        print(f"speed-up {result['speedup']:.1f}x, peak memory {result['memory_ratio']:.2f} of HTA's")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    trace.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
