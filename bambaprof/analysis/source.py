"""Finding and reading a trace: a run directory, or a ``.json`` / ``.json.gz`` file.

Reading returns the raw bytes of the JSON document; every way it can fail
becomes a :class:`TraceError` with one line that says what is wrong. A file
compressed with gzip, bzip2 or xz (told by its first bytes, whatever its
name) is inflated as it is read, with the size guards below; zstd, lz4, zip
and 7z files are named as such, with the command that unpacks them.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import lzma
import mmap
import os
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from ..errors import BambaprofError
from ..run import TRACE_NAMES, read_manifest
from ..run.directory import manifest_path, member


class TraceError(BambaprofError):
    """The input is missing, unreadable, corrupt, or not a Kineto/Chrome trace."""


class BrokenStream(TraceError):
    """A compressed trace whose stream is cut short or corrupt: :func:`salvage_compressed` may still read its
    start."""


#: Compressions read as the text inflates, by the bytes a file of each starts with: name, stream class.
COMPRESSIONS: Dict[bytes, Tuple[str, Callable[[Any], Any]]] = {
    b"\x1f\x8b": ("gzip", lambda fh: gzip.GzipFile(fileobj=fh)),
    b"BZh": ("bzip2", bz2.BZ2File),
    b"\xfd7zXZ\x00": ("xz", lzma.LZMAFile),
}
#: Formats told by their first bytes but not read: name, the command that unpacks them.
PACKED_ELSEWHERE = {b"\x28\xb5\x2f\xfd": ("zstd file", "zstd -d"), b"\x04\x22\x4d\x18": ("lz4 file", "lz4 -d"),
                    b"PK\x03\x04": ("zip archive", "unzip"), b"7z\xbc\xaf\x27\x1c": ("7z archive", "7z x")}
_MAGIC = max(map(len, [*COMPRESSIONS, *PACKED_ELSEWHERE]))


def compression_of(fh: Any, path: Path) -> Optional[Tuple[str, Callable[[Any], Any]]]:
    """:func:`compression` of an open file's first bytes; the file is left at its start."""
    head = fh.read(_MAGIC)
    fh.seek(0)
    return compression(path, head)


def compression(path: Path, head: bytes) -> Optional[Tuple[str, Callable[[Any], Any]]]:
    """The compression a file starting with ``head`` is in (name and stream class), or ``None`` for text;
    raises :class:`TraceError` for a format it names but does not read."""
    for magic, found in COMPRESSIONS.items():
        if head.startswith(magic):
            return found
    for magic, (name, command) in PACKED_ELSEWHERE.items():
        if head.startswith(magic):
            raise TraceError(f"{path}: a {name}, which bambaprof does not read (it reads JSON, gzip, bzip2 and xz): "
                             f"unpack it first (`{command}`)")
    return None


@dataclass(frozen=True)
class TraceSource:
    """Where a trace comes from: the trace file, and the run directory holding it (if any).

    An Nsight Systems export that holds several processes can be read one process at a time: ``process`` is
    the pid to read, ``database`` the export already opened as a plain SQLite file (inflated or exported once,
    see :func:`bambaprof.analysis.nsys.database`) that is read in place of ``trace_path``."""

    trace_path: Path
    run_dir: Optional[Path] = None
    process: Optional[int] = None
    database: Optional[Path] = None

    @property
    def label(self) -> str:
        where = str(self.run_dir if self.run_dir is not None else self.trace_path)
        return where if self.process is None else f"{where} (pid {self.process})"


def source_name(source: TraceSource) -> str:
    """A short name for ``source``: its run directory's or file's name, and the pid it reads, if one."""
    name = (source.run_dir if source.run_dir is not None else source.trace_path).name
    return name if source.process is None else f"{name} (pid {source.process})"


#: A rank's trace named as a run directory names rank 0's (``rank<N>.pt.trace.json[.gz]``).
_RANK_TRACE = re.compile(r"rank(\d+)\.pt\.trace\.json(?:\.gz)?")


def one_trace_folder(path: Union[str, "os.PathLike[str]"]) -> bool:
    """Whether ``path`` is a folder read as one trace, as a run directory without its manifest is: it holds a run
    directory's trace file (``rank0.pt.trace.json.gz``, ``trace.json.gz`` or ``trace.json``) and no other rank's
    trace named the same way (``rank1.pt.trace.json.gz``, ...: then it is a folder of ranks, read side by side)."""
    p = Path(path)
    if not p.is_dir() or not any((p / name).is_file() for name in TRACE_NAMES):
        return False
    for f in p.iterdir():
        rank = _RANK_TRACE.fullmatch(f.name)
        if rank is not None and int(rank.group(1)) != 0 and f.is_file():
            return False
    return True


