"""The run directory on disk: one writer, one reader, one updater, and iteration over folders of runs.

A run directory ``<folder>/<run-id>/`` holds ``manifest.json`` (:class:`~bambaprof.run.Manifest`),
``trace.json.gz`` (the Kineto trace) and, when NVML was sampled, ``telemetry.json.gz`` (see
:mod:`bambaprof.run.telemetry`). It is complete or absent: :class:`RunDirWriter` builds it in a hidden
temporary folder beside its final name and renames it into place at the end; an interrupted run leaves
nothing under the final name (and its temporary folder is removed). Readers never raise on a missing
optional file: they return ``None``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Union

from .._io import write_bytes_atomic, write_text_atomic
from .._json import json_safe
from ..errors import BambaprofError
from .config import RunConfig
from .layout import LEGACY_MANIFEST, MANIFEST, SIDE, TELEMETRY, TMP_PREFIX, TRACE
from .manifest import Manifest, decode_manifest, encode_manifest

PathLike = Union[str, "os.PathLike[str]"]


#: The largest side file (manifest, telemetry) read, decompressed: far above any real one.
SIDE_FILE_LIMIT = 2**30


def read_side_file(path: Path) -> bytes:
    """A side file's bytes (gunzipped for ``.gz``): regular files only, at most :data:`SIDE_FILE_LIMIT`."""
    try:
        if not path.is_file():
            raise BambaprofError(f"{path}: not a regular file")
        with open(path, "rb") as fh:
            stream = gzip.GzipFile(fileobj=fh) if path.suffix == ".gz" else fh
            data = stream.read(SIDE_FILE_LIMIT + 1)
        if len(data) > SIDE_FILE_LIMIT:
            raise BambaprofError(f"{path}: larger than {SIDE_FILE_LIMIT} bytes: not a bambaprof side file")
        return data
    except (OSError, EOFError, zlib.error) as exc:
        raise BambaprofError(f"{path}: unreadable ({getattr(exc, 'strerror', None) or exc})") from None


#: The longest file name (bytes) the file systems a run directory lives on take: a longer one in a manifest would
#: make every look-up raise, not miss.
NAME_MAX = 255


def member(run_dir: PathLike, name: str) -> Optional[Path]:
    """``run_dir / name`` when ``name`` (from a manifest: untrusted) is a plain file name, or one in the run's
    side folder (``bambaprof/<name>``), else ``None``."""
    if not name or "\x00" in name:
        return None
    folder, _, base = name.rpartition("/")
    if folder not in ("", SIDE) or not base or Path(base).name != base or base in (".", "..") \
            or len(base.encode("utf-8", "surrogatepass")) > NAME_MAX:
        return None
    return Path(run_dir) / name


def manifest_path(run_dir: PathLike) -> Path:
    """Where the run's manifest is: in the side folder, or at the top (run directories written before it)."""
    new = Path(run_dir) / MANIFEST
    old = Path(run_dir) / LEGACY_MANIFEST
    return old if not new.is_file() and old.is_file() else new


def is_run_dir(path: PathLike) -> bool:
    """Whether ``path`` is a folder holding a manifest."""
    return manifest_path(path).is_file()


def read_manifest(run_dir: PathLike) -> Optional[Manifest]:
    """The run's manifest (migrated to the current schema), or ``None`` when the folder has none."""
    path = manifest_path(run_dir)
    if not path.is_file():
        return None
    return decode_manifest(read_side_file(path), str(path), run_id=Path(run_dir).resolve().name)


def write_manifest(run_dir: PathLike, manifest: Manifest) -> Path:
    """Write ``manifest`` into ``run_dir`` atomically (complete or unchanged)."""
    return write_text_atomic(manifest_path(run_dir), encode_manifest(manifest).decode())


