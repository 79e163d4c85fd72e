"""Every bad input gives one line, exit code 1, and no traceback."""

import copy
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.compare import compare
from bambaprof.analysis.source import TraceError
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main
from bambaprof.render.tables import to_json
from tests.analysis.synth import base_trace, write


def _cases(tmp_path):
    good = gzip.compress(json.dumps(base_trace()).encode())
    (tmp_path / "truncated.json.gz").write_bytes(good[:12])  # cut inside the gzip header: nothing to inflate
    (tmp_path / "corrupt.json.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (tmp_path / "invalid.json").write_text('{"traceEvents": [1, 2,')
    (tmp_path / "notatrace.json").write_text('{"hello": "world"}')
    (tmp_path / "number.json").write_text("42")
    (tmp_path / "noevents.json").write_text('{"traceEvents": []}')
    (tmp_path / "empty.json").write_text("")
    # every event unreadable: numbers out of a double's range (JSON has no infinity)
    (tmp_path / "unreadable.json").write_text('{"traceEvents": [{"ph": "X", "cat": "kernel", "ts": 1, "dur": 1e400},'
                                              ' {"ph": "X", "cat": "kernel", "ts": -1e999, "dur": 1}]}')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "kernels.csv").write_text("name,ts\nk,1\n")  # a CSV that is no rocprofv3 kernel trace
    (tmp_path / "only_metadata.json").write_text('{"traceEvents": [{"ph": "M", "name": "process_name", "pid": 0}]}')
    (tmp_path / "emptydir").mkdir()
    # other tools' files that bambaprof reads elsewhere: Nsight Compute's (with --ncu), rocprofv3's beside its kernels
    ncu = b'==PROF== Connected to process 7\n"ID","Process ID","Process Name","Kernel Name"\n"0","7","python","k"\n'
    (tmp_path / "metrics.csv.gz").write_bytes(gzip.compress(ncu))
    (tmp_path / "saved.csv").write_bytes(b"\xef\xbb\xbfID,Process ID,Kernel Name\n0,7,k\n")  # re-saved by pandas
    (tmp_path / "page.csv").write_text('"# Address","Source","Warp Stall Sampling"\n')
    (tmp_path / "profile.ncu-rep").write_bytes(b"\x00\x01binary")
    (tmp_path / "run_hip_api_trace.csv").write_text("Domain,Function,Start_Timestamp,End_Timestamp\n")
    # JSON documents that are not traces: bambaprof's own output, a run's side files, a PyTorch execution trace
    run = Path(__file__).resolve().parents[2] / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"
    (tmp_path / "bambaprof").mkdir()
    for side in ("manifest.json", "telemetry.json.gz"):
        shutil.copy(run / "bambaprof" / side, tmp_path / "bambaprof" / side)
        shutil.copy(run / "bambaprof" / side, tmp_path / f"copied-{side}")
    a = analyze(write(tmp_path / "source.json.gz", base_trace()))
    (tmp_path / "analysis.json").write_text(to_json(a.to_dict()))
    source = [tmp_path / "source.json.gz"]
    (tmp_path / "comparison.json").write_text(to_json(compare(source, source).to_dict()))
    (tmp_path / "et.json").write_text(json.dumps({"schema": "1.1.1-chakra.0.0.4", "pid": 7, "time": "", "start_ts": 1,
                                                  "nodes": [{"id": 1, "name": "aten::mul", "ctrl_deps": 0}],
                                                  "finish_ts": 2}))
    return {
        "bambaprof/manifest.json": "a run directory's manifest (bambaprof/manifest.json), read with the run: give the "
                                   f"run directory ({tmp_path})",
        "bambaprof/telemetry.json.gz": "a run directory's NVML telemetry (bambaprof/telemetry.json.gz)",
        "copied-manifest.json": "a bambaprof run manifest: give its run directory",
        "copied-telemetry.json.gz": "bambaprof's NVML telemetry (a run directory's telemetry.json.gz)",
        "analysis.json": "a bambaprof analysis (analyze --format json), not a trace",
        "comparison.json": "a bambaprof comparison (compare --format json), not a trace",
        "et.json": "a PyTorch execution trace (ExecutionTraceObserver)",
        "metrics.csv.gz": "an Nsight Compute CSV: metrics per kernel without a timeline, read with --ncu beside a "
                          "trace of the same run (bambaprof analyze TRACE --ncu metrics.csv.gz)",
        "saved.csv": "an Nsight Compute CSV",
        "page.csv": "an Nsight Compute source page",
        "profile.ncu-rep": "an Nsight Compute report: metrics per kernel without a timeline, read with --ncu",
        "run_hip_api_trace.csv": "rocprofv3's hip_api_trace.csv, read with the run's kernel trace: give that "
                                 "(run_kernel_trace.csv)",
        "truncated.json.gz": "corrupt or truncated gzip",
        "corrupt.json.gz": "corrupt or truncated gzip",
        "invalid.json": "invalid JSON",
        "notatrace.json": "no 'traceEvents'",
        "number.json": "not a Kineto/Chrome trace",
        "noevents.json": "has no events",
        "empty.json": "empty file",
        "unreadable.json": "no events that can be read (2 not valid JSON",
        "binary.json": "invalid JSON",
        "kernels.csv": "it does not start as JSON, and bambaprof reads a Kineto/Chrome JSON trace",
        "only_metadata.json": "no timed CPU or GPU events",
        "emptydir": "a directory without a trace",
        "missing.json": "no such file or directory",
    }


