"""Copies on the device by kind (cast, layout, copy), dtypes, shape and caller."""

import copy
from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.copies import _copy_bytes, copy_summary, copy_table
from bambaprof.analysis.source import resolve
from bambaprof.analysis.trace import load_trace
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data"
BF16, F32 = "c10::BFloat16", "float"


def _copy(events, t, ext, callers, dst, src, shape, gpu_us=10.0, memcpy=None, shapes=True):
    """A copy at ``t`` under ``callers`` (outermost first, each enclosing the next), launching a copy kernel of
    ``gpu_us`` (or a memcpy of the kind ``memcpy`` names) from its ``aten::copy_``."""
    for depth, name in enumerate(callers):
        events.append(_op(name, t + depth, 20 - 2 * depth, 900 + 10 * ext + depth))
    inner = t + len(callers)
    dims, types = ([shape, shape, []], [dst, src, "Scalar"]) if shapes else (None, None)
    events.append(_op("aten::copy_", inner, 20 - 2 * len(callers), ext, dims, types))
    events.append(_rt("cudaMemcpyAsync" if memcpy else "cudaLaunchKernel", inner + 1, 1, 100 + ext, ext))
    if memcpy:
        events.append({"ph": "X", "cat": "gpu_memcpy", "name": f"Memcpy {memcpy}", "pid": 0, "tid": 7,
                       "ts": 1000 + 50 * ext, "dur": gpu_us,
                       "args": {"External id": ext, "device": 0, "stream": 7, "correlation": 100 + ext, "bytes": 4096}})
    else:
        events.append(_kernel("elementwise_kernel<direct_copy_kernel_cuda>", 1000 + 50 * ext, gpu_us, 100 + ext, ext))


def _trace(shapes=True):
    ev = [_op("ProfilerStep#1", -5, 300, 990, cat="user_annotation"),  # the profiler's own: not a range here
          _op("gated_norm", -2, 75, 991, cat="user_annotation")]
    _copy(ev, 0, 1, ["aten::to", "aten::_to_copy"], F32, BF16, [4, 1024], 30.0, shapes=shapes)  # .float()
    _copy(ev, 40, 2, ["aten::to", "aten::_to_copy"], F32, BF16, [4, 1024], 30.0, shapes=shapes)
    _copy(ev, 80, 3, ["aten::contiguous", "aten::clone"], BF16, BF16, [8, 512], 20.0, shapes=shapes)  # a transpose
    _copy(ev, 120, 4, ["aten::masked_fill", "aten::clone"], F32, F32, [2, 64, 64], 5.0, shapes=shapes)
    _copy(ev, 240, 7, ["aten::conv1d", "aten::_convolution", "aten::contiguous", "aten::clone"], BF16, BF16, [8, 512],
          1.0, shapes=shapes)  # cuDNN's: the caller's caller wanted it
    _copy(ev, 160, 5, [], BF16, BF16, [16], 4.0, memcpy="DtoD (Device -> Device)", shapes=shapes)  # copy_ itself
    _copy(ev, 200, 6, ["aten::to", "aten::_to_copy"], BF16, BF16, [4096], 50.0, memcpy="HtoD (Pageable -> Device)",
          shapes=shapes)  # a transfer: not a copy on the device
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "traceEvents": ev}


def test_copies_are_told_apart_by_dtype_and_caller(tmp_path):
    rows = copy_table(load_trace(resolve(write(tmp_path / "t.json.gz", _trace()))))
    got = [(r["kind"], r["dtypes"], r["shape"], r["caller"], r["range"], r["count"], r["gpu_us"]) for r in rows]
    assert got == [("cast", "bf16 -> fp32", "[4, 1024]", "aten::to", "gated_norm", 2, 60.0),
                   ("layout", "bf16 -> bf16", "[8, 512]", "aten::contiguous", "(no range)", 1, 20.0),
                   ("copy", "fp32 -> fp32", "[2, 64, 64]", "aten::masked_fill", "(no range)", 1, 5.0),
                   ("copy", "bf16 -> bf16", "[16]", "copy_", "(no range)", 1, 4.0),
                   ("layout", "bf16 -> bf16", "[8, 512]", "aten::contiguous", "(no range)", 1, 1.0)]
    assert [r["inside"] for r in rows] == [None, None, None, None, "aten::conv1d"]
    assert rows[0]["bytes"] == 4 * 1024 * (2 + 4) and _copy_bytes([[2 ** 400] * 3] * 2, [F32, F32]) is None
    assert rows[0]["bytes"] == 4 * 1024 * (2 + 4) and rows[0]["gbps"] == pytest.approx(2 * 24576 / 60e3)
    assert copy_summary(rows) == {"copy_cast_us": 60.0, "copy_layout_us": 21.0, "copy_other_us": 9.0}