def update_manifest(run_dir: PathLike, change: Callable[[Manifest], None]) -> Manifest:
    """Read the run's manifest, let ``change`` edit it, and write it back atomically (migrated to the
    current schema version). Not a run directory: a one-line error."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise BambaprofError(f"{run_dir}: not a run directory (no {MANIFEST})")
    change(manifest)
    write_manifest(run_dir, manifest)
    return manifest


def upgrade_layout(run_dir: PathLike) -> bool:
    """Move a run directory written before the side folder into today's layout (the trace at the top as
    ``rank0.pt.trace.json.gz`` with ``distributedInfo``, everything else under ``bambaprof/``), so that trace
    tools load it as it is; returns whether anything moved. The manifest is rewritten last, so a folder
    interrupted half-way still reads (its file names are looked up in both places)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    legacy = run_dir / LEGACY_MANIFEST
    if manifest is None or not legacy.is_file():
        return False
    (run_dir / SIDE).mkdir(exist_ok=True)
    files = manifest.files
    trace_name = files.trace if files.trace and member(run_dir, files.trace) else None
    if trace_name and (run_dir / trace_name).is_file() and "/" not in trace_name:
        raw = read_side_file(run_dir / trace_name) if trace_name.endswith(".gz") else (run_dir / trace_name).read_bytes()
        doc = json.loads(raw)
        if isinstance(doc, dict):
            doc.setdefault("distributedInfo", {"rank": 0})
        write_bytes_atomic(run_dir / TRACE, gzip.compress(json.dumps(doc).encode(), compresslevel=6))
        if trace_name != TRACE:
            (run_dir / trace_name).unlink()
        files.trace = TRACE
    for field_name in ("telemetry", "launch_map", "inductor_kernels", "log"):
        name = getattr(files, field_name)
        if name and "/" not in name and member(run_dir, name) and (run_dir / name).is_file():
            os.replace(run_dir / name, run_dir / SIDE / name)
            setattr(files, field_name, f"{SIDE}/{name}")
    write_text_atomic(run_dir / MANIFEST, encode_manifest(manifest).decode())
    legacy.unlink()
    return True


def read_telemetry(run_dir: PathLike, manifest: Optional[Manifest] = None) -> Optional[Dict[str, Any]]:
    """The run's telemetry columns, or ``None`` when it has none."""
    name = manifest.files.telemetry if manifest is not None else None
    if not name:  # not named: where this layout puts it, or where run directories before the side folder did
        name = TELEMETRY if (Path(run_dir) / TELEMETRY).is_file() else TELEMETRY.rpartition("/")[2]
    path = member(run_dir, name)
    if path is None:
        raise BambaprofError(f"{run_dir}: the manifest names telemetry {name!r}, not a file in the run directory")
    if not path.is_file():
        return None
    try:
        data = json.loads(read_side_file(path))
    except RecursionError:
        raise BambaprofError(f"{path}: unreadable (nested too deeply)") from None
    except ValueError as exc:
        raise BambaprofError(f"{path}: unreadable ({exc})") from None
    return _columns_only(data) if isinstance(data, dict) else None


#: The telemetry file's groups of columns (:mod:`.telemetry`).
TELEMETRY_GROUPS = ("nvml", "gpm")


def _columns_only(data: Dict[str, Any]) -> Dict[str, Any]:
    """The telemetry with every group that is not a mapping, and every column that is not a list, left out: what
    reads it (summaries, charts) may then zip any two columns, whatever a hand-edited or damaged file held. The
    cells are checked where they are used (numbers only)."""
    out = {k: v for k, v in data.items() if k not in TELEMETRY_GROUPS}
    for group in TELEMETRY_GROUPS:
        cols = data.get(group)
        if isinstance(cols, dict):
            out[group] = {str(k): v for k, v in cols.items() if isinstance(v, list)}
    return out


