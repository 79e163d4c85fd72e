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
