"""Fuzz the readers of SQLite traces (Nsight Systems exports, rocpd databases): damaged databases must give a
result or one :class:`~bambaprof.errors.BambaprofError`, never another exception (runs on the CPU).

Seeds: three real H200 exports (``tests/data/nsys``: CUDA graphs node by node, a two-rank job, sampled GPU
metrics) and three rocpd databases of one run in each layout the reader knows (records with their times, on
tracks with timestamps, per-run tables without views; built by ``tests/analysis/test_rocpd.py``). Mutations,
seeded: bytes of the file flipped, the file cut short, or, through SQLite, a column set to a value of another
type (NULL, text, a float, bytes, huge or negative numbers) in some or all rows, rows deleted, a table or a
column dropped. Each mutant goes through ``analyze`` (table and JSON) or ``report``.

    python benchmarks/fuzz_nsys.py [N] [SEED]     # default 2000 mutants, seed 0
"""

from __future__ import annotations

import contextlib
import gzip
import random
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "nsys"
SEEDS = ["h200-workload-nodes.sqlite.gz", "h200-two-ranks.sqlite.gz", "h200-gpu-metrics.sqlite.gz"]
_ODD = [None, -1, 0, 2**62, "x", 1.5, b"\x00\xff", "\udcff"]


def _mutate_rows(path: Path, rng: random.Random) -> None:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for _ in range(rng.randint(1, 3)):
            table = rng.choice(tables)
            columns = [r[1] for r in con.execute(f"PRAGMA table_info([{table}])")]
            if not columns:
                continue
            column, choice = rng.choice(columns), rng.random()
            value = rng.choice(_ODD)
            if isinstance(value, str) and "\udcff" in value:  # text that is not UTF-8
                value = b"bad \xff\xfe text"
                statement = f"UPDATE [{table}] SET [{column}] = CAST(? AS TEXT) WHERE rowid % ? = 0"
            else:
                statement = f"UPDATE [{table}] SET [{column}] = ? WHERE rowid % ? = 0"
            with contextlib.suppress(sqlite3.Error):
                if choice < 0.5:
                    con.execute(statement, (value, rng.randint(1, 5)))
                elif choice < 0.7:
                    con.execute(f"DELETE FROM [{table}] WHERE rowid % ? = 0", (rng.randint(1, 4),))
                elif choice < 0.8:
                    con.execute(f"DROP TABLE [{table}]")
                elif choice < 0.9:
                    con.execute(f"ALTER TABLE [{table}] DROP COLUMN [{column}]")
                else:
                    con.execute(f"UPDATE [{table}] SET [{column}] = NULL")
        con.commit()
    finally:
        con.close()


def mutant(raw: bytes, path: Path, rng: random.Random) -> None:
    """Write a damaged copy of the export ``raw`` to ``path``."""
    choice = rng.random()
    if choice < 0.3:
        data = bytearray(raw)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
    elif choice < 0.45:
        path.write_bytes(raw[:rng.randrange(len(raw))])
    else:
        path.write_bytes(raw)
        _mutate_rows(path, rng)


def rocpd_seeds() -> List[bytes]:
    """rocpd databases of the rocpd test's run, one per layout."""
    sys.path.insert(0, str(DATA.parents[2]))
    from tests.analysis.test_rocpd import _run

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, layout in enumerate([{}, {"tracks": True}, {"views": False}]):
            out.append(_run(Path(tmp) / f"seed{i}.db", **layout).read_bytes())
    return out


def run(n: int, seed: int, on_case: Callable[[int], None] = lambda i: None) -> Dict[str, Any]:
    """Read ``n`` mutants through the command line; returns the exit codes and the first unexpected exceptions
    (with tracebacks)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzz_loader import cli_exit_code

    rng = random.Random(seed)
    raws = [gzip.decompress((DATA / s).read_bytes()) for s in SEEDS] + rocpd_seeds()
    codes: Dict[str, int] = {}
    unexpected: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            on_case(i)
            path = Path(tmp) / f"m{i % 4}.sqlite"
            mutant(rng.choice(raws), path, rng)
            argv = rng.choice([["analyze", str(path)], ["analyze", str(path), "--format", "json"],
                               ["report", str(path), "-o", str(Path(tmp) / "r.html")]])
            code = cli_exit_code(argv, unexpected)
            codes[str(code)] = codes.get(str(code), 0) + 1
    return {"mutants": n, "seed": seed, "exit_codes": codes, "unexpected": unexpected}


def main(argv) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzz_loader import command_line

    return command_line(argv, run, 2000)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
