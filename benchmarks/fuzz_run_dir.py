"""Fuzz run directories: random mutations of a real run's manifest and telemetry must give a result or one
:class:`~bambaprof.errors.BambaprofError` (a one-line error, exit 1 or 2), never another exception (on the CPU).

Seeds: the example runs under ``traces/examples/`` (H200, eager and max-autotune, mixer and generate: their
``bambaprof/manifest.json`` and ``bambaprof/telemetry.json.gz``). Mutations, seeded: a value anywhere in the
manifest's or the telemetry's JSON tree replaced by one of another type, a negative, huge or non-finite number, a
nested or empty container, or deleted; a list lengthened or cut (telemetry series of unequal length); a file
name in ``files`` pointed elsewhere (``../``, an absolute path, a folder); and textual mutations of either file
(bytes flipped, slices deleted or repeated, the text cut short, gzip broken). Each mutant run is analysed
(JSON), reported (HTML into a temporary folder) and compared with the run it came from, all through the command
line in this process, and no half-written report may remain after an exit other than 0.

    python benchmarks/fuzz_run_dir.py [N] [SEED]     # default 2000 mutants, seed 0
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_loader import _odd, cli_exit_code, command_line, mutate_text  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "traces" / "examples"
_NAMES = ["../rank0.pt.trace.json.gz", "/etc/passwd", ".", "bambaprof", "", "x" * 300, "telemetry.json.gz", "a\x00b",
          "bambaprof/" + "é" * 200, "\udc80",
          "../../../../tmp", "rank0.pt.trace.json.gz", None, 5]


def _paths(node: Any, prefix: tuple = ()) -> List[tuple]:
    """Every path (keys and indices) into a JSON tree, containers and leaves."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:50]):  # long series: their first cells stand for the rest
            out += _paths(v, prefix + (i,))
    return out


def mutate_tree(doc: Any, rng: random.Random) -> Any:
    """One to four mutations of a JSON tree (see the module's description)."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        choice = rng.random()
        if choice < 0.6:
            parent[key] = _odd(rng)
        elif choice < 0.75 and isinstance(parent, dict):
            del parent[key]
        elif choice < 0.9 and isinstance(parent[key], list):
            parent[key] = parent[key][:rng.randrange(len(parent[key]) + 1)] + [_odd(rng)] * rng.randrange(3)
        elif isinstance(parent, dict):
            parent[key] = rng.choice(_NAMES)
    if isinstance(doc, dict) and isinstance(doc.get("files"), dict) and rng.random() < 0.15:
        doc["files"][rng.choice(["trace", "telemetry", "launch_map", "inductor_kernels", "log"])] = rng.choice(_NAMES)
    return doc


def run(n: int, seed: int, on_case: Callable[[int], None] = lambda i: None) -> Dict[str, Any]:
    """Analyse, report and compare ``n`` mutant run directories; returns the exit codes seen, and the first
    unexpected exceptions or exits (tracebacks, errors of more than one line, a report left after a failure)."""
    rng = random.Random(seed)
    seeds = sorted(p for p in EXAMPLES.iterdir() if (p / "bambaprof" / "manifest.json").is_file())
    codes: Dict[str, Dict[str, int]] = {"analyze": {}, "report": {}, "compare": {}}
    unexpected: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            on_case(i)
            source = rng.choice(seeds)
            run_dir = Path(tmp) / f"run{i % 4}"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.copytree(source, run_dir)
            side = run_dir / "bambaprof"
            manifest = json.loads((side / "manifest.json").read_text())
            telemetry_path = side / "telemetry.json.gz"
            telemetry = json.loads(gzip.decompress(telemetry_path.read_bytes())) if telemetry_path.is_file() else None
            target = rng.random()
            if target < 0.55 or telemetry is None:
                text = json.dumps(mutate_tree(manifest, rng)).encode()
                (side / "manifest.json").write_bytes(mutate_text(text, rng) if rng.random() < 0.25 else text)
            else:
                text = json.dumps(mutate_tree(telemetry, rng)).encode()
                raw = gzip.compress(mutate_text(text, rng) if rng.random() < 0.25 else text, compresslevel=1)
                telemetry_path.write_bytes(mutate_text(raw, rng) if rng.random() < 0.1 else raw)
            report = Path(tmp) / f"report{i % 4}.html"
            report.unlink(missing_ok=True)
            for command, argv in (("analyze", ["analyze", str(run_dir), "--format", "json", "-o",
                                               str(Path(tmp) / "a.json")]),
                                  ("report", ["report", str(run_dir), "-o", str(report)]),
                                  ("compare", ["compare", str(source), str(run_dir)])):
                code = cli_exit_code(argv, unexpected)
                codes[command][str(code)] = codes[command].get(str(code), 0) + 1
                if command == "report" and code != 0 and report.exists() and len(unexpected) < 5:
                    unexpected.append(f"report exit {code} left {report.name} behind ({source.name})")
    return {"mutants": n, "seed": seed, "exit_codes": codes, "unexpected": unexpected}


def main(argv: List[str]) -> int:
    return command_line(argv, run, 2000)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
