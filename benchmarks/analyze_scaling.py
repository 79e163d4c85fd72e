"""Time and peak memory of ``bambaprof analyze`` against trace size (CPU), with HTA 0.5.0 beside it where it fits.

For each size (MB of JSON), a trace is built as ``analyze_vs_hta.py`` builds it (a real H200 trace replicated
end to end), then analysed in a fresh process (imports included; memory is the peak of the summed PSS of the
process tree, worker processes included, and the largest single process's peak RSS). HTA runs on the sizes
up to ``--hta-max-mb``. One run per size and tool: the scaling, not a
precise median (``analyze_vs_hta.py`` gives medians at one size).

    python benchmarks/analyze_scaling.py --hta-python /path/to/venv/bin/python -o benchmarks/results/analyze-scaling.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_vs_hta import HTA_SNIPPET, OURS_SNIPPET, ROOT, build_trace, run_child  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes-mb", type=float, nargs="+", default=[20, 50, 200, 500, 1000, 2000])
    ap.add_argument("--hta-python", default=None)
    ap.add_argument("--hta-max-mb", type=float, default=200)
    ap.add_argument("--workdir", default="/tmp/bambaprof-scaling")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rows = []
    for size in args.sizes_mb:
        folder = Path(args.workdir) / f"{size:g}mb"
        folder.mkdir(parents=True, exist_ok=True)
        trace = folder / "rank-0.json"
        stats = build_trace(int(size * 1e6), trace)
        os.sync()  # the trace written out before timing: no write-back competes with either tool
        row = {"size_mb": size, **stats}
        ours = run_child([sys.executable, "-c", OURS_SNIPPET, str(trace)], env)
        row["bambaprof_s"], row["bambaprof_rss_bytes"] = ours["wall_s"], ours["max_rss_bytes"]
        row["bambaprof_tree_pss_bytes"] = ours["peak_tree_pss_bytes"]
        if args.hta_python and size <= args.hta_max_mb:
            hta = run_child([args.hta_python, "-c", HTA_SNIPPET, str(folder)])
            row["hta_s"], row["hta_rss_bytes"] = hta["wall_s"], hta["max_rss_bytes"]
            row["hta_tree_pss_bytes"] = hta["peak_tree_pss_bytes"]
            row["speedup"] = row["hta_s"] / row["bambaprof_s"]
            # memory: bambaprof's whole process tree (its workers included) against HTA's
            row["memory_ratio"] = row["bambaprof_tree_pss_bytes"] / max(row["hta_tree_pss_bytes"], row["hta_rss_bytes"])
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        rows.append(row)
        trace.unlink()
    result = {"what": "bambaprof analyze (load + every table) and HTA 0.5.0 (TraceAnalysis + "
                      "get_gpu_kernel_breakdown) against trace size, fresh process each, one run per point; "
                      "memory: peak summed PSS of the process tree (sampled every 50 ms) and peak RSS of the "
                      "largest process",
              "date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "rows": rows}
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
