"""The ``bambaprof`` command line.

Commands live one per module in :mod:`bambaprof.commands` and stay thin.
Every error reaches the user as one line on stderr: exit code 2 for bad
usage, 1 for failures, never a traceback.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from ._memory import is_out_of_memory
from ._untrusted import printable
from ._version import __version__
from .errors import BambaprofError, ProblemsError, Terminated, first_line

#: command name -> "module:attribute"; a command's module is imported only when it runs
#: (so ``bambaprof analyze`` never imports torch).
COMMANDS = {
    "variants": "bambaprof.commands.variants:variants_command",
    "check": "bambaprof.commands.check:check_command",
    "analyze": "bambaprof.commands.analyze:analyze_command",
    "presets": "bambaprof.commands.presets:presets_command",
    "profile": "bambaprof.commands.profile:profile_command",
    "compare": "bambaprof.commands.compare:compare_command",
    "report": "bambaprof.commands.report:report_command",
    "view": "bambaprof.commands.view:view_command",
    "accuracy": "bambaprof.commands.accuracy:accuracy_command",
    "bench": "bambaprof.commands.bench:bench_group",
    "sweep": "bambaprof.commands.sweep:sweep_group",
}


class LazyGroup(click.Group):
    """A click group that imports each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        import importlib

        module, attr = spec.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bambaprof")
def cli() -> None:
    """Profile and diagnose the chunked SSD (Mamba2) layers of Bamba-style hybrid models."""


#: Optional dependencies by top-level module: the extra that installs each (see setup.cfg).
EXTRAS = {"torch": "profile", "triton": "profile", "pynvml": "profile", "safetensors": "profile",
          "transformers": "hf", "fms": "fms", "submitit": "slurm"}


def _fail(message: str, code: int) -> int:
    """The one-line error, its control characters (from a file or kernel name) written as escapes."""
    click.echo(f"bambaprof: error: {printable(message)}", err=True)
    return code


def _message(exc: BaseException, argv: Optional[List[str]]) -> str:
    """The first line of ``exc``'s message, where a command-line argument that holds a line break (a file
    name) is written with its escapes first, so that the line is not cut inside it."""
    text = str(exc)
    for arg in argv if argv is not None else sys.argv[1:]:
        if "\n" in arg or "\r" in arg:
            text = text.replace(arg, printable(arg))
    return first_line(exc, text)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI; returns the exit code instead of raising."""
    try:
        cli.main(args=argv, prog_name="bambaprof", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, Terminated):
            return _fail("terminated", 143)
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _fail("interrupted", 130)
        return _fail("aborted", 1)
    except click.ClickException as exc:  # includes click.UsageError (exit 2)
        return _fail(exc.format_message().splitlines()[0], exc.exit_code)
    except ProblemsError as exc:
        for problem in exc.problems:
            _fail(problem, exc.exit_code)
        return exc.exit_code
    except BambaprofError as exc:
        return _fail(_message(exc, argv), exc.exit_code)
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        return _fail(f"this command needs {exc.name}, which is not installed: pip install 'bambaprof[{extra}]' "
                     "(analyze, compare, report and view need none of it)", 1)
    except Terminated:
        return _fail("terminated", 143)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return 0
    except MemoryError:
        return _fail("out of memory: what this command reads or builds does not fit in this machine's memory", 1)
    except (RuntimeError, TypeError, ValueError) as exc:  # torch's allocators raise these when a request fails
        if not is_out_of_memory(exc):
            raise
        return _fail(f"out of memory: {first_line(exc)}", 1)
    return 0


def entry_point() -> None:
    """Console-script entry: ``sys.exit(main())``."""
    sys.exit(main())
