"""Cost of the NVML sampler: median latency with it on vs off, side by side (run on a GPU).

Alternates runs of the same configuration with telemetry on and off, ``--rounds``
times, and compares the medians of all measured iterations of each side. Two
workloads: a bandwidth-heavy mixer forward, and launch-bound cached generation
(many small kernels, where a sampling thread competing for the GIL would show).

    python benchmarks/sampler_overhead.py OUT.json
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bambaprof._env import environment
from bambaprof.collect import RunConfig, run_one

CASES = [
    dict(workload="mixer", seq_len=2048),
    dict(workload="generate", seq_len=512, new_tokens=32),
]


def main(argv) -> int:
    out = Path(argv[1])
    rounds = int(argv[2]) if len(argv) > 2 else 3
    base = dict(preset="bamba-9b", layers=4, attention=False, dtype="bf16", variant="default-optimized",
                device="cuda", warmup=3, iters=20, profile_warmup=0, profile_active=1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            samples = {True: [], False: []}
            for r in range(rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    cfg = RunConfig(**base, **case, telemetry=on, seed=r)
                    rec = run_one(cfg, Path(tmp) / ("on" if on else "off"))
                    if rec.status != "ok":
                        raise SystemExit(f"run failed: {rec.error}")
                    samples[on].extend(rec.manifest.timings.iteration_ms)
            on_med, off_med = statistics.median(samples[True]), statistics.median(samples[False])
            row = {**case, "median_ms_sampler_on": on_med, "median_ms_sampler_off": off_med,
                   "difference_pct": 100.0 * (on_med - off_med) / off_med, "iterations_each": len(samples[True]),
                   "sample_interval_ms": 20.0, "gpm_interval_ms": 100.0}
            results.append(row)
            print(json.dumps(row), flush=True)
    doc = {"what": "NVML sampler cost: median iteration latency with the sampler on vs off, alternating runs",
           "date": datetime.date.today().isoformat(), "environment": environment("cuda"),
           "config": {k: v for k, v in base.items()}, "results": results}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
