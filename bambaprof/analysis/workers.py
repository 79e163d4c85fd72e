"""Decoding a trace's pieces in worker processes: each builds columns for its pieces, the parent merges them.

The parent reads the text and cuts it into pieces (:mod:`.stream`); pieces go
round-robin to ``jobs`` forked workers over pipes, each worker decodes its
pieces into a :class:`~.builder.TraceBuilder` and, at the end, sends back
that builder's state (numpy columns and code tables). Pieces keep their
numbers, so the merged columns are in document order.

Workers are forked (they inherit the imported modules: no start-up cost), so
only where ``fork`` is safe: a POSIX system and a parent with one thread.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from typing import Callable, Iterable, List, Optional, Tuple, Union

from .builder import TABLES, TraceBuilder
from .parse import decode_piece
from .stream import PieceText

#: Below this many bytes of JSON text a trace is decoded in-process (forking costs more than it saves).
MIN_PARALLEL_BYTES = 24 << 20
#: Most worker processes used by default.
MAX_JOBS = 8


class PiecesFailed(Exception):
    """A worker could not decode a piece (a false cut, corrupt text) or died: read the document whole."""


def can_fork() -> bool:
    """Whether worker processes can be forked safely here (POSIX ``fork``, one thread in this process)."""
    return hasattr(os, "fork") and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may run on, at most :data:`MAX_JOBS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


def _work(conn: "multiprocessing.connection.Connection", fd: Optional[int]) -> None:
    """A worker's loop: decode numbered pieces until an empty message, then send the builder's state.

    A message is a piece number (8 bytes) and then either ``B`` and the piece's text (a JSON array) or ``R``
    and the offset and length (8 bytes each) of the piece's events in the file ``fd``."""
    builder = TraceBuilder()
    text_of = PieceText(fd)
    failure: Optional[str] = None
    while True:
        message = conn.recv_bytes()
        if not message:
            break
        if failure is not None:
            continue  # keep reading so that the parent never blocks on a full pipe
        try:
            number = int.from_bytes(message[:8], "little")
            if message[8:9] == b"R":
                item: Union[bytes, Tuple[int, int]] = (int.from_bytes(message[9:17], "little"),
                                                       int.from_bytes(message[17:25], "little"))
            else:
                item = message[9:]
            events, lenient, bad = decode_piece(text_of(item))
            builder.lenient += lenient
            builder.undecodable += bad
            builder.add(events, number)
            del events  # its raw slices point into the reused buffer
        except Exception as exc:  # a false cut or corrupt text: the parent reads the document whole
            failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        conn.send_bytes(pickle.dumps(("failed", failure)))
        return
    conn.send_bytes(pickle.dumps(("ok", builder.state()), protocol=pickle.HIGHEST_PROTOCOL))
    for table in TABLES:  # one table at a time: never the whole state pickled at once
        conn.send_bytes(pickle.dumps(builder.take_parts(table), protocol=pickle.HIGHEST_PROTOCOL))


def _message(number: int, item: Union[bytearray, bytes, Tuple[int, int]]) -> bytes:
    head = number.to_bytes(8, "little")
    if not isinstance(item, tuple):
        return head + b"B" + item
    return head + b"R" + item[0].to_bytes(8, "little") + item[1].to_bytes(8, "little")


def build_in_workers(pieces: Iterable[Union[bytearray, bytes, Tuple[int, int]]], jobs: int, fd: Optional[int] = None,
                     on_piece: Optional[Callable[[Union[bytearray, bytes, Tuple[int, int]]], None]] = None
                     ) -> TraceBuilder:
    """Decode ``pieces`` (bytes, or (offset, length) ranges of the file ``fd``) in ``jobs`` forked workers
    and merge their columns (in piece order).

    Raises :class:`PiecesFailed` when a piece does not decode or a worker dies.
    """
    conns: List["multiprocessing.connection.Connection"] = []
    pids: List[int] = []
    try:
        for _ in range(jobs):
            ours, theirs = multiprocessing.Pipe(duplex=True)
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the caller's code
                code = 0
                try:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    ours.close()
                    for c in conns:
                        c.close()
                    _work(theirs, fd)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            theirs.close()
            conns.append(ours)
            pids.append(pid)
        for number, item in enumerate(pieces):
            conns[number % jobs].send_bytes(_message(number, item))
            if on_piece is not None:
                on_piece(item)
        for conn in conns:
            conn.send_bytes(b"")
        builder = TraceBuilder()
        for conn in conns:
            status, payload = pickle.loads(conn.recv_bytes())
            if status != "ok":
                raise PiecesFailed(payload)
            take = builder.merge(payload)
            for table in TABLES:
                take(table, pickle.loads(conn.recv_bytes()))
        for pid in pids:  # each has sent its columns and is exiting
            os.waitpid(pid, 0)
        pids.clear()
        return builder
    except (OSError, EOFError) as exc:  # a worker died (killed, out of memory): its pipe broke
        raise PiecesFailed(f"a worker process stopped ({exc})") from None
    finally:
        for conn in conns:
            conn.close()
        for pid in pids:
            _reap(pid)


def _reap(pid: int) -> None:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
