"""Finding and reading a trace: a run directory, or a ``.json`` / ``.json.gz`` file.

Reading returns the raw bytes of the JSON document; every way it can fail
becomes a :class:`TraceError` with one line that says what is wrong.
"""

from __future__ import annotations

import gzip
import mmap
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..errors import BambaprofError
from ..run import MANIFEST, TRACE_NAMES, read_manifest


class TraceError(BambaprofError):
    """The input is missing, unreadable, corrupt, or not a Kineto/Chrome trace."""


@dataclass(frozen=True)
class TraceSource:
    """Where a trace comes from: the trace file, and the run directory holding it (if any)."""

    trace_path: Path
    run_dir: Optional[Path] = None

    @property
    def label(self) -> str:
        return str(self.run_dir if self.run_dir is not None else self.trace_path)


def resolve(path: Union[str, Path]) -> TraceSource:
    """Turn a user-given path (run directory or trace file) into a :class:`TraceSource`."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such file or directory")
    if not p.is_dir() and not p.is_file():  # a FIFO, socket or device would block or never end
        raise TraceError(f"{p}: not a regular file")
    if p.is_dir():
        for name in TRACE_NAMES:
            if (p / name).is_file():
                return TraceSource(p / name, p)
        if (p / MANIFEST).is_file():
            try:
                manifest = read_manifest(p)
            except BambaprofError as exc:
                raise TraceError(str(exc)) from None
            trace_name = manifest.files.trace if manifest is not None else None
            if trace_name and (p / trace_name).is_file():
                return TraceSource(p / trace_name, p)
            if manifest is not None and manifest.status == "failed":
                raise TraceError(f"{p}: the run failed and has no trace ({manifest.error})")
        raise TraceError(f"{p}: a directory without a trace (expected {' or '.join(TRACE_NAMES)})")
    return TraceSource(p, None)


def read_bytes(path: Path) -> Union[bytes, mmap.mmap]:
    """The JSON text of ``path``: decompressed when gzipped (detected by magic bytes)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=fh) as gz:
                    data = gz.read()
            else:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise TraceError(f"{path}: empty file")
                data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except TraceError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise TraceError(f"{path}: corrupt or truncated gzip ({exc})") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) == 0:
        raise TraceError(f"{path}: empty file")
    return data
