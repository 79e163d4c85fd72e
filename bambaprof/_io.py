"""Small file helpers: all-or-nothing writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional, Union

from .errors import BambaprofError


def write_text_atomic(path: Union[str, Path], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename,
    so the file is complete or absent. Raises :class:`BambaprofError` on I/O errors."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> Path:
    """:func:`write_text_atomic` for bytes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs follow the umask like any file
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        blocker = _file_in_the_way(path)
        why = f"{blocker} is a file, not a folder" if blocker is not None else exc.strerror or exc
        raise BambaprofError(f"cannot write {path}: {why}") from None
    return path


def _file_in_the_way(path: Path) -> Optional[Path]:
    """The nearest folder above ``path`` that exists as something other than a folder (a file where a folder
    must be made), or None."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None
