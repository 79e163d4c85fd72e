"""The analysis-only install: analyze, compare, report and view run without torch or triton; the commands
that need them say in one line which extra to install."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"
OTHER = ROOT / "traces" / "examples" / "bamba-9b-triton-max-autotune-mixer-b1-L512-a5f03b61"

# torch, triton and NVML made unimportable, as in an environment that never installed them
BLOCKED = ("import sys\n"
           "for name in ('torch', 'triton', 'pynvml', 'safetensors'):\n"
           "    sys.modules[name] = None\n"
           "from bambaprof.cli import main\n"
           "code = main(sys.argv[1:])\n"
           "assert 'torch' not in sys.modules or sys.modules['torch'] is None, 'torch was imported'\n"
           "sys.exit(code)\n")


def _run(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-c", BLOCKED, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_analysis_commands_need_no_torch(tmp_path):
    for argv in (["analyze", str(RUN)], ["analyze", str(RUN), "--format", "json"],
                 ["compare", str(RUN), str(OTHER)],
                 ["report", str(RUN), str(OTHER), "-o", str(tmp_path / "r.html")],
                 ["view", "--help"], ["--version"]):
        proc = _run(*argv)
        assert proc.returncode == 0, (argv, proc.stderr[-2000:])
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_commands_that_need_torch_name_the_extra(tmp_path):
    for argv in (["profile", "--runs", str(tmp_path)], ["check"], ["accuracy"], ["bench", "ssd"],
                 ["sweep", "run", str(ROOT / "examples" / "sweeps" / "tiny-cpu.toml"), "--root", str(tmp_path)]):
        proc = _run(*argv)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, (argv, proc.stderr[-2000:])
        assert "pip install 'bambaprof[profile]'" in lines[0] and "Traceback" not in proc.stderr
