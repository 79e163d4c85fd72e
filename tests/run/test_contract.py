"""The run record is the only way manifests are read: no dict chains on manifest sections in the package."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bambaprof"
SECTION_GET = re.compile(r'\.get\("(timings|config|telemetry|memory|compile|energy|device|model)"')


def test_no_manifest_section_is_read_through_get():
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{i}" for p in PACKAGE.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if SECTION_GET.search(line)]
    assert offenders == []


def test_the_run_record_and_the_readers_never_import_torch():
    import subprocess
    import sys

    code = ("import sys, bambaprof.run, bambaprof.analysis, bambaprof.render.html, bambaprof.sweep; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