def resolve(path: Union[str, Path]) -> TraceSource:
    """Turn a user-given path (run directory or trace file) into a :class:`TraceSource`."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such file or directory")
    if not p.is_dir() and not p.is_file():  # a FIFO, socket or device would block or never end
        raise TraceError(f"{p}: not a regular file")
    if p.is_dir():
        if not manifest_path(p).is_file() and not one_trace_folder(p) and any(
                (p / name).is_file() for name in TRACE_NAMES):
            raise TraceError(f"{p}: a folder of several ranks' traces: read them side by side (`bambaprof analyze "
                             f"{p}`, `bambaprof.analyze_ranks`) or name one trace file")
        for name in TRACE_NAMES:
            if (p / name).is_file():
                return TraceSource(p / name, p)
        if manifest_path(p).is_file():
            try:
                manifest = read_manifest(p)
            except BambaprofError as exc:
                raise TraceError(str(exc)) from None
            trace_name = manifest.files.trace if manifest is not None else None
            trace_path = member(p, trace_name) if trace_name else None
            if trace_path is not None and trace_path.is_file():
                return TraceSource(trace_path, p)
            if manifest is not None and manifest.status == "failed":
                raise TraceError(f"{p}: the run failed and has no trace ({manifest.error})")
            if manifest is not None and not trace_name:  # a run that profiled nothing says why in its warnings
                why = next((w for w in manifest.warnings if "trace" in w or "profiler" in w), None)
                raise TraceError(f"{p}: the run recorded no trace" + (f" ({why})" if why else ""))
        raise TraceError(f"{p}: a directory without a trace (expected {' or '.join(TRACE_NAMES)})")
    return TraceSource(p, None)


#: The longest CSV field the CSV readers (Nsight Compute's tables, rocprofv3's files) accept: a long C++ template
#: kernel name runs past the csv module's default of 128 KB; a field of many MB is hostile, not real.
CSV_FIELD_LIMIT = 1 << 24


def allow_long_csv_fields() -> None:
    """Raise the csv module's field limit (process-wide) to :data:`CSV_FIELD_LIMIT`, so that every CSV reader of
    bambaprof accepts the same fields whichever ran first."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))


#: Environment variable that raises (or lowers) the largest decompressed trace read, in bytes.
MAX_BYTES_ENV = "BAMBAPROF_MAX_TRACE_BYTES"
#: Largest decompressed trace read unless :data:`MAX_BYTES_ENV` says otherwise: 16 GiB.
DEFAULT_MAX_BYTES = 16 * 2**30
#: A gzip that inflates more than this many times its size, past :data:`RATIO_FLOOR_BYTES`, is refused
#: (Kineto traces compress 10-20x; a "gzip bomb" 200-1000x) unless :data:`MAX_BYTES_ENV` is set. The ratio
#: is judged as it inflates, against the compressed bytes read so far: a 3 GB bomb is refused at 64 MiB.
MAX_RATIO = 50
RATIO_FLOOR_BYTES = 64 * 2**20
_CHUNK = 16 * 2**20


def max_trace_bytes() -> Optional[int]:
    """The limit :data:`MAX_BYTES_ENV` sets (bytes), or ``None`` when it is not set."""
    raw = os.environ.get(MAX_BYTES_ENV)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(float(raw))
    except ValueError:
        raise TraceError(f"{MAX_BYTES_ENV}={raw!r} is not a number of bytes") from None
    if value <= 0:
        raise TraceError(f"{MAX_BYTES_ENV}={raw!r} must be positive")
    return value