def test_without_shapes_the_caller_says_the_kind_and_nothing_else_is_guessed(tmp_path):
    rows = copy_table(load_trace(resolve(write(tmp_path / "t.json.gz", _trace(shapes=False)))))
    assert [(r["kind"], r["dtypes"], r["caller"], r["bytes"]) for r in rows] == [
        ("cast", "unknown", "aten::to", None), ("layout", "unknown", "aten::contiguous", None),
        ("copy", "unknown", "aten::masked_fill", None), ("copy", "unknown", "copy_", None),
        ("layout", "unknown", "aten::contiguous", None)]
    assert all(r["gbps"] is None for r in rows)


def test_a_trace_without_cpu_ops_cannot_tell_and_one_without_copies_has_none(tmp_path):
    only_gpu = {"traceEvents": [_kernel("k", 10, 5, 1, 1)]}
    a = analyze(write(tmp_path / "g.json.gz", only_gpu))
    assert a.copies is None and a.summary["copy_cast_us"] is None
    b = analyze(write(tmp_path / "o.json.gz", {"traceEvents": [_op("aten::mm", 0, 5, 1), _kernel("k", 10, 5, 1, 1)]}))
    assert b.copies == [] and b.summary["copy_layout_us"] == 0.0
    cpu = analyze(write(tmp_path / "c.json.gz", {"traceEvents": [_op("aten::mm", 0, 5, 1)]}))
    assert cpu.copies == [] and cpu.summary["copy_layout_us"] is None  # no GPU: no GPU time to total


def test_the_copies_of_mamba_ssms_mixer_on_the_h200():
    """The mamba_ssm mixer (eager, bf16, 1 x 512): its gated norm casts [1, 512, 8192] to float32 and back, and the
    conv's input is made contiguous; 207 us of 1,154 us of kernel time."""
    a = analyze(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    assert a.summary["copy_cast_us"] == pytest.approx(111.264) and a.summary["copy_layout_us"] == pytest.approx(95.744)
    top = a.copies[0]
    assert (top["kind"], top["dtypes"], top["shape"], top["caller"], top["count"]) == \
        ("layout", "bf16 -> bf16", "[1, 8448, 512]", "aten::contiguous", 3)
    assert a.copies[1]["dtypes"] == "bf16 -> fp32" and a.copies[1]["caller"] == "aten::to"


def test_a_cpu_only_profile_lists_its_copies_by_host_time():
    a = analyze(DATA / "cpu-tiny-default-prefill-with-stack.json.gz")
    assert a.copies and all(r["gpu_us"] is None for r in a.copies)
    assert a.copies[0]["cpu_us"] >= a.copies[-1]["cpu_us"] and a.copies[0]["caller"] == "aten::repeat_interleave"
    assert a.summary["copy_other_us"] is None


def test_kernels_replayed_from_cuda_graphs_leave_the_copy_totals_unknown(tmp_path):
    """A graph replay's kernels carry no op: the table lists what ops made, and the totals are unknown, not low."""
    t = _trace()
    t["traceEvents"] += [_rt("cudaGraphLaunch", 400, 2, 500), _kernel("replayed_copy", 2000, 30.0, 500, -1)]
    a = analyze(write(tmp_path / "g.json.gz", t))
    assert len(a.copies) == 5 and a.summary["copy_cast_us"] is None and a.summary["copy_other_us"] is None
    assert any("1 kernel launches replayed from CUDA graphs carry no op" in n for n in a.notes)
    b = analyze(write(tmp_path / "n.json.gz", _trace()))
    assert b.summary["copy_cast_us"] == 60.0 and not any(n.startswith("copies:") for n in b.notes)
