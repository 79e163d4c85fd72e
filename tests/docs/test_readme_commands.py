"""Every command the README shows in a ``bash`` block runs as written on a fresh clone, on the CPU.

Lines whose comment says they need something this machine does not have (``on a GPU``, ``on 2 GPUs``,
``needs ...``) or that serve until stopped (``until Ctrl-C``) are left out; so are the installation, lint and
test commands of the first block (this is the test run). Each command runs in a scratch folder holding copies
of what a clone has (``traces/examples``, ``examples``, ``tests/data``), in order, and must exit 0.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_MARKERS = ("on a GPU", "on 2 GPUs", "needs ", "until Ctrl-C")
NOT_RUN_HERE = ("python3 -m pip", "python3 -m ruff", "python3 -m mypy", "python3 -m pytest")


def readme_commands() -> List[str]:
    """The README's runnable command lines, continuation lines joined, in order, without repeats."""
    text = (ROOT / "README.md").read_text()
    out: List[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command, _, comment = line.partition(" #")
            command = command.strip()
            if not command or command.startswith("#") or any(m in comment for m in SKIP_MARKERS):
                continue
            for part in command.split(" && "):
                part = part.strip()
                if part and not part.startswith(NOT_RUN_HERE) and part not in out:
                    out.append(part)
    return out


def test_the_readme_shows_commands_and_marks_the_rest():
    commands = readme_commands()
    assert "bambaprof profile" in commands and any(c.startswith("bambaprof report") for c in commands)
    for c in commands:
        assert "<" not in c and "..." not in c, f"placeholder in a README command: {c}"


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    where = tmp_path_factory.mktemp("clone")
    for folder in ("traces/examples", "examples", "tests/data"):
        shutil.copytree(ROOT / folder, where / folder)
    return where


def test_readme_commands_run_as_written(clone):
    failures = []
    for command in readme_commands():
        argv = shlex.split(command)
        if argv[0] == "bambaprof":
            argv = [sys.executable, "-m", "bambaprof", *argv[1:]]
        expanded = []
        for a in argv:  # the shell's globbing, for traces/examples/*/
            matches = sorted(str(p.relative_to(clone)) + "/" for p in clone.glob(a.rstrip("/"))) if "*" in a else []
            expanded.extend(matches or [a])
        proc = subprocess.run(expanded, cwd=clone, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or "Traceback" in proc.stderr:
            failures.append(f"{command}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    assert failures == []
