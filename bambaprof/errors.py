"""Exceptions that the command line turns into one-line messages.

:class:`BambaprofError` is a failure (exit code 1); :class:`UsageError` is bad
input from the user (exit code 2). Library code raises these with a message
that stands on its own line, without a traceback.
"""

from pathlib import Path
from typing import Any, Optional


class BambaprofError(Exception):
    """A failure the user should read as one line (the CLI exits with code 1)."""

    exit_code = 1


class UsageError(BambaprofError):
    """Bad input from the user: an unknown name, a bad value (the CLI exits with code 2)."""

    exit_code = 2


class Interrupted(BambaprofError):
    """The user interrupted a long command (Ctrl-C: exit code 130; SIGTERM: 143)."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python gets the signal so that cleanup runs as for Ctrl-C."""


def terminate_like_interrupt() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (the run in progress removes its temporary
    folder, as on Ctrl-C). Only from the main thread; elsewhere a no-op."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


class ProblemsError(UsageError):
    """Several independent problems of one input (a sweep spec), each printed as its own line."""

    def __init__(self, problems: "list[str]") -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def first_line(exc: BaseException, text: Optional[str] = None) -> str:
    """The first non-empty line of an exception's message (or of ``text``, its message as shown), or its type
    name when it has none."""
    lines = [line for line in (str(exc) if text is None else text).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def without_path(message: str, path: Any) -> str:
    """``message`` without the path it starts with (``"<path>: "`` or ``"<name>: "``), for a note that names the
    file already."""
    for prefix in (f"{path}: ", f"{Path(path).name}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