def test_bad_inputs_raise_trace_errors(tmp_path):
    for name, message in _cases(tmp_path).items():
        with pytest.raises(TraceError, match=re.escape(message)):
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


def test_a_trace_of_another_tool_says_what_it_holds(tmp_path, capsys, monkeypatch):
    """A Chrome trace whose complete events carry no Kineto category (a JAX/Perfetto trace, a custom tool's)
    is read without error by the parser, and the one-line error names the categories it found, with either
    backend and when read in pieces by workers."""
    cats = ["XLA Ops"] * 40_000 + ["host"] * 3 + [None, "a\nb", "c", "d"]
    events = [{"ph": "X", "pid": 1, "tid": 1, "ts": float(i), "dur": 0.5, "name": "op", **({"cat": c} if c else {})}
              for i, c in enumerate(cats)]
    events.append({"ph": "i", "pid": 1, "tid": 1, "ts": 1.0, "name": "mark", "cat": "instant"})
    path = write(tmp_path / "other.json", {"traceEvents": events})
    import bambaprof.analysis.trace as trace_mod

    monkeypatch.setattr(trace_mod, "MIN_PARALLEL_BYTES", 0)  # two workers read it in pieces
    for backend, jobs in (("msgspec", 1), ("msgspec", 2), ("json", 1)):
        with pytest.raises(TraceError) as info:
            load_trace(path, backend=backend, jobs=jobs)
        message = str(info.value)
        assert "its 40,007 complete events are of categories no analysis reads ('XLA Ops' (40,000), 'host' (3)" \
            in message and "and 2 more)" in message and "Kineto" in message and "\n" not in message, message
    assert main(["analyze", str(path)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unknown_backend(tmp_path):
    with pytest.raises(TraceError, match="unknown parser backend"):
        load_trace(write(tmp_path / "t.json.gz", base_trace()), backend="yaml")


def test_deep_nesting_is_one_line_for_both_backends(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"traceEvents": ' + "[" * 100_000 + "]" * 100_000 + "}")
    deep_args = tmp_path / "deep_args.json"
    deep_args.write_text('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": 1, "args": '
                         + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}]}")
    for path in (deep, deep_args):
        for backend in ("msgspec", "json"):
            assert main(["analyze", str(path), "--backend", backend]) == 1
            err = capsys.readouterr().err
            assert "nested deeper" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _bomb(path, mib: int):
    with gzip.open(path, "wb", compresslevel=1) as fh:
        block = b" " * 2**20
        for _ in range(mib):
            fh.write(block)
    return path


def test_gzip_bomb_is_refused_early(tmp_path, monkeypatch, capsys):
    import bambaprof.analysis.source as source

    monkeypatch.setattr(source, "RATIO_FLOOR_BYTES", 4 * 2**20)
    monkeypatch.setattr(source, "_CHUNK", 2**20)
    bomb = _bomb(tmp_path / "bomb.json.gz", 64)  # 64 MiB of spaces in ~64 KB: ~1000x
    assert main(["analyze", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert "likely gzip bomb" in err and source.MAX_BYTES_ENV in err and len(err.strip().splitlines()) == 1


def test_a_cut_gzip_bomb_is_refused_by_the_salvage_too(tmp_path, monkeypatch, capsys):
    import bambaprof.analysis.source as source

    monkeypatch.setattr(source, "RATIO_FLOOR_BYTES", 4 * 2**20)
    monkeypatch.setattr(source, "_CHUNK", 2**20)
    bomb = _bomb(tmp_path / "bomb.json.gz", 64)
    bomb.write_bytes(bomb.read_bytes()[:-100])  # cut: the salvage inflates it with zlib, under the same guards
    assert main(["analyze", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert "likely gzip bomb" in err and len(err.strip().splitlines()) == 1


def test_size_limit_names_the_variable_and_can_be_raised(tmp_path, monkeypatch, capsys):
    import bambaprof.analysis.source as source

    monkeypatch.setattr(source, "_CHUNK", 2**16)
    good = write(tmp_path / "t.json.gz", base_trace())
    monkeypatch.setenv(source.MAX_BYTES_ENV, "1000")
    assert main(["analyze", str(good)]) == 1
    assert "more than 1000 bytes; set BAMBAPROF_MAX_TRACE_BYTES" in capsys.readouterr().err
    plain = write(tmp_path / "t.json", base_trace(), gz=False)
    assert main(["analyze", str(plain)]) == 1
    assert "larger than 1000 bytes" in capsys.readouterr().err
    monkeypatch.setenv(source.MAX_BYTES_ENV, "1e7")
    assert main(["analyze", str(good), "--format", "json"]) == 0
    capsys.readouterr()
    monkeypatch.setenv(source.MAX_BYTES_ENV, "lots")
    assert main(["analyze", str(good)]) == 1
    assert "is not a number of bytes" in capsys.readouterr().err


def test_non_regular_files_are_refused_without_blocking(tmp_path):
    import os

    from bambaprof.analysis.source import read_bytes

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(TraceError, match="not a regular file"):
        read_bytes(fifo)  # would block forever if it were opened for reading
    with pytest.raises(TraceError, match="is a directory"):
        read_bytes(tmp_path)


def test_manifest_file_names_cannot_leave_the_run_directory(tmp_path):
    from bambaprof.errors import BambaprofError
    from bambaprof.run import Files, Manifest, RunDirWriter, read_manifest, read_telemetry

    outside = write(tmp_path / "secret.json.gz", base_trace())
    with RunDirWriter(tmp_path, "run") as w:
        w.write_manifest(Manifest(kind="record", run_id="run", name="run",
                                  files=Files(trace="../secret.json.gz", telemetry="../secret.json.gz")))
        path = w.commit()
    assert outside.exists()
    with pytest.raises(TraceError, match="a directory without a trace"):
        load_trace(path)
    with pytest.raises(BambaprofError, match="not a file in the run directory"):
        read_telemetry(path, read_manifest(path))


def test_unusable_event_times_are_counted_and_never_turn_metrics_negative(tmp_path):
    from bambaprof.analysis import analyze

    t = base_trace()
    ev = t["traceEvents"]
    ev[8]["dur"] = -50  # the gemm kernel
    del ev[9]["dur"]  # triton_poi_fused_add_0
    ev[10]["ts"] = "abc"  # triton_poi_fused_add_1
    a = analyze(write(tmp_path / "broken.json.gz", t))
    s = a.summary
    assert s["gpu_busy_us"] >= 0 and s["kernel_count"] == 0 and s["platform"] == "cuda"
    assert s["skipped_events"] == {"kernel events with a negative dur": 1, "kernel events without dur": 1,
                                   "kernel events without a usable ts": 1}
    assert "1 kernel events with a negative dur left out" in a.notes
    assert all(v is None or not isinstance(v, (int, float)) or v >= 0
               for k, v in s.items() if k.endswith(("_us", "_pct", "_count")))


def test_a_trace_whose_gpu_events_are_all_unusable_is_not_called_cpu_only(tmp_path):
    from bambaprof.analysis import analyze

    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("cat") in ("kernel", "gpu_memcpy"):
            e["ts"] = "x"
    a = analyze(write(tmp_path / "b.json.gz", t))
    assert a.summary["platform"] == "cuda"
    assert any(n.startswith("every GPU activity (4) was left out") for n in a.notes)
    assert not any("CPU-only" in n for n in a.notes)


def test_flow_ids_beyond_64_bits_are_ignored(tmp_path):
    from bambaprof.analysis import analyze
    from tests.analysis.synth import legacy

    t = legacy(base_trace())
    for e in t["traceEvents"]:
        if e.get("ph") in ("s", "f"):
            e["id"] = 2**80  # found by the fuzzer: OverflowError in the correlation column
    assert analyze(write(tmp_path / "flow.json.gz", t)).summary["kernel_count"] == 3


def _kernel_times(trace):
    return sorted(zip(trace.gpu.ts.tolist(), trace.gpu.dur.tolist()))


@pytest.mark.parametrize("backend", ["msgspec", "json"])
def test_odd_but_valid_text_reads_like_the_plain_trace(tmp_path, backend):
    """What the Chrome trace format or its writers allow: an Array Format trace without its closing ``]``
    (with or without a trailing comma, gzipped or not), a UTF-8 byte-order mark, and a string that is not
    valid UTF-8 (a name cut inside a character): every event kept, the same times as the plain trace."""
    events = base_trace()["traceEvents"]
    plain = load_trace(write(tmp_path / "plain.json", events, gz=False), backend=backend)
    body = json.dumps(events, indent=1)
    texts = {
        "open.json": body[:-1].rstrip().encode(),
        "open_comma.json": (body[:-1].rstrip() + ",\n").encode(),
        "bom.json": b"\xef\xbb\xbf" + json.dumps(base_trace()).encode(),
        "bom_array.json": b"\xef\xbb\xbf" + body[:-1].encode(),
    }
    for name, text in texts.items():
        (tmp_path / name).write_bytes(text)
    (tmp_path / "open.json.gz").write_bytes(gzip.compress(texts["open_comma.json"]))
    cut = base_trace()
    cut["traceEvents"][8]["name"] = "gemm_kernel_\u00e9"
    (tmp_path / "cut.json").write_bytes(json.dumps(cut, ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xc3"))
    for name in [*texts, "open.json.gz", "cut.json"]:
        trace = load_trace(tmp_path / name, backend=backend)
        assert _kernel_times(trace) == _kernel_times(plain), name
        assert len(trace.runtime) == len(plain.runtime) and len(trace.ops) == len(plain.ops), name
    names = load_trace(tmp_path / "cut.json", backend=backend).gpu.name
    assert any(str(n).startswith("gemm_kernel_\ufffd") for n in names)


def test_malformed_text_after_whole_events_is_still_an_error(tmp_path):
    """Only text that breaks off is salvaged: events followed by malformed text (not a cut) stay an error."""
    (tmp_path / "closed_bad.json").write_text('[{"ph": "X", "cat": "kernel", "name": "a", "ts": 1, "dur": 1},,]')
    (tmp_path / "garbage.json").write_text('{"traceEvents": [{"ph": "X", "cat": "kernel", "name": "a", "ts": 1, '
                                           '"dur": 1}, @@@, {"ph": "X"}]}')
    for name in ("closed_bad.json", "garbage.json"):
        with pytest.raises(TraceError, match="invalid JSON"):
            load_trace(tmp_path / name)


@pytest.mark.parametrize("backend", ["msgspec", "json"])
def test_a_trace_cut_short_is_read_up_to_its_last_whole_event(tmp_path, backend):
    """A file that breaks off (a copy or write interrupted), plain or gzipped, Object or Array Format: the whole
    events before the cut are read, and a note says where it was cut; a "}," inside a string near the cut is
    not taken for an event's end, and an event the cut just follows is kept."""
    t = base_trace()
    t["traceEvents"].append({"ph": "X", "cat": "kernel", "name": 'k<{a}, {b}>', "pid": 0, "tid": 7, "ts": 200,
                             "dur": 3, "args": {"device": 0, "stream": 7}})
    t["traceEvents"].append({"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "main"}})
    whole = load_trace(write(tmp_path / "whole.json", t, gz=False), backend=backend)
    text = json.dumps(t).encode()
    cut = text.index(b'"thread_name"')  # inside the last event, after the kernel whose name holds "}, {"
    events = json.dumps(t["traceEvents"]).encode()
    cases = {"cut.json": text[:cut], "cut.json.gz": gzip.compress(text)[:-20],
             "cut_array.json": events[:events.index(b'"thread_name"')],
             "cut_in_string.json": text[:text.index(b"{b}")],
             "cut_after_event.json": text[:text.index(b', {"ph": "M", "name": "thread_name"')]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        trace = load_trace(tmp_path / name, backend=backend)
        dropped = 1 if name == "cut_in_string.json" else 0  # the kernel cut inside its name is lost
        assert len(trace.gpu) == len(whole.gpu) - dropped, name
        assert trace.gpu.ts.tolist()[:3] == whole.gpu.ts.tolist()[:3], name
        notes = analyze(tmp_path / name, backend=backend).notes
        assert any("cut short" in n and "the rest is lost" in n for n in notes), (name, notes)


def test_launch_dimensions_out_of_range_are_unknown(tmp_path):
    """A grid of 1e300 or a negative block (no GPU launches those) is unknown, not an overflow."""
    t = base_trace()
    kernels = [e for e in t["traceEvents"] if e.get("cat") == "kernel"]
    kernels[0]["args"]["grid"] = [1e300, 1, 1]
    kernels[1]["args"]["block"] = [-5, 1, 1]
    kernels[2]["args"]["grid"] = [2**70, 1, 1]
    for backend in ("msgspec", "json"):
        trace = load_trace(write(tmp_path / "dims.json.gz", t), backend=backend)
        assert trace.gpu.grid[0].tolist() == [-1, -1, -1] and trace.gpu.grid[2].tolist() == [-1, -1, -1]
        assert trace.gpu.block[1].min() < 0  # negative: kept as read, shown as unknown
    rows = {k["name"]: k for k in analyze(tmp_path / "dims.json.gz").kernels if k["kind"] == "kernel"}
    assert rows["gemm_kernel"]["grid"] in ("", None)


@pytest.mark.parametrize("backend", ["msgspec", "json"])
def test_numbers_written_as_nan_or_infinity_are_read_as_unknown(tmp_path, backend):
    """Not JSON, but written by tracers: Python's json writes ``NaN``/``Infinity``, C's printf ``nan``/``inf``
    (Kineto once wrote a zero-length memcpy's bandwidth as ``inf``). Such a number is unknown: the trace is
    read, the event whose time it was is left out and counted, a note says how many, and the same words in
    strings (names with ``nan``, ``: inf,`` inside a string, escaped quotes and backslashes before them) are
    left as they are."""
    t = base_trace()
    events = t["traceEvents"]
    kernels = [e for e in events if e.get("cat") == "kernel"]
    kernels[0]["name"] = 'gemm "nan": inf, \\" -Infinity'  # words inside a string, an escaped quote
    kernels[1]["name"] = "C:\\\\path\\\\"  # a string ending in an escaped backslash: the quote after closes it
    kernels[1]["args"]["est. achieved occupancy %"] = "@NAN@"
    kernels[2]["dur"] = "@-nan@"
    memcpy = next(e for e in events if e.get("cat") == "gpu_memcpy")
    memcpy["args"]["memory bandwidth (GB/s)"] = "@inf@"
    events.append({"ph": "X", "cat": "kernel", "name": "late", "pid": 0, "tid": 7, "ts": "@Infinity@", "dur": 1,
                   "args": {"device": 0, "stream": 7, "note": "Infinity"}})
    text = json.dumps(t)
    for token in ("NAN", "-nan", "inf", "Infinity"):
        text = text.replace(f'"@{token}@"', token)
    assert text.count("inf") >= 2 and "@" not in text
    (tmp_path / "odd.json").write_text(text)
    (tmp_path / "odd.json.gz").write_bytes(gzip.compress(text.encode()))
    plain = load_trace(write(tmp_path / "plain.json", base_trace(), gz=False))
    for name in ("odd.json", "odd.json.gz"):
        trace = load_trace(tmp_path / name, backend=backend)
        assert len(trace.gpu) == len(plain.gpu) - 1, name  # the kernel whose dur was -nan; "late" has no ts
        names = set(map(str, trace.gpu.name))
        assert 'gemm "nan": inf, \\" -Infinity' in names and "C:\\\\path\\\\" in names, names
        notes = analyze(tmp_path / name, backend=backend).notes
        assert any(n.startswith("4 numbers written as NaN or infinity") for n in notes), notes
    # a trace cut short with such numbers before the cut: both notes, the events before the cut
    cut = text[:text.index('"late"')]
    (tmp_path / "odd_cut.json").write_text(cut)
    trace = load_trace(tmp_path / "odd_cut.json", backend=backend)
    assert len(trace.gpu) == len(plain.gpu) - 1
    notes = analyze(tmp_path / "odd_cut.json", backend=backend).notes
    assert notes[0].startswith("the trace is cut short") and any("written as NaN or infinity" in n for n in notes)
    # Python's json reads NaN and Infinity itself (as floats that are not finite: left out and counted too)
    (tmp_path / "python.json").write_text(json.dumps(base_trace()).replace('"ts": 30, "dur": 10,', '"ts": 30, "dur": NaN,', 1))
    assert len(load_trace(tmp_path / "python.json", backend=backend).gpu) == len(plain.gpu) - 1


def test_other_malformed_text_is_not_scanned_for_odd_numbers():
    from bambaprof.analysis import parse

    text = b'{"traceEvents": [{"ts": NaN}, @@@]}'
    assert parse.odd_numbers_as_null(text, "JSON is malformed: invalid character (byte 31)") is None
    assert parse.odd_numbers_as_null(text, "JSON is malformed: invalid character (byte 24)") == (
        b'{"traceEvents": [{"ts": null}, @@@]}', 1)
    assert parse.odd_numbers_as_null(b'{"a": "NaN", "b": Infinite}') is None  # in a string; a longer word


def test_bzip2_and_xz_are_read_like_gzip_and_other_packings_are_named(tmp_path, capsys):
    """Compression is told by a file's first bytes, whatever its name: bzip2 and xz are inflated as they are read
    (with the size guards), a cut xz is read up to its last whole event; zstd, lz4, zip and 7z get one line that
    names the format and the command that unpacks it (exit code 1)."""
    import bz2
    import lzma

    text = json.dumps(base_trace()).encode()
    plain = load_trace(write(tmp_path / "plain.json", base_trace(), gz=False))
    for name, data in (("t.json.bz2", bz2.compress(text)), ("t.json.xz", lzma.compress(text)),
                       ("misnamed.json.gz", lzma.compress(text)), ("t.json", bz2.compress(text))):
        (tmp_path / name).write_bytes(data)
        assert _kernel_times(load_trace(tmp_path / name)) == _kernel_times(plain), name
        assert _kernel_times(load_trace(tmp_path / name, backend="json")) == _kernel_times(plain), name
    big = copy.deepcopy(base_trace())  # enough text that the salvage's pieces leave events before the cut
    big["traceEvents"] = big["traceEvents"] * 400
    packed = lzma.compress(json.dumps(big).encode())
    (tmp_path / "cut.json.xz").write_bytes(packed[:len(packed) // 2])
    notes = analyze(tmp_path / "cut.json.xz").notes
    assert any(n.startswith("the trace is cut short") for n in notes), notes
    (tmp_path / "cut.json.bz2").write_bytes(bz2.compress(text)[:-20])  # one bzip2 block: nothing to salvage
    for name, data, said in (("t.json.zst", b"\x28\xb5\x2f\xfd" + b"\0" * 64, "a zstd file"),
                             ("t.json.lz4", b"\x04\x22\x4d\x18" + b"\0" * 64, "a lz4 file"),
                             ("t.zip", b"PK\x03\x04" + b"\0" * 64, "a zip archive"),
                             ("t.7z", b"7z\xbc\xaf\x27\x1c" + b"\0" * 64, "a 7z archive"),
                             ("cut.json.bz2", None, "corrupt or truncated bzip2")):
        if data is not None:
            (tmp_path / name).write_bytes(data)
        assert main(["analyze", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err


def test_begin_end_pairs_are_counted_and_named(tmp_path, capsys):
    """Chrome's duration events as B/E pairs (some converters write them; Kineto writes complete X events) are
    not read: alone they are the trace's one-line error, beside X events a note with their count."""
    ops = [e for e in base_trace()["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "cpu_op"]
    pairs = []
    for e in ops:
        begin = {k: v for k, v in e.items() if k != "dur"}
        pairs += [dict(begin, ph="B"), {"ph": "E", "pid": e["pid"], "tid": e["tid"], "ts": e["ts"] + e["dur"]}]
    only = write(tmp_path / "pairs.json", {"traceEvents": pairs})
    assert main(["analyze", str(only)]) == 1
    err = capsys.readouterr().err
    assert f"its {len(pairs)} duration events are begin/end pairs (ph B and E)" in err and len(err.splitlines()) == 1
    mixed = copy.deepcopy(base_trace())
    mixed["traceEvents"] += pairs
    a = analyze(write(tmp_path / "mixed.json.gz", mixed))
    assert f"{len(pairs)} begin/end events (ph B or E: only complete X events are read) left out" in a.notes
    assert a.summary["kernel_count"] == 3  # the rest as usual


def test_timestamps_too_large_for_microseconds_get_a_note(tmp_path):
    """ts written in ns since the epoch (about 1.7e18) resolve to 256 us in float64: the busy time falls apart,
    and a note says why; Kineto's microseconds since the epoch (1.7e15, 0.25 us apart) get none."""
    for shift, noted in ((1.7e18, True), (1.7e15, False)):
        t = copy.deepcopy(base_trace())
        for e in t["traceEvents"]:
            if "ts" in e:
                e["ts"] += shift
        notes = analyze(write(tmp_path / "t.json", t)).notes
        assert any("resolve only to 256 us (float64)" in n for n in notes) is noted