class _SizeGuard:
    """The size guards of an inflating stream (see :data:`MAX_BYTES_ENV`, :data:`MAX_RATIO`): ``out`` is the
    bytes inflated so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.explicit = max_trace_bytes()
        self.limit = self.explicit if self.explicit is not None else DEFAULT_MAX_BYTES
        self.out = 0

    def check(self, compressed_read: int) -> None:
        """Refuse the stream once it has inflated past the limit, or (no limit set) past :data:`MAX_RATIO`
        times the ``compressed_read`` bytes beyond :data:`RATIO_FLOOR_BYTES`."""
        if self.out > self.limit:
            raise TraceError(f"{self.path}: decompresses to more than {self.limit} bytes; set {MAX_BYTES_ENV} "
                             f"to a larger number of bytes to read it")
        if self.explicit is None and self.out > RATIO_FLOOR_BYTES and self.out > MAX_RATIO * max(compressed_read, 1):
            raise TraceError(f"{self.path}: decompresses to more than {MAX_RATIO}x its size (traces compress "
                             f"10-20x): refused as a likely gzip bomb; set {MAX_BYTES_ENV} to a number of "
                             f"bytes to read it anyway")


class _Inflater(_SizeGuard):
    """A compressed stream (gzip, bzip2 or xz: ``stream`` wraps the file) read in pieces, with the size guards."""

    def __init__(self, fh: Any, path: Path, stream: Callable[[Any], Any]) -> None:
        super().__init__(path)
        self.fh = fh
        self.stream = stream(fh)

    def read(self, n: int) -> bytes:
        chunk: bytes = self.stream.read(n)
        self.out += len(chunk)
        self.check(self.fh.tell())
        return chunk


def _inflate(fh: Any, path: Path, stream: Callable[[Any], Any]) -> bytearray:
    """Stream-decompress with the size guards: never more than the limit in memory."""
    out = bytearray()
    inflater = _Inflater(fh, path, stream)
    while True:
        chunk = inflater.read(_CHUNK)
        if not chunk:
            return out
        out += chunk


class TextReader:
    """The JSON text of a trace file, read piece by piece: as it is, or inflated from gzip (detected by its
    magic bytes) with the size guards. :meth:`read` raises :class:`TraceError` (one line) for every failure.

    ``size`` is the file's size on disk (bytes) and :meth:`tell` how much of it has been read: the progress.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with _as_trace_errors(path):
            self._fh = open(path, "rb", opener=_open_regular)
        self.size = os.fstat(self._fh.fileno()).st_size
        self._source: Any = self._fh
        self.compressed = False  # gzip, bzip2 or xz
        try:
            with _as_trace_errors(path):
                found = compression_of(self._fh, path)
            if found is not None:
                self._source = _Inflater(self._fh, path, found[1])
                self.compressed = True
            else:
                if self.size == 0:
                    raise TraceError(f"{path}: empty file")
                limit = max_trace_bytes() or DEFAULT_MAX_BYTES
                if self.size > limit:
                    raise TraceError(f"{path}: larger than {limit} bytes; set {MAX_BYTES_ENV} to read it")
        except BaseException:
            self._fh.close()
            raise

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of JSON text; ``b""`` at the end."""
        with _as_trace_errors(self.path):
            chunk: bytes = self._source.read(n)
        return chunk

    def fileno(self) -> int:
        """The file's descriptor (for ``os.pread`` of an uncompressed file)."""
        return self._fh.fileno()

    def tell(self) -> int:
        """Bytes of the file read so far."""
        try:
            return self._fh.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "TextReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextlib.contextmanager
def _as_trace_errors(path: Path) -> Iterator[None]:
    """Every way reading ``path`` can fail, as one :class:`TraceError` line."""
    try:
        yield
    except TraceError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError) as exc:
        raise BrokenStream(f"{path}: corrupt or truncated {_compressed_as(path)} ({exc})") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory") from None
    except _NotRegular:
        raise TraceError(f"{path}: not a regular file") from None
    except MemoryError:
        raise TraceError(f"{path}: out of memory while reading the trace") from None
    except OSError as exc:
        if exc.errno is None and "data stream" in str(exc):  # bz2's "Invalid data stream"
            raise BrokenStream(f"{path}: corrupt or truncated {_compressed_as(path)} ({exc})") from None
        raise TraceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _compressed_as(path: Path) -> str:
    """The compression ``path`` starts as (``gzip`` where it cannot be read or is no other)."""
    try:
        with open(path, "rb", opener=_open_regular) as fh:
            found = compression_of(fh, path)
    except (OSError, TraceError):
        return "gzip"
    return found[0] if found is not None else "gzip"


_FIRST_KEY = re.compile(rb'^\s*(?:\xef\xbb\xbf)?\s*\{\s*"([^"\\]{1,64})"\s*:')


