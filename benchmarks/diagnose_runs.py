"""Diagnosis figures of profiled runs, for the README and benchmarks/results/ (runs on the CPU).

For each run directory under the given folders: known-bytes coverage, phase coverage, the run's floor and
how far above it the run is, the phase table by kind and the findings; failed runs with their error.

    python benchmarks/diagnose_runs.py OUT.json FOLDER... [--meta KEY=VALUE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bambaprof
from bambaprof.run import iter_runs

SUMMARY = ("gpu_busy_us", "gpu_window_us", "kernel_us", "phase_coverage_pct", "kernel_time_with_known_bytes_pct",
           "floor_us", "floor_coverage_pct", "above_floor_x", "idle_host_wait_us")


def diagnose(folders) -> list:
    rows = []
    for folder in folders:
        for record in iter_runs(folder):
            m = record.manifest
            if not m.ok:
                rows.append({"run": record.path.name, "status": m.status, "error": m.error})
                continue
            a = bambaprof.analyze(record.path)
            s = a.summary
            sources = sorted({k["bytes_source"] for k in a.kernels if k.get("bytes_source")})
            rows.append({
                "run": record.path.name, "status": "ok", "latency_ms": m.timings.latency_ms.median if m.timings else None,
                **{k: s.get(k) for k in SUMMARY}, "bytes_sources": sources,
                "launch_map": m.files.launch_map,
                "phase_kinds": [{k: p[k] for k in ("phase", "gpu_us", "share_pct", "count", "floor_us", "excess_us")}
                                for p in a.phase_kinds[:14]],
                "findings": [{k: f[k] for k in ("id", "severity", "time_us", "message", "suggestion")}
                             for f in a.findings]})
            r = rows[-1]
            print(f"{r['run'][:62]:62s} bytes {r['kernel_time_with_known_bytes_pct'] or 0:5.1f}% phases "
                  f"{r['phase_coverage_pct'] or 0:5.1f}% x{r['above_floor_x'] or 0:4.1f} "
                  + " ".join(f["id"] for f in a.findings), file=sys.stderr)
    return rows


def main(argv) -> int:
    out, rest = Path(argv[1]), argv[2:]
    folders = [a for a in rest if "=" not in a]
    meta = dict(a.split("=", 1) for a in rest if "=" in a)
    out.write_text(json.dumps({**meta, "runs": diagnose(folders)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
