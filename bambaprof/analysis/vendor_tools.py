"""The vendors' profiler CLIs that export a report bambaprof cannot read as it is: Nsight Compute's ``ncu``
(a ``.ncu-rep``'s raw page as CSV, :mod:`.ncu`) and Nsight Systems' ``nsys`` (a ``.nsys-rep`` as SQLite,
:mod:`.nsys.files`).

Each is found the same way (the path in its environment variable, else the name on PATH) and fails the same
way: one line that says what to run where the tool is installed, that it could not be started, or the command
that failed with its exit status and the last line it printed (its error output first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Type

from ..errors import BambaprofError


@dataclass(frozen=True)
class VendorTool:
    """A profiler CLI: ``name`` on PATH unless ``env`` names the executable; ``product`` for messages."""

    name: str
    env: str
    product: str

    def executable(self) -> Optional[str]:
        """The executable to run: ``$env`` when set, else ``name`` on PATH, else None."""
        return os.environ.get(self.env) or shutil.which(self.name)

    def run(self, args: Sequence[str], command: str, then: str, error: Type[BambaprofError] = BambaprofError,
            prefix: str = "", succeeded: Optional[Callable[[], bool]] = None) -> str:
        """Run the tool with ``args`` and return what it wrote to stdout (decoded, bad bytes replaced).
        ``command``: the same export as a user types it (named in every error); ``then``: what to do with its
        output when the export is run elsewhere; ``succeeded``: a further check after exit status 0 (a file it
        should have written). Raises ``error`` with one line, starting with ``prefix``, when the tool is not
        here, cannot be started, exits non-zero or fails that check."""
        exe = self.executable()
        if not exe:
            raise error(f"{prefix}an {self.product} report and no {self.name} here to export it: run `{command}` "
                        f"where {self.product} is installed (or set {self.env}) and {then}")
        try:
            done = subprocess.run([exe, *args], capture_output=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise error(f"{prefix}cannot run {exe} to export the report ({exc.strerror or exc})") from None
        stdout = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0 or (succeeded is not None and not succeeded()):
            said = _lines(done.stderr.decode("utf-8", "replace")) or _lines(stdout)  # its error, else its output
            raise error(f"{prefix}`{command}` failed (exit {done.returncode})" + (f": {said[-1][:300]}" if said else ""))
        return stdout


def _lines(text: str) -> list:
    return [line.strip() for line in text.splitlines() if line.strip()]


#: Nsight Compute's CLI (``BAMBAPROF_NCU``, else ``ncu`` on PATH).
NCU = VendorTool("ncu", "BAMBAPROF_NCU", "Nsight Compute")
#: Nsight Systems' CLI (``BAMBAPROF_NSYS``, else ``nsys`` on PATH).
NSYS = VendorTool("nsys", "BAMBAPROF_NSYS", "Nsight Systems")
