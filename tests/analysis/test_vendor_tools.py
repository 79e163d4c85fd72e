"""The vendors' export CLIs (:mod:`bambaprof.analysis.vendor_tools`): found by their variable or on PATH, and
every way they fail is one line that names the export to run."""

import stat
import sys

import pytest

from bambaprof.analysis.source import TraceError
from bambaprof.analysis.vendor_tools import NCU, NSYS, VendorTool
from bambaprof.errors import BambaprofError

TOOL = VendorTool("faketool", "BAMBAPROF_FAKETOOL", "Fake Profiler")


def _script(tmp_path, body):
    exe = tmp_path / "faketool"
    exe.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_the_variable_wins_over_path_and_stdout_comes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    on_path = _script(tmp_path, "print('from PATH')")
    assert TOOL.executable() == str(on_path)
    other = tmp_path / "other"
    other.mkdir()
    named = _script(other, "print('named', *sys.argv[1:])")
    monkeypatch.setenv("BAMBAPROF_FAKETOOL", str(named))
    assert TOOL.run(["-x", "a b"], command="faketool -x", then="read it") == "named -x a b\n"


def test_each_failure_is_one_line_naming_the_export(tmp_path, monkeypatch):
    monkeypatch.delenv("BAMBAPROF_FAKETOOL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BambaprofError, match=r"^r.rep: an Fake Profiler report and no faketool here to export it: "
                                             r"run `faketool r.rep` where Fake Profiler is installed \(or set "
                                             r"BAMBAPROF_FAKETOOL\) and read the CSV$"):
        TOOL.run([], command="faketool r.rep", then="read the CSV", prefix="r.rep: ")
    broken = tmp_path / "not-executable"
    broken.write_text("nothing")
    monkeypatch.setenv("BAMBAPROF_FAKETOOL", str(broken))
    with pytest.raises(TraceError, match="^cannot run .*not-executable to export the report"):
        TOOL.run([], command="faketool r.rep", then="x", error=TraceError)
    quiet = _script(tmp_path, "print('working'); print('ERROR: stopped'); sys.exit(0)")
    monkeypatch.setenv("BAMBAPROF_FAKETOOL", str(quiet))
    with pytest.raises(BambaprofError, match=r"^`faketool r.rep` failed \(exit 0\): ERROR: stopped$"):
        TOOL.run([], command="faketool r.rep", then="x", succeeded=lambda: False)  # no output file: its last line
    loud = _script(tmp_path, "print('working'); print('bad ' * 200, file=sys.stderr); sys.exit(4)")
    monkeypatch.setenv("BAMBAPROF_FAKETOOL", str(loud))
    with pytest.raises(BambaprofError) as info:
        TOOL.run([], command="faketool r.rep", then="x")
    assert str(info.value).startswith("`faketool r.rep` failed (exit 4): bad bad") and "\n" not in str(info.value)
    assert len(str(info.value)) < 400  # the tool's line is cut at 300 characters


def test_the_two_tools_and_their_variables():
    assert (NCU.name, NCU.env, NSYS.name, NSYS.env) == ("ncu", "BAMBAPROF_NCU", "nsys", "BAMBAPROF_NSYS")