def first_json_key(path: Path, head_bytes: int = 4096) -> Optional[str]:
    """The first key of the JSON object ``path`` holds (inflated as :class:`TextReader` inflates a trace), from its
    first ``head_bytes``; None where it does not start as an object with a key there, or cannot be read."""
    try:
        with TextReader(path) as reader:
            head = reader.read(head_bytes)
    except TraceError:
        return None
    return json_key_of(head)


def json_key_of(head: bytes) -> Optional[str]:
    """The first key of the JSON object whose text starts with ``head`` (a byte-order mark and white space
    allowed before it), or None."""
    first = _FIRST_KEY.match(head)
    return first.group(1).decode("utf-8", "replace") if first is not None else None


def read_bytes(path: Path) -> Union[bytes, bytearray, mmap.mmap]:
    """The JSON text of ``path``: decompressed when gzipped (detected by magic bytes), with a size guard
    (see :data:`MAX_BYTES_ENV`). Only regular files are read: a FIFO or device would block or never end."""
    with _as_trace_errors(path), open(path, "rb", opener=_open_regular) as fh:
        found = compression_of(fh, path)
        size = os.fstat(fh.fileno()).st_size
        if found is not None:
            data: Union[bytearray, mmap.mmap] = _inflate(fh, path, found[1])
        else:
            if size == 0:
                raise TraceError(f"{path}: empty file")
            limit = max_trace_bytes() or DEFAULT_MAX_BYTES
            if size > limit:
                raise TraceError(f"{path}: larger than {limit} bytes; set {MAX_BYTES_ENV} to read it")
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if len(data) == 0:
        raise TraceError(f"{path}: empty file")
    return data


def salvage_compressed(path: Path) -> bytearray:
    """The text a compressed trace holds before its stream breaks off (a cut or corrupt file), inflated as far as
    the data goes, with the same size guards as :func:`read_bytes`: gzip through ``zlib`` (which keeps what
    :mod:`gzip` drops with the error), bzip2 and xz through their decompressors (bzip2 decodes whole blocks, of
    up to 900 kB of text: the block it breaks in is lost). Raises :class:`BrokenStream` when nothing could be
    inflated."""
    with _as_trace_errors(path), open(path, "rb", opener=_open_regular) as fh:
        found = compression_of(fh, path)
        name = found[0] if found is not None else "gzip"
        out = _inflated_until_error(fh, path) if name == "gzip" else \
            _decompressed_until_error(fh, path, _DECOMPRESSORS[name])
    if not out:
        raise BrokenStream(f"{path}: corrupt or truncated {name} (nothing could be inflated)")
    return out


def _inflated_until_error(fh: Any, path: Path) -> bytearray:
    out = bytearray()
    inflater = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    guard = _SizeGuard(path)
    while not inflater.eof:
        data = fh.read(_CHUNK // 16)
        if not data:
            break
        try:
            while data and not inflater.eof:  # at most _CHUNK inflated at a time: a bomb is refused early
                piece = inflater.decompress(data, _CHUNK)
                out += piece
                guard.out = len(out)
                guard.check(fh.tell())
                data = inflater.unconsumed_tail
        except zlib.error:
            break  # corrupt from here on: keep what came before
    return out


#: Incremental decompressors of the compressions other than gzip, for :func:`salvage_compressed`.
_DECOMPRESSORS: Dict[str, Callable[[], Any]] = {"bzip2": bz2.BZ2Decompressor, "xz": lzma.LZMADecompressor}


def _decompressed_until_error(fh: Any, path: Path, decompressor: Callable[[], Any]) -> bytearray:
    """All that a bzip2 or xz decompressor gives out before the stream ends or breaks (its stream classes drop
    the text of a read that an error ends), at most :data:`_CHUNK` at a time, with the size guards."""
    out = bytearray()
    guard = _SizeGuard(path)
    unpack = decompressor()
    try:
        while not unpack.eof:
            data = b""
            if unpack.needs_input:
                data = fh.read(_CHUNK // 16)
                if not data:
                    break
            out += unpack.decompress(data, _CHUNK)
            guard.out = len(out)
            guard.check(fh.tell())
    except (EOFError, OSError, lzma.LZMAError):
        pass  # corrupt from here on: keep what came before
    return out


class _NotRegular(OSError):
    """A FIFO, socket or device: reading it would block or never end."""


def _open_regular(path: str, flags: int) -> int:
    """``os.open`` that refuses anything but a regular file, without blocking on a FIFO."""
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise _NotRegular(path)
    except BaseException:
        os.close(fd)
        raise
    return fd
