"""Every bad input gives one line, exit code 1, and no traceback."""

import gzip
import json

import pytest

from bambaprof.analysis.source import TraceError
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main
from tests.analysis.synth import base_trace, write


def _cases(tmp_path):
    good = gzip.compress(json.dumps(base_trace()).encode())
    (tmp_path / "truncated.json.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "corrupt.json.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (tmp_path / "invalid.json").write_text('{"traceEvents": [1, 2,')
    (tmp_path / "notatrace.json").write_text('{"hello": "world"}')
    (tmp_path / "number.json").write_text("42")
    (tmp_path / "noevents.json").write_text('{"traceEvents": []}')
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "only_metadata.json").write_text('{"traceEvents": [{"ph": "M", "name": "process_name", "pid": 0}]}')
    (tmp_path / "emptydir").mkdir()
    return {
        "truncated.json.gz": "corrupt or truncated gzip",
        "corrupt.json.gz": "corrupt or truncated gzip",
        "invalid.json": "invalid JSON",
        "notatrace.json": "no 'traceEvents'",
        "number.json": "not a Kineto/Chrome trace",
        "noevents.json": "has no events",
        "empty.json": "empty file",
        "binary.json": "invalid JSON",
        "only_metadata.json": "no timed CPU or GPU events",
        "emptydir": "a directory without a trace",
        "missing.json": "no such file or directory",
    }


def test_bad_inputs_raise_trace_errors(tmp_path):
    for name, message in _cases(tmp_path).items():
        with pytest.raises(TraceError, match=message):
            load_trace(tmp_path / name)


def test_bad_inputs_on_the_command_line(tmp_path, capsys):
    for name, message in _cases(tmp_path).items():
        code = main(["analyze", str(tmp_path / name)])
        out, err = capsys.readouterr()
        assert code == 1, name
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, (name, err)


def test_drifted_events_are_decoded_leniently_by_either_backend(tmp_path):
    t = base_trace()
    t["traceEvents"][1]["args"]["External id"] = "1"  # a string where Kineto writes an int
    t["traceEvents"][4]["ts"] = "5"  # likewise for a timestamp
    t["traceEvents"][0]["args"] = "drift"  # args that is not an object
    path = write(tmp_path / "drift.json.gz", t)
    fast, slow = load_trace(path, backend="msgspec"), load_trace(path, backend="json")
    assert fast.backend == "msgspec" and fast.lenient_events == 3
    assert slow.backend == "json"
    for tr in (fast, slow):
        assert tr.ops.external_id.tolist()[:2] == [-1, 1]
        assert tr.runtime.ts[0] == 5.0


def test_unknown_backend(tmp_path):
    with pytest.raises(TraceError, match="unknown parser backend"):
        load_trace(write(tmp_path / "t.json.gz", base_trace()), backend="yaml")
