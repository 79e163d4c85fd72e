"""Where an Nsight Systems export comes from: a ``.sqlite`` file (plain or gzipped, inflated to a temporary
file once), or a report (``.nsys-rep``) that the ``nsys`` CLI exports first."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Iterator

from ..source import TextReader, TraceError
from ..vendor_tools import NSYS

#: The parser backend a trace read from an Nsight Systems export reports (``Trace.backend``, the summary's
#: ``parser_backend``).
BACKEND = "nsys-sqlite"


#: The first bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"


#: Nsight Systems report files that must be exported before they can be read.
REPORT_SUFFIXES = (".nsys-rep", ".qdrep", ".qdstrm")


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` holds an SQLite database (plain or gzipped), judged by its first bytes."""
    try:
        with TextReader(path) as reader:
            return reader.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except TraceError:
        return False


def is_unexported_report(path: Path) -> bool:
    """Whether ``path`` is an Nsight Systems report that ``nsys export`` must turn into SQLite first."""
    return path.suffix in REPORT_SUFFIXES


#: Environment variable naming the ``nsys`` executable that exports reports (default: ``nsys`` on PATH).
NSYS_ENV = NSYS.env


@contextlib.contextmanager
def exported(report: Path) -> Iterator[Path]:
    """An Nsight Systems report (``.nsys-rep``, ``.qdrep``) exported to SQLite in a temporary folder by the
    ``nsys`` CLI (``$BAMBAPROF_NSYS``, else ``nsys`` on PATH), removed afterwards. Raises :class:`TraceError`
    (one line) when there is no ``nsys`` or the export fails."""
    command = f"nsys export --type sqlite {report.name}"
    if report.suffix == ".qdstrm":
        raise TraceError("an Nsight Systems capture stream (.qdstrm): import it into a .nsys-rep with its "
                         f"QdstrmImporter, then export that ({command.replace('.qdstrm', '.nsys-rep')})")
    with tempfile.TemporaryDirectory(prefix="bambaprof-nsys-") as folder:
        out = Path(folder) / "report.sqlite"
        NSYS.run(["export", "--type", "sqlite", "--force-overwrite", "true", "--output", str(out), str(report)],
                 command=command, then="analyse the .sqlite file", error=TraceError, succeeded=out.is_file)
        yield out


@contextlib.contextmanager
def database_file(path: Path) -> Iterator[Path]:
    """The database as a plain file: ``path`` itself, or a temporary copy inflated from gzip."""
    with TextReader(path) as reader:
        if not reader.compressed:
            yield path
            return
        fd, name = tempfile.mkstemp(suffix=".sqlite", prefix="bambaprof-nsys-")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = reader.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            yield Path(name)
        finally:
            os.unlink(name)


@contextlib.contextmanager
def database(path: Path) -> Iterator[Path]:
    """An export as a plain SQLite file for as long as the block runs: a ``.sqlite`` itself, a ``.sqlite.gz``
    inflated, a report (``.nsys-rep``) exported by the ``nsys`` CLI, so that reading it several times (one
    process at a time) inflates or exports it once."""
    if is_unexported_report(path):
        with exported(path) as out:
            yield out
        return
    with database_file(path) as out:
        yield out


#: What reading a damaged export raises: SQLite's errors, and the decoding of an error message that quotes the
#: damaged schema's bytes.
SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)


def connect(path: Path) -> sqlite3.Connection:
    """The export opened read-only; text that is not UTF-8 (a damaged file, a name cut inside a character) reads
    with U+FFFD in place of its bad bytes, as a JSON trace's does, instead of failing the read."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except SQLITE_ERRORS as exc:
        raise TraceError(f"SQLite cannot open it ({exc})") from None
    db.text_factory = _lenient_text
    return db


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
