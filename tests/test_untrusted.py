"""Untrusted text shown to a person: control characters and bidirectional controls as escapes
(:mod:`bambaprof._untrusted`), in terminal tables, notes, errors and HTML pages; JSON keeps the text."""

import copy
import json
import re

from bambaprof._untrusted import printable
from bambaprof.cli import main
from bambaprof.render.figure import unpack_figure
from bambaprof.render.html import build_report
from tests.analysis.synth import base_trace, write

#: A kernel name that would clear a terminal, end an HTML parse, break a row and reverse what follows.
HOSTILE = "gemm\x1b[2J\x00\u202eevil\nkernel\x85\u2066"
SHOWN = "gemm\\x1b[2J\\x00\\u202eevil\\nkernel\\x85\\u2066"
RAW = ("\x1b", "\x00", "\u202e", "\x85", "\u2066")


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable(HOSTILE) == SHOWN
    assert printable("tab\there\r") == "tab\\there\\r"
    assert printable("two\nlines", newlines=True) == "two\nlines"
    plain = "void gemm<float, 128>(float*, int) — ünïcode ✓ 日本"
    assert printable(plain) is plain


def _hostile_trace(tmp_path):
    t = copy.deepcopy(base_trace())
    for e in t["traceEvents"]:
        if e.get("name") == "gemm_kernel":
            e["name"] = HOSTILE
    return write(tmp_path / "hostile.json.gz", t)


def test_analyze_tables_show_escapes_and_json_keeps_the_name(tmp_path, capsys):
    path = _hostile_trace(tmp_path)
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in RAW) and "gemm\\x1b[2J" in out
    assert main(["analyze", str(path), "--format", "json"]) == 0
    kernels = json.loads(capsys.readouterr().out)["kernels"]
    assert any(k["name"] == HOSTILE for k in kernels)


def test_report_pages_show_escapes(tmp_path):
    page = build_report([_hostile_trace(tmp_path)])
    assert not any(c in page for c in RAW) and "gemm\\x1b[2J\\x00\\u202eevil" in page
    figures = re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)
    texts = [json.dumps(unpack_figure(block), ensure_ascii=False) for block in figures]
    assert not any(c in text for c in RAW for text in texts)
    assert any("gemm\\\\x1b[2J" in text for text in texts)  # the escape's backslash, in JSON


def test_an_error_naming_a_file_with_a_line_break_stays_one_line(tmp_path, capsys):
    bad = tmp_path / "a\nb\x1b[31m.json"
    bad.write_text("garbage")
    assert main(["analyze", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err
    assert "a\\nb\\x1b[31m.json: invalid JSON" in err


def test_copies_name_their_caller_and_range_escaped(tmp_path, capsys):
    """A copy under a hostile profiler range and op name: the copies table, the finding and the report escape both."""
    from tests.analysis.synth import H200, _kernel, _op, _rt

    ev = [_op(HOSTILE, 0, 100, 90, cat="user_annotation"), _op("<script>alert(1)</script>", 1, 90, 91),
          _op("aten::copy_", 2, 80, 1, [[4096], [4096], []], ["float", "c10::BFloat16", "Scalar"]),
          _rt("cudaLaunchKernel", 3, 1, 10, 1), _kernel("direct_copy", 200, 50, 10, 1)]
    path = write(tmp_path / "copies.json.gz", {"deviceProperties": [copy.deepcopy(H200)], "traceEvents": ev})
    assert main(["analyze", str(path), "--table", "copies"]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in RAW) and "gemm\\x1b[2J" in out
    page = build_report([path])
    assert not any(c in page for c in RAW) and "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "copy-overhead" in page
