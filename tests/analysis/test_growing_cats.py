"""Tensors grown by torch.cat call after call: which concatenations are appends, the growing groups, their elements
(and bytes where a kernel name gives the element size), time and floor, and the growing-cat finding; on real CPU
traces of a KV cache grown by torch.cat and one written in place (tests/data/kv-cache/) and synthetic GPU traces."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.growing_cats import _append
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from bambaprof.render.tables import format_cell
from tests.analysis.synth import H200, _kernel, _op, _rt, write

REAL = Path(__file__).resolve().parents[1] / "data" / "kv-cache"


def test_what_is_an_append():
    assert _append([[[1, 8, 100, 64], [1, 8, 1, 64]], []], ["", "2"]) == ([1, 8, 100, 64], 2, 1)
    assert _append([[[1, 8, 1, 64], [1, 8, 100, 64]], []], ["", "-2"]) == ([1, 8, 100, 64], 2, 1)  # either order
    assert _append([[[100, 4], [1, 4]], []], ["", ""]) == ([100, 4], 0, 1)  # dim not recorded: cat's default, 0
    assert _append([[[1, 192, 3], [1, 192, 1]], []], ["", "-1"]) is None  # a conv state rolled: 3x, not an append
    assert _append([[[4, 64], [4, 64]], []], ["", "-1"]) is None  # two halves joined
    assert _append([[[1, 8, 100, 64], [1, 4, 1, 64]], []], ["", "2"]) is None  # other dims differ
    assert _append([[[1, 8, 100, 64], [1, 8, 1, 64]], []], ["", "7"]) is None  # no such dim
    assert _append([[[1, True, 100], [1, 1, 1]], []], ["", "2"]) is None and _append(None, None) is None


def test_real_kv_cache_grown_by_cat_and_written_in_place():
    """Grown by cat: 128 calls (2 layers x K, V x 32 tokens), the cache from 1,025 to 1,056 tokens, 68.3 M elements
    written to append 65.5 K, 56.9 ms of the 91.0 ms span on the host (growing-cat, high); in place: none."""
    cat = analyze(REAL / "cat.json.gz")
    (row,) = cat.growing_cats
    assert (row["shape"], row["dim"], row["appended"], row["calls"], row["first_length"], row["last_length"],
            row["lengths"]) == ("[1, 8, S, 64]", 2, 1, 128, 1025, 1056, 32)
    assert row["elements_appended"] == 128 * 8 * 64
    assert row["elements_written"] == 4 * sum(8 * 64 * (n + 1) for n in range(1025, 1057))
    assert row["element_bytes"] is None and row["bytes_written"] is None  # a tensor list's dtype: not recorded
    (f,) = [f for f in cat.findings if f["id"] == "growing-cat"]
    assert f["severity"] == "high" and f["time_us"] is None and "63% of the trace's span" in f["message"]
    assert "StaticCache" in f["suggestion"] and "index_copy_" in f["suggestion"]
    static = analyze(REAL / "static.json.gz")
    assert static.growing_cats == [] and can_judge(static, "growing-cat")
    assert not [f for f in static.findings if f["id"] == "growing-cat"]


def _gpu(tmp_path, lengths=(100, 101, 102), dur=50.0):
    return write(tmp_path / "g.json.gz", gpu_growing_doc(lengths, dur))


def gpu_growing_doc(lengths=(100, 101, 102), dur=50.0):
    """torch.cat of a [1, 8, S, 64] cache and one token along dim 2, S = ``lengths``, each launching CUDA's cat kernel
    on 2-byte elements for ``dur`` us; a 100 us GEMM besides."""
    events, t = [], 0.0
    for i, n in enumerate(lengths):
        op = _op("aten::cat", t, 5, 1 + i, [[[1, 8, n, 64], [1, 8, 1, 64]], []], ["TensorList", "Scalar"])
        op["args"]["Concrete Inputs"] = ["", "2"]
        events += [op, _rt("cudaLaunchKernel", t + 1, 1, 10 + i, 1 + i),
                   _kernel("void at::native::(anonymous namespace)::CatArrayBatchedCopy<at::native::(anonymous "
                           "namespace)::OpaqueType<2u>, unsigned int, 4, 64, 64>(...)", t + 10, dur, 10 + i, 1 + i)]
        t += 100
    events += [_op("aten::mm", t, 5, 50), _rt("cudaLaunchKernel", t + 1, 1, 60, 50), _kernel("gemm", t + 10, 100, 60, 50)]
    return {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}


def test_gpu_figures_by_hand(tmp_path):
    a = analyze(_gpu(tmp_path))
    (row,) = a.growing_cats
    written = sum(8 * 64 * (n + 1) for n in (100, 101, 102))
    assert (row["element_bytes"], row["bytes_written"], row["gpu_us"]) == (2, 2.0 * written, 150.0)
    assert row["floor_us"] == pytest.approx(2 * 3 * 8 * 64 * 2 / (a.summary["peak_bandwidth_gbps"] * 1e3))
    (f,) = [f for f in a.findings if f["id"] == "growing-cat"]
    assert f["time_us"] == pytest.approx(150.0 - row["floor_us"]) and "60% of kernel time" in f["message"]
    assert f"wrote {format_cell(2.0 * written, 'bytes')}, " in f["message"]  # bytes: the kernel names the size


def test_lengths_that_vary_or_a_small_share_is_no_finding(tmp_path):
    assert analyze(_gpu(tmp_path, lengths=(100, 101, 100))).growing_cats == []  # not growing by its last call
    assert analyze(_gpu(tmp_path, lengths=(100, 250, 130, 400))).growing_cats == []  # a token joined to any length
    assert len(analyze(_gpu(tmp_path, lengths=(100, 100, 101, 101, 102))).growing_cats) == 1  # two caches
    few = analyze(_gpu(tmp_path, dur=1.0))  # 3 of 103 us
    assert few.growing_cats and not [f for f in few.findings if f["id"] == "growing-cat"]


def test_cli_table(capsys):
    assert main(["analyze", str(REAL / "cat.json.gz"), "--table", "growing"]) == 0
    assert "[1, 8, S, 64]" in capsys.readouterr().out


def test_real_h100_cache_grown_by_cat():
    """The real H100 trace (torch 2.11, bf16, benchmarks/kv_cache_traces.py --prompt 4096 --tokens 32): CUDA's cat
    kernel names the element size, so the rows have bytes and a floor (the appended bytes)."""
    a = analyze(REAL / "h100-cat.json.gz")
    (row,) = a.growing_cats
    assert (row["shape"], row["dim"], row["appended"], row["first_length"], row["element_bytes"]) == \
        ("[1, 8, S, 64]", 2, 1, 4097, 2)
    assert row["bytes_written"] == 2 * row["elements_written"] and 0 < row["floor_us"] < row["gpu_us"]
    assert any(f["id"] == "growing-cat" for f in a.findings)
