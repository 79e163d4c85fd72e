"""Fuzz the reader of rocprofv3's JSON output: damaged files must give a result or one
:class:`~bambaprof.errors.BambaprofError`, never another exception (runs on the CPU).

Seed: the run of ``tests/analysis/test_rocprof_json.py`` (two kernels, HIP calls, a copy, roctx ranges; one or two
processes, its kernel symbols as a list or an object). Mutations, seeded: one to four values anywhere in the
document (a record, a field, a handle, a name table, the process list) replaced by a value of another type, a
negative, huge or non-finite number, or an empty or nested container; and, for one mutant in five, the text's bytes
flipped, deleted, repeated or cut short (``fuzz_loader.mutate_text``). Each mutant is analysed and its table
rendered.

    python benchmarks/fuzz_rocprof_json.py [N] [SEED]     # default 2000 mutants, seed 0
"""

from __future__ import annotations

import copy
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_loader import _ODD, attempt, command_line, mutate_text  # noqa: E402 - a script beside this one

ROOT = Path(__file__).resolve().parents[1]


def _places(node: Any) -> Iterator[Tuple[Any, Any]]:
    """Every (container, key) of a JSON document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        yield node, key
        yield from _places(value)


def run(n: int, seed: int, on_case: Callable[[int], None] = lambda i: None) -> Dict[str, Any]:
    """Analyse ``n`` mutants; returns counts and the first unexpected exceptions (with tracebacks)."""
    sys.path.insert(0, str(ROOT))
    from bambaprof.analysis import analyze
    from bambaprof.render.text import render_analysis
    from tests.analysis.test_rocprof_json import _process

    rng = random.Random(seed)
    counts = {"ok": 0, "refused": 0}
    unexpected: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            on_case(i)
            processes = [_process(), _process(pid=78, gpu_node=5)] if rng.random() < 0.3 else [
                _process(symbols_as_object=rng.random() < 0.3)]
            doc: Dict[str, Any] = {"rocprofiler-sdk-tool": processes}
            places = list(_places(doc))
            for _ in range(rng.randint(1, 4)):
                container, key = rng.choice(places)
                container[key] = copy.deepcopy(rng.choice(_ODD))
            text = json.dumps(doc).encode()
            if rng.random() < 0.2:
                text = mutate_text(text, rng)
            path = Path(tmp) / f"m{i % 8}_results.json"
            path.write_bytes(text)

            def case(path: Path = path) -> None:  # this iteration's
                a = analyze(path)
                render_analysis(a, a.kernels, a.ops)

            attempt(case, counts, unexpected)
    return {"mutants": n, "seed": seed, "analysed": counts["ok"], "refused_one_line": counts["refused"],
            "unexpected": unexpected}


def main(argv) -> int:
    return command_line(argv, run, 2000)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
