"""The ``bambaprof`` command line.

Commands live one per module in :mod:`bambaprof.commands` and stay thin.
Every error reaches the user as one line on stderr: exit code 2 for bad
usage, 1 for failures, never a traceback.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from ._version import __version__
from .errors import BambaprofError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bambaprof")
def cli() -> None:
    """Profile and diagnose the chunked SSD (Mamba2) layers of Bamba-style hybrid models."""
    from .ssm.capabilities import enable_triton_interpreter_if_no_gpu

    enable_triton_interpreter_if_no_gpu()


def _register() -> None:
    from .commands.analyze import analyze_command
    from .commands.check import check_command
    from .commands.variants import variants_command

    cli.add_command(variants_command)
    cli.add_command(check_command)
    cli.add_command(analyze_command)


_register()


def _fail(message: str, code: int) -> int:
    click.echo(f"bambaprof: error: {message}", err=True)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI; returns the exit code instead of raising."""
    try:
        cli.main(args=argv, prog_name="bambaprof", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return _fail("aborted", 1)
    except click.ClickException as exc:  # includes click.UsageError (exit 2)
        return _fail(exc.format_message().splitlines()[0], exc.exit_code)
    except BambaprofError as exc:
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return 0
    return 0


def entry_point() -> None:
    """Console-script entry: ``sys.exit(main())``."""
    sys.exit(main())