class RunDirWriter:
    """Builds ``root/<run_id>`` in a temporary folder; :meth:`commit` renames it into place."""

    def __init__(self, root: PathLike, run_id: str) -> None:
        self.root = Path(root)
        self.run_id = run_id
        self.final = self.root / run_id
        self.tmp = self.root / f"{TMP_PREFIX}{run_id}-{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> "RunDirWriter":
        try:
            (self.tmp / SIDE).mkdir(parents=True)
            (self.tmp / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        except OSError as exc:
            raise BambaprofError(f"cannot create a run directory under {self.root}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.tmp.exists():  # not committed: an error or an interruption
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name: str) -> Path:
        return self.tmp / name

    def write_json(self, name: str, data: Any) -> None:
        """Write ``data`` as JSON; non-finite floats (NVML can report NaN) become ``null``."""
        text = json.dumps(json_safe(data), indent=1, default=str, allow_nan=False)
        if name.endswith(".gz"):
            with gzip.open(self.tmp / name, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            (self.tmp / name).write_text(text + "\n", encoding="utf-8")

    def write_manifest(self, manifest: Manifest) -> None:
        (self.tmp / MANIFEST).write_bytes(encode_manifest(manifest))

    def commit(self) -> Path:
        """Move the finished folder to its final name (replacing an earlier run of the same id)."""
        (self.tmp / OWNER).unlink(missing_ok=True)  # finished: no longer anyone's work in progress
        old = None
        if self.final.exists():
            old = self.root / f"{TMP_PREFIX}old-{self.run_id}-{uuid.uuid4().hex[:6]}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final


#: A temporary folder's owner (``<host> <pid>``), so that cleaning up never removes a live run's folder.
OWNER = ".owner"
#: A temporary folder without an owner file (older bambaprof) counts as stale once it is this old (s).
UNOWNED_STALE_S = 6 * 3600


def _is_stale(tmp: Path) -> bool:
    """Whether the run building ``tmp`` is gone: its process is dead on this host; on another host (a shared
    file system) or without an owner file, when nothing in it changed for :data:`UNOWNED_STALE_S`."""
    import time

    try:
        host, pid = (tmp / OWNER).read_text().split()
        if host == socket.gethostname():
            os.kill(int(pid), 0)
            return False  # alive
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    except (OSError, ValueError):
        pass
    try:
        newest = max([tmp.stat().st_mtime] + [p.stat().st_mtime for p in tmp.iterdir()])
    except OSError:
        return False
    return time.time() - newest > UNOWNED_STALE_S


def remove_stale_temporaries(root: PathLike) -> int:
    """Delete the temporary folders under ``root`` left by runs that were killed (never a live run's);
    returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(TMP_PREFIX) and _is_stale(p)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def iter_run_dirs(root: PathLike) -> Iterator[Path]:
    """Run directories (those with a manifest) directly under ``root``, by name."""
    root = Path(root)
    if not root.is_dir():
        return
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and manifest_path(p).is_file():
            yield p


@dataclass
class RunRecord:
    """One run of a matrix or a folder: where it is, its manifest, and how it went.

    ``status`` is the manifest's (``ok``/``failed``) or, for a run that has no directory (yet), what its
    launcher says (``pending``, ``running``, ``skipped (done)`` for a run ``--resume`` kept).
    """

    run_id: str
    status: str
    path: Optional[Path] = None
    manifest: Optional[Manifest] = None
    config: Optional[RunConfig] = None
    error: Optional[str] = None

    @classmethod
    def load(cls, run_dir: PathLike) -> "RunRecord":
        """The record of an existing run directory (a one-line error when it is not one)."""
        path = Path(run_dir)
        manifest = read_manifest(path)
        if manifest is None:
            raise BambaprofError(f"{path}: not a run directory (no {MANIFEST})")
        return cls.of(path, manifest)

    @classmethod
    def of(cls, path: Path, manifest: Manifest, status: Optional[str] = None) -> "RunRecord":
        return cls(manifest.run_id, status or manifest.status, path, manifest, manifest.config, manifest.error)

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.manifest.ok

    @property
    def name(self) -> str:
        return self.manifest.name if self.manifest is not None else self.run_id


def iter_runs(folder: PathLike) -> Iterator[RunRecord]:
    """The runs under ``folder``, by path: the folder itself when it is a run directory, else every run
    directory below it at any depth (a folder of runs, a sweep root's ``runs/``, ``traces/`` with its
    ``examples/`` and ``sweeps/``), never looking inside a run directory nor into hidden (``.tmp-``)
    folders. Unreadable manifests raise."""
    folder = Path(folder)
    if is_run_dir(folder):
        yield RunRecord.load(folder)
        return
    if not folder.is_dir():
        return
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from iter_runs(sub)
