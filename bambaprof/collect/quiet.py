"""Keep the libraries' own messages out of the user's terminal: into the run directory's log instead.

Kineto prints a ``USDT: ... profiler_start``/``profiler_stop`` line on every profiler session and the CPU
allocator a warning about blocks allocated before profiling; both write straight to file descriptor 2. While
:func:`stderr_into` is active, whatever the process writes there (those lines, Python warnings) goes to a
file of the run directory (``log.txt``) instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def stderr_into(path: Path) -> Iterator[None]:
    """Redirect file descriptor 2 (and ``sys.stderr``) into ``path`` (appended) while active."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to redirect: leave things as they are
        yield
        return
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved, 2)
    finally:
        os.close(saved)
