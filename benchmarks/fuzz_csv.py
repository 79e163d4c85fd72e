"""Fuzz the CSV readers (Nsight Compute's ``--ncu`` CSVs, rocprofv3's CSV output): damaged files must give a
result or one :class:`~bambaprof.errors.BambaprofError`, never another exception (runs on the CPU).

Seeds: real H100 Nsight Compute CSVs of the mixer's kernels (``tests/data/ncu``: the raw page and the details
page), read beside the Kineto trace of the same workload, and one rocprofv3 run folder (kernels, HIP calls,
copies, markers, agents; built by ``tests/analysis/test_rocprof.py``). Mutations, seeded: through the CSV
module, a cell set to an odd value (empty, text, a negative, huge or non-finite number, a NUL, a quote, a line
break), rows dropped, doubled or shuffled, a column dropped or its header renamed; or, as bytes
(``fuzz_loader.mutate_text``), bytes flipped, a slice deleted or repeated, the file cut short, or emptied. A
rocprofv3 mutant damages one to three of the run's files. Each mutant goes through ``analyze`` (table or JSON) or
``report``.

    python benchmarks/fuzz_csv.py [N] [SEED]     # default 2000 mutants, seed 0
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_loader import cli_exit_code, command_line, mutate_text  # noqa: E402 - a script beside this one

ROOT = Path(__file__).resolve().parents[1]
NCU = ROOT / "tests" / "data" / "ncu"
NCU_SEEDS = ["h100-mixer-kernels-raw.csv.gz", "h100-mixer-kernels-details.csv.gz"]
NCU_TRACE = NCU / "h100-mixer-kernels-trace.json.gz"
_ODD = ["", "x", "-1", "0", "1e400", "-1e400", "nan", "inf", "n/a", "18446744073709551617", "1,5", "\x00",
        '"', "a\nb", "\udcff", "0x10", " 12 "]


def _odd(rng: random.Random) -> str:
    value = rng.choice(_ODD)
    return "bad \udcff text" if value == "\udcff" else value


def _mutate_rows(text: str, rng: random.Random) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        r = rng.randrange(len(rows))
        if choice < 0.45 and rows[r]:
            rows[r][rng.randrange(len(rows[r]))] = _odd(rng)
        elif choice < 0.55:
            del rows[r]
        elif choice < 0.65:
            rows.insert(r, list(rows[r]))
        elif choice < 0.72:
            body = rows[1:]
            rng.shuffle(body)
            rows[1:] = body
        elif choice < 0.86 and rows[0]:
            column = rng.randrange(len(rows[0]))
            rows = [row[:column] + row[column + 1:] for row in rows]
        elif rows[0]:
            rows[0][rng.randrange(len(rows[0]))] = rng.choice(["", "Kernel Name", "ID", "x", rows[0][0]])
        if not rows:
            return ""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def mutant(raw: bytes, rng: random.Random) -> bytes:
    """A damaged copy of the CSV file ``raw``."""
    if rng.random() < 0.6:
        text = raw.decode("utf-8", "surrogateescape")
        return _mutate_rows(text, rng).encode("utf-8", "surrogateescape")
    return b"" if rng.random() < 0.05 else mutate_text(raw, rng)


def rocprof_seed() -> Dict[str, bytes]:
    """The files of the rocprofv3 test's run, by name."""
    sys.path.insert(0, str(ROOT))
    from tests.analysis.test_rocprof import _run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        _run(folder)
        return {p.name: p.read_bytes() for p in folder.iterdir()}


def _ncu_case(raws: List[bytes], tmp: Path, i: int, rng: random.Random) -> Tuple[List[str], str]:
    path = tmp / f"ncu{i % 4}.csv"
    path.write_bytes(mutant(rng.choice(raws), rng))
    return ["analyze", str(NCU_TRACE), "--ncu", str(path)], "ncu"


def _rocprof_case(files: Dict[str, bytes], tmp: Path, i: int, rng: random.Random) -> Tuple[List[str], str]:
    folder = tmp / f"roc{i % 4}"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    damaged = set(rng.sample(sorted(files), rng.randint(1, 3)))
    for name, raw in files.items():
        (folder / name).write_bytes(mutant(raw, rng) if name in damaged else raw)
    kernels = next(n for n in files if n.endswith("kernel_trace.csv"))
    return ["analyze", str(folder if rng.random() < 0.5 else folder / kernels)], "rocprof"


def run(n: int, seed: int, on_case: Callable[[int], None] = lambda i: None) -> Dict[str, Any]:
    """Read ``n`` mutants through the command line; returns the exit codes by kind of input and the first
    unexpected exceptions (with tracebacks)."""
    rng = random.Random(seed)
    ncu_raws = [gzip.decompress((NCU / s).read_bytes()) for s in NCU_SEEDS]
    roc_files = rocprof_seed()
    codes: Dict[str, Dict[str, int]] = {"ncu": {}, "rocprof": {}}
    unexpected: List[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for i in range(n):
            on_case(i)
            if rng.random() < 0.5:
                argv, kind = _ncu_case(ncu_raws, tmp, i, rng)
            else:
                argv, kind = _rocprof_case(roc_files, tmp, i, rng)
            argv += rng.choice([[], ["--format", "json"]])
            if kind == "rocprof" and rng.random() < 0.3:
                argv = ["report", argv[1], "-o", str(tmp / "r.html")]
            code = cli_exit_code(argv, unexpected)
            codes[kind][str(code)] = codes[kind].get(str(code), 0) + 1
    return {"mutants": n, "seed": seed, "exit_codes": codes, "unexpected": unexpected}


def main(argv) -> int:
    return command_line(argv, run, 2000)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
