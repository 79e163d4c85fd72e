"""The columnar builder, worker processes, and the vectorised op nesting: the same trace however it is read."""

import gzip
import threading
from pathlib import Path

import numpy as np
import pytest

import bambaprof.analysis.stream as stream
import bambaprof.analysis.trace as trace_mod
import bambaprof.analysis.workers as workers
from bambaprof.analysis.builder import TraceBuilder, dims_column, int_column
from bambaprof.analysis.ops import op_parents
from bambaprof.analysis.parse import decode_piece
from bambaprof.analysis.trace import load_trace

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = sorted(DATA.glob("*.json.gz"))


def _same(a, b):
    for table in ("gpu", "runtime", "ops", "memory"):
        x, y = getattr(a, table), getattr(b, table)
        for f in x.__dataclass_fields__:
            u, v = getattr(x, f), getattr(y, f)
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v, equal_nan=u.dtype.kind == "f"), (table, f)
            else:
                assert u == v, (table, f)
    assert (a.meta, a.n_events, a.skipped, a.lenient_events) == (b.meta, b.n_events, b.skipped, b.lenient_events)


@pytest.mark.parametrize("path", FIXTURES[:4], ids=lambda p: p.name)
def test_workers_pieces_and_whole_document_give_one_trace(path, tmp_path, monkeypatch):
    whole = trace_mod._load_whole(trace_mod.resolve(path), "msgspec", None)
    plain = tmp_path / "t.json"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    monkeypatch.setattr(stream, "PIECE_BYTES", 64 << 10)  # many pieces
    monkeypatch.setattr(trace_mod, "MIN_PARALLEL_BYTES", 0)
    for source in (path, plain):  # pieces as bytes (gzip) and as file ranges (plain)
        for jobs in (1, 3):
            _same(load_trace(source, jobs=jobs), whole)


def test_no_fork_with_threads_running(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_mod, "MIN_PARALLEL_BYTES", 0)
    forked = []
    monkeypatch.setattr(trace_mod, "build_in_workers", lambda *a: forked.append(1))
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not workers.can_fork()
        load_trace(FIXTURES[0], jobs=4)
    finally:
        stop.set()
        t.join()
    assert not forked


def test_a_failing_worker_sends_the_loader_to_the_whole_document(monkeypatch):
    monkeypatch.setattr(trace_mod, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(stream, "PIECE_BYTES", 64 << 10)
    real = workers.decode_piece
    calls = []

    def flaky(piece):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("boom")
        return real(piece)

    monkeypatch.setattr(workers, "decode_piece", flaky)  # the workers are forked: they inherit the patch
    reference = trace_mod._load_whole(trace_mod.resolve(FIXTURES[0]), "msgspec", None)
    _same(load_trace(FIXTURES[0], jobs=2), reference)


def test_merged_builders_equal_one_builder():
    text = gzip.decompress(FIXTURES[0].read_bytes())
    events = decode_piece(text[text.index(b"[", text.index(b'"traceEvents"')):text.rindex(b"]") + 1])[0]
    batches = [events[i:i + 500] for i in range(0, len(events), 500)]
    one = TraceBuilder()
    for b in batches:
        one.add(b)
    parts = [TraceBuilder(), TraceBuilder()]
    for number, b in enumerate(batches, start=1):
        parts[number % 2].add(b, number)
    merged = TraceBuilder()
    for p in reversed(parts):  # the order of merging does not matter: batch numbers do
        take = merged.merge(p.state())
        for table in ("gpu", "runtime", "ops", "memory", "flow"):
            take(table, p.take_parts(table))
    for table in ("gpu", "runtime", "ops", "memory", "flow"):
        x, y = one.columns(table), merged.columns(table)
        for k in x:
            if k == "shape" or k.endswith("#codes"):  # codes into each builder's own tables: compared by value
                continue
            if isinstance(x[k], list):
                assert x[k] == y[k], (table, k)
            else:
                assert np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"), (table, k)
    assert [one.shapes()[i] for i in one.columns("ops")["shape"] if i >= 0] == \
           [merged.shapes()[i] for i in merged.columns("ops")["shape"] if i >= 0]


def test_int_column_is_exact_and_unknown_where_it_must_be():
    big = 2**60 + 1  # not exact in float64
    assert int_column([1, None, 3]).tolist() == [1, -1, 3]
    assert int_column([big, None]).tolist() == [big, -1]
    assert int_column([2**64 + 5, 7]).tolist() == [-1, 7]  # beyond 64 bits: unknown
    assert int_column([]).dtype == np.int64


def test_dims_column_keeps_good_rows_next_to_bad_ones():
    got = dims_column([[1, 2, 3], None, [4, 5], "x", [7, 8, 9]])
    assert got.tolist() == [[1, 2, 3], [-1, -1, -1], [4, 5, 1], [-1, -1, -1], [7, 8, 9]]


def _stack_walk(ts, dur, thread):
    parent = [-1] * len(ts)
    ends = [t + d for t, d in zip(ts, dur)]
    for th in set(thread):
        idx = sorted((i for i in range(len(ts)) if thread[i] == th), key=lambda i: (ts[i], -dur[i]))
        stack = []
        for i in idx:
            while stack and ends[stack[-1]] <= ts[i]:
                stack.pop()
            if stack:
                parent[i] = stack[-1]
            stack.append(i)
    return parent


@pytest.mark.parametrize("seed", range(6))
def test_op_nesting_equals_the_stack_walk(seed):
    rng = np.random.default_rng(seed)
    n = 400
    ts = rng.integers(0, 200, n).astype(float)  # many ties
    dur = rng.integers(0, 60, n).astype(float)  # zero lengths, overlaps that do not nest
    tid = rng.integers(0, 3, n).tolist()

    class T:
        pass

    t = T()
    t.memo = {}
    t.ops = type("O", (), {"__len__": lambda self: n, "ts": ts, "dur": dur, "pid": [1] * n, "tid": tid})()
    assert op_parents(t).tolist() == _stack_walk(ts.tolist(), dur.tolist(), tid)
