"""Run directories whose manifest or telemetry was damaged or written by hand: a result or one clean error, never
a traceback (benchmarks/fuzz_run_dir.py mutates the example runs at random; a longer run of it is in
benchmarks/results/fuzz-run-dir.json)."""

import gzip
import json
import shutil
from pathlib import Path

from bambaprof.cli import main
from bambaprof.run.directory import NAME_MAX, member, read_telemetry
from tests.scripts import load_script

EXAMPLE = Path(__file__).resolve().parents[2] / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"


def _copy(tmp_path) -> Path:
    run = tmp_path / EXAMPLE.name
    shutil.copytree(EXAMPLE, run)
    return run


def test_names_no_file_system_takes_are_not_members(tmp_path):
    assert member(tmp_path, "x" * NAME_MAX) == tmp_path / ("x" * NAME_MAX)
    assert member(tmp_path, "x" * (NAME_MAX + 1)) is None  # would raise on stat, not miss
    assert member(tmp_path, "bambaprof/" + "é" * 200) is None  # 400 bytes in UTF-8
    assert member(tmp_path, "a\x00b") is None  # an embedded NUL raises on every look-up


def test_a_manifest_naming_a_file_name_too_long_is_one_line(tmp_path, capsys):
    run = _copy(tmp_path)
    path = run / "bambaprof" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["telemetry"] = "x" * 300
    path.write_text(json.dumps(manifest))
    assert main(["analyze", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "names telemetry" in err


def test_telemetry_columns_that_are_not_lists_are_left_out(tmp_path, capsys):
    """A telemetry file whose columns hold a number or a mapping (hand-edited, or another tool's): those columns
    are left out, the rest is summarised and charted."""
    run = _copy(tmp_path)
    path = run / "bambaprof" / "telemetry.json.gz"
    tel = json.loads(gzip.decompress(path.read_bytes()))
    tel["nvml"]["t_us"], tel["nvml"]["power_w"], tel["gpm"] = 5, {"a": 1}, [1, 2]
    path.write_bytes(gzip.compress(json.dumps(tel).encode()))
    read = read_telemetry(run)
    assert "t_us" not in read["nvml"] and "power_w" not in read["nvml"] and "gpm" not in read
    assert isinstance(read["nvml"]["sm_clock_mhz"], list)
    report = tmp_path / "r.html"
    assert main(["report", str(run), "-o", str(report)]) == 0 and report.is_file()


def test_mutated_run_directories_never_raise_anything_but_one_line_errors():
    result = load_script("fuzz_run_dir").run(40, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    for command in ("analyze", "report", "compare"):  # both outcomes are exercised
        assert result["exit_codes"][command].get("0", 0) > 5 and result["exit_codes"][command].get("1", 0) > 5
