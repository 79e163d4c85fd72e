"""Exceptions that the command line turns into one-line messages.

:class:`BambaprofError` is a failure (exit code 1); :class:`UsageError` is bad
input from the user (exit code 2). Library code raises these with a message
that stands on its own line, without a traceback.
"""


class BambaprofError(Exception):
    """A failure the user should read as one line (the CLI exits with code 1)."""

    exit_code = 1


class UsageError(BambaprofError):
    """Bad input from the user: an unknown name, a bad value (the CLI exits with code 2)."""

    exit_code = 2


class ProblemsError(UsageError):
    """Several independent problems of one input (a sweep spec), each printed as its own line."""

    def __init__(self, problems: "list[str]") -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
