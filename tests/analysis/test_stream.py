"""Reading a trace in pieces: the cuts, both JSON forms, the metadata at either end, the fallback."""

import gzip
import json

import msgspec
import numpy as np
import pytest

import bambaprof.analysis.stream as stream
import bambaprof.analysis.trace as trace_mod
from bambaprof.analysis.parse import decode_piece
from bambaprof.analysis.source import TextReader
from bambaprof.analysis.stream import EventPieces, NotStreamable, PieceText
from bambaprof.analysis.trace import load_trace
from tests.analysis.synth import base_trace, write


def _events(n, name="k"):
    return [{"ph": "X", "cat": "kernel", "name": f"{name}{i}", "pid": 0, "tid": 7, "ts": float(i), "dur": 0.5,
             "args": {"correlation": i, "External id": i, "device": 0, "stream": 7, "grid": [1, 1, 1],
                      "block": [32, 1, 1]}} for i in range(n)]


def _pieces(path, piece_bytes):
    """Every event of every piece (decoded), and the metadata."""
    with TextReader(path) as reader:
        pieces = EventPieces(reader, piece_bytes)
        events = []
        text_of = PieceText(reader.fileno())
        for item in pieces:
            events.extend(msgspec.json.decode(text_of(item)))
    return events, pieces.meta


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("indent", [None, 2])
def test_pieces_hold_every_event_once_and_the_metadata_of_both_ends(tmp_path, gz, indent):
    events = _events(400)
    text = json.dumps({"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "G"}], "traceEvents": events,
                       "displayTimeUnit": "ms", "traceName": "x"}, indent=indent)
    path = tmp_path / ("t.json.gz" if gz else "t.json")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    got, meta = _pieces(path, 2000)  # many pieces
    assert got == events
    assert meta == {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "G"}], "displayTimeUnit": "ms",
                    "traceName": "x"}


def test_array_format_in_pieces(tmp_path):
    events = _events(300)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(events))
    got, meta = _pieces(path, 1500)
    assert got == events and meta == {}


def test_uncompressed_files_hand_out_ranges_and_compressed_ones_bytes(tmp_path):
    text = json.dumps({"traceEvents": _events(300)})
    plain, packed = tmp_path / "t.json", tmp_path / "t.json.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    for path, kind in ((plain, tuple), (packed, bytearray)):
        with TextReader(path) as reader:
            items = list(EventPieces(reader, 2000))
        assert len(items) > 3
        assert all(isinstance(i, kind) for i in items[:-1])  # the tail is always text (it holds the end)
        assert isinstance(items[-1], bytes)


@pytest.mark.parametrize("text", [b"   ", b"42", b'{"a": 1}', b'{"traceEvents": 5}', b"{\"x\": [\"traceEvents\"]"])
def test_text_the_piece_reader_does_not_take(tmp_path, text):
    path = tmp_path / "t.json"
    path.write_bytes(text)
    with TextReader(path) as reader, pytest.raises(NotStreamable):
        list(EventPieces(reader, 1000))


def test_a_key_named_like_the_events_inside_the_header_is_not_taken_for_them(tmp_path):
    events = _events(50)
    doc = {"traceName": '"traceEvents": [', "meta": {"traceEvents": [1, 2]}, "traceEvents": events}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    got, meta = _pieces(path, 1000)
    assert got == events and meta["traceName"] == '"traceEvents": ['


def test_a_cut_inside_a_string_does_not_decode():
    # '},{' inside a name: the piece before it ends inside the string
    with pytest.raises(msgspec.DecodeError):
        decode_piece(b'[{"name": "f<{lambda()#1}]')
    events, lenient, bad = decode_piece(b'[{"name": "a"},{"name": "b"}]')
    assert [e.name for e in events] == ["a", "b"] and (lenient, bad) == (0, 0)


@pytest.mark.parametrize("jobs", [1, 2])
def test_names_full_of_cut_marks_still_load_exactly(tmp_path, monkeypatch, jobs):
    """Kernel names with '},{' in them: cuts land inside strings, the pieces fail to decode, and the loader
    reads the document whole: the same trace as the standard-library reader gives."""
    obj = base_trace()
    for ev in obj["traceEvents"]:
        ev["name"] = ev["name"] + "<{lambda()#1},{lambda()#2}>" * 40
    path = write(tmp_path / "t.json", obj, gz=False)
    monkeypatch.setattr(stream, "PIECE_BYTES", 700)
    monkeypatch.setattr(trace_mod, "MIN_PARALLEL_BYTES", 0)
    whole = []
    real = trace_mod._load_whole
    monkeypatch.setattr(trace_mod, "_load_whole", lambda *a: whole.append(1) or real(*a))
    streamed = load_trace(path, jobs=jobs)
    assert whole, "a cut inside a string must send the loader to the whole-document reader"
    reference = load_trace(path, backend="json")
    assert streamed.gpu.name == reference.gpu.name and streamed.ops.name == reference.ops.name
    assert np.array_equal(streamed.gpu.ts, reference.gpu.ts)
