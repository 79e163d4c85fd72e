"""The command line: help, version, variants, check, and one-line errors with exit codes."""

import json
import subprocess
import sys

import pytest
import torch

from bambaprof import __version__
from bambaprof.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and __version__ in out
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("variants", "check"):
        assert command in out


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "bambaprof", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_variants_json(capsys):
    code, out, _ = run(["variants", "--format", "json", "--device", "cpu"], capsys)
    assert code == 0
    data = json.loads(out)
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["reference"]["runs_here"] and rows["independent"]["kind"] == "approximate"
    assert "Triton" in rows["default-optimized"]["needs"]
    if not torch.cuda.is_available():
        assert rows["default-optimized"]["runs_here"]  # tests run with the Triton interpreter on CPU


def test_variants_table_says_why_not_without_interpreter(monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    code, out, _ = run(["variants", "--device", "cpu"], capsys)
    assert code == 0 and "or TRITON_INTERPRET=1 on CPU" in out


def test_check_default_run_passes_and_writes_json(tmp_path, capsys):
    target = tmp_path / "sub" / "check.json"
    code, out, err = run(["check", "--seq-len", "8", "--seq-len", "41", "--format", "json", "-o", str(target)], capsys)
    assert code == 0, err
    data = json.loads(target.read_text())
    assert data["device"] == ("cuda" if torch.cuda.is_available() else "cpu") and data["dtype"] == "float32"
    statuses = {(r["variant"], r["seq_len"]): r["status"] for r in data["rows"]}
    assert statuses[("default", 41)] == "pass" and statuses[("independent", 41)] == "reported"
    assert "wrote" in err


def test_check_csv(capsys):
    code, out, _ = run(["check", "--variant", "default", "--seq-len", "5", "--format", "csv"], capsys)
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert header[0] == "variant" and "rel_err" in header


@pytest.mark.parametrize(
    "argv,message",
    [
        (["check", "--variant", "nope"], "unknown variant 'nope'"),
        (["check", "--chunk-size", "0"], "--chunk-size must be positive"),
        (["check", "--heads", "6", "--groups", "4"], "must be a multiple of --groups"),
        (["check", "--dtype", "int3"], "unknown dtype"),
        (["check", "--seq-len", "-1"], "must be positive"),
        (["check", "--batch", "x"], "'x' is not a valid integer"),
        (["check", "--no-such-flag"], "No such option"),
        (["frobnicate"], "No such command"),
        (["check", "--variant", "no_such_module_q:attr"], "cannot import"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bambaprof: error:") and message in lines[0]


def test_failing_check_exits_1(capsys, monkeypatch):
    import types

    from bambaprof.ssm import Variant
    from bambaprof.ssm.chunked import chunked_forward, chunked_step

    def wrong(*a, **k):
        y, s = chunked_forward(*a, **k)
        return y + 1.0, s

    mod = types.ModuleType("wrong_plugin_mod")
    mod.V = Variant(name="wrong", forward=wrong, step=chunked_step)
    monkeypatch.setitem(sys.modules, "wrong_plugin_mod", mod)
    code, out, err = run(["check", "--variant", "wrong_plugin_mod:V", "--seq-len", "8"], capsys)
    assert code == 1 and "FAIL" in out
    assert err.strip().splitlines()[-1].startswith("bambaprof: error: 1 check(s) failed")


def test_output_to_unwritable_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(["variants", "-o", str(blocker / "inside.txt")], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "cannot write" in err
    assert f"{blocker} is a file, not a folder" in err  # says what is in the way, not mkdir's "File exists"
    code, out, err = run(["variants", "-o", str(blocker / "deeper" / "inside.txt")], capsys)
    assert code == 1 and f"{blocker} is a file, not a folder" in err
    code, out, err = run(["variants", "-o", str(tmp_path)], capsys)  # a folder where the file goes: usage
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is a directory" in err


def test_running_out_of_memory_is_one_line(tmp_path, monkeypatch, capsys):
    import bambaprof.commands.analyze as command
    from tests.analysis.synth import base_trace, write

    def no_room(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(command, "analyze", no_room)
    assert main(["analyze", str(write(tmp_path / "t.json.gz", base_trace()))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bambaprof: error: out of memory") and len(err.strip().splitlines()) == 1


NUMBER_OPTIONS = [
    (["analyze", "T", "--peak-bandwidth"], "--peak-bandwidth", "above 0"),
    (["compare", "T", "T", "--peak-bandwidth"], "--peak-bandwidth", "above 0"),
    (["report", "T", "-o", "OUT", "--peak-bandwidth"], "--peak-bandwidth", "above 0"),
    (["bench", "ssd", "--rep-ms"], "--rep-ms", "above 0"),
    (["profile", "--sample-interval-ms"], "--sample-interval-ms", "above 0"),
    (["profile", "--gpm-interval-ms"], "--gpm-interval-ms", "above 0"),
    (["profile", "--telemetry-window-ms"], "--telemetry-window-ms", "of at least 0"),
    (["sweep", "run", "--timeout"], "--timeout", "above 0"),
]


@pytest.mark.parametrize("argv,flag,low,value", [
    (*option, value) for option in NUMBER_OPTIONS for value in ("nan", "inf", "-inf", "-1", "0", "1e999", "x")
    if not (value == "0" and option[2] == "of at least 0")])  # 0 is in range there
def test_number_options_refuse_what_is_not_a_finite_number_in_range(tmp_path, capsys, argv, flag, low, value):
    """An interval or budget of inf would never end, a peak of 0 divided by it, nan passed every test: each float
    option is refused out of range in one line, exit 2, before anything runs or is written."""
    from tests.analysis.synth import base_trace, write

    trace = str(write(tmp_path / "t.json.gz", base_trace()))
    out = tmp_path / "r.html"
    args = [{"T": trace, "OUT": str(out)}.get(a, a) for a in argv] + [value]
    code, _, err = run(args, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"'{flag}'" in err and (f"must be a finite number {low}" in err or "is not a number" in err), err
    assert not out.exists()


def test_the_library_refuses_a_peak_or_an_interval_that_is_not_a_finite_number(tmp_path):
    from bambaprof import analyze
    from bambaprof._api import validate_settings
    from bambaprof.errors import UsageError
    from tests.analysis.synth import base_trace, write

    trace = write(tmp_path / "t.json.gz", base_trace())
    for peak in (float("nan"), float("inf"), 0.0, -3.0):
        with pytest.raises(UsageError, match="peak bandwidth must be a finite number"):
            analyze(trace, peak_gbps=peak)
    assert analyze(trace, peak_gbps=2000.0).summary["kernel_count"] == 3
    for name, value in (("sample_interval_ms", float("nan")), ("gpm_interval_ms", float("inf")),
                        ("telemetry_window_ms", -1.0), ("warmup", float("nan"))):
        with pytest.raises(UsageError):
            validate_settings({name: value})
    validate_settings({"sample_interval_ms": 20.0, "gpm_interval_ms": 100.0, "telemetry_window_ms": 0.0})
