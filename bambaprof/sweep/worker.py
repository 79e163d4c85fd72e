"""One configuration of a sweep, in its own process: ``python -m bambaprof.sweep.worker ROOT RUN_ID``.

Exit status 0 when the run directory says ok, 3 when the run is recorded as failed,
2 when the configuration is not in the index. The index is never written here.
"""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    from pathlib import Path

    from ..collect.runner import run_one
    from ..run import RunConfig
    from .index import SweepIndex

    args = sys.argv[1:] if argv is None else argv
    root, run_id = Path(args[0]), args[1]
    index = SweepIndex.load(root)
    entry = next((e for e in index.entries if e["run_id"] == run_id), None)
    if entry is None:
        print(f"bambaprof sweep worker: {run_id} is not in {root}", file=sys.stderr)
        return 2
    cfg = RunConfig.from_dict(entry["config"])
    record = run_one(cfg, index.runs_dir, command=f"bambaprof sweep (worker) {root} {run_id}")
    if record.status != "ok":
        print(record.error or "failed", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
