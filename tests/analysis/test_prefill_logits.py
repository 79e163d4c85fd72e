"""Prefills that computed logits at every prompt position before decode steps (``--table logits``,
``all-position-logits``): real CPU traces of the project's model generating both ways
(``benchmarks/prefill_logits_traces.py``), and synthetic edges."""

import copy
from pathlib import Path

import pytest

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.prefill_logits import prefill_logits_table
from bambaprof.cli import main
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"
F32 = "float"


def test_real_cpu_generation_with_logits_at_every_position():
    """The tiny model with a 32,000-word vocabulary (float32): a 256-token prompt with the cache, then 4 decode
    steps; the prefill's LM head ran on all 256 positions."""
    a = analyze(DATA / "prefill-logits" / "all-positions.json.gz")
    (row,) = a.prefill_logits
    assert (row["shape"], row["weight"], row["dtype"], row["calls"], row["positions"]) == \
        ("1x256x64", "32000x64", "fp32", 1, 256)
    assert row["logits_bytes"] == 256 * 32000 * 4 and row["gpu_us"] is None
    assert row["extra_cpu_us"] == pytest.approx(row["cpu_us"] * 255 / 256)
    assert a.summary["prefill_logits_calls"] == 1 and a.summary["prefill_logits_extra_us"] is None
    (f,) = [f for f in a.findings if f["id"] == "all-position-logits"]
    assert f["time_us"] is None and f["severity"] in ("medium", "high")
    assert "1 prefill ran the LM head (weight 32000x64: the vocabulary of the trace's embedding) on every prompt " \
        "position, 256 in the largest (1x256x64, fp32)" in f["message"] and "32.77 MB of logits" in f["message"]
    assert "logits_to_keep=1" in f["suggestion"]


def test_real_cpu_generation_with_the_last_position_only():
    a = analyze(DATA / "prefill-logits" / "last-position.json.gz")
    assert a.prefill_logits == [] and a.summary["prefill_logits_calls"] == 0
    assert not [f for f in a.findings if f["id"] == "all-position-logits"]


def _forward(t, ext, length, vocab=1000, hidden=64, dur_us=50.0, name="aten::linear"):
    """One forward of ``length`` positions: its embedding lookup, then the LM head (and its kernel)."""
    return [_op("aten::embedding", t, 5, ext, [[vocab, hidden], [1, length]], [F32, "long int"]),
            _op(name, t + 10, 20, ext + 1, [[1, length, hidden], [vocab, hidden], []], [F32, F32, ""]),
            _rt("cudaLaunchKernel", t + 12, 2, 7000 + ext, ext + 1),
            _kernel("gemm", 1000 + t, dur_us, 7000 + ext, ext + 1)]


def _table(tmp_path, *forwards):
    trace = {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)],
             "traceEvents": [e for f in forwards for e in f]}
    return prefill_logits_table(load_trace(write(tmp_path / "t.json.gz", trace)))


def test_by_hand(tmp_path):
    rows = _table(tmp_path, _forward(0, 10, 100, dur_us=80.0), _forward(100, 20, 1), _forward(200, 30, 1),
                  _forward(300, 40, 100, dur_us=60.0))  # a second prompt, no decode step after it
    (row,) = rows
    assert (row["shape"], row["calls"], row["positions"], row["logits_bytes"]) == ("1x100x64", 1, 100, 100 * 1000 * 4)
    assert row["gpu_us"] == pytest.approx(80.0) and row["extra_gpu_us"] == pytest.approx(80.0 * 99 / 100)
    assert _table(tmp_path, _forward(0, 10, 100), _forward(100, 20, 100)) == []  # no decode step: no generation
    # a product of another vocabulary than the embedding's is no LM head
    other = _forward(0, 10, 100)
    other[1]["args"]["Input Dims"] = [[1, 100, 64], [999, 64], []]
    assert _table(tmp_path, other, _forward(100, 20, 1)) == []


def test_a_layers_product_of_the_vocabularys_size_is_no_head(tmp_path):
    """The tiny model's MLP stacks 2 x 128 = 256 rows, its vocabulary's size: it runs once a layer, so more than once
    a forward, where the head runs once."""
    layers = _forward(0, 10, 100, vocab=256)
    second = copy.deepcopy(layers[1:])
    for e in second:
        e["ts"] += 40
        e["args"]["External id"] += 100
        if "correlation" in e["args"]:
            e["args"]["correlation"] += 100
    assert _table(tmp_path, layers + second, _forward(200, 20, 1, vocab=256)) == []
    assert len(_table(tmp_path, layers, _forward(200, 20, 1, vocab=256))) == 1  # once a forward: the head


def test_without_an_embedding_or_shapes(tmp_path):
    no_embedding = [e for e in _forward(0, 10, 100) if e["name"] != "aten::embedding"]
    assert _table(tmp_path, no_embedding, _forward(100, 20, 1)[1:]) == []
    trace = {"schemaVersion": 1, "traceEvents": [e for e in _forward(0, 10, 100) + _forward(100, 20, 1)]}
    for e in trace["traceEvents"]:
        e["args"].pop("Input Dims", None)
    assert prefill_logits_table(load_trace(write(tmp_path / "bare.json.gz", trace))) is None


def test_cli_table(capsys):
    assert main(["analyze", str(DATA / "prefill-logits" / "all-positions.json.gz"), "--table", "logits"]) == 0
    assert "32000x64" in capsys.readouterr().out
    assert main(["analyze", str(DATA / "prefill-logits" / "last-position.json.gz"), "--table", "logits"]) == 0
    assert "no prefill computed logits at every position" in capsys.readouterr().out
