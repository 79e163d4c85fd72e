"""Memory allocation calls: which calls count, nesting, the window, the GPU idle time they cost, steps, and the
allocation-stall finding; on synthetic traces with hand-computed figures."""

from pathlib import Path

import numpy as np
import pytest

from bambaprof.analysis.allocations import allocation_kind
from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.timeline import busy_before, drain_after, idle_within
from bambaprof.cli import main
from tests.analysis.synth import _kernel, _op, _rt, base_trace, write


def _step(name, ts, dur):
    return _op(name, ts, dur, -1, cat="user_annotation")


def _allocating(tmp_path, steps=True, free_at=80.0, name="t.json.gz"):
    """base_trace (GPU busy [30, 45) and [106, 110)) plus a kernel [75, 85); aten::empty_strided [50, 80) making a
    cudaMalloc [52, 72) with the driver's cuMemAlloc_v2 [53, 58) inside it on the same thread; a cudaFree
    [free_at, free_at + 10) under no op; a cudaMalloc at 5, before the GPU window (not counted); steps [0, 60) and
    [60, 120)."""
    t = base_trace()
    t["traceEvents"] += [_kernel("k2", 75, 10, 60, -1), _op("aten::empty_strided", 50, 30, 40),
                         _rt("cudaMalloc", 52, 20, 50, 40),
                         _rt("cuMemAlloc_v2", 53, 5, 51, 40), _rt("cudaFree", free_at, 10, 52),
                         _rt("cudaMalloc", 5, 1, 53)]
    if steps:
        t["traceEvents"] += [_step("ProfilerStep#1", 0, 60), _step("ProfilerStep#2", 60, 60)]
    return write(tmp_path / name, t)


KINDS = {"cudaMalloc": ("allocate", "device"), "hipMalloc": ("allocate", "device"),
         "cuMemAlloc_v2": ("allocate", "device"), "urUSMDeviceAlloc": ("allocate", "device"),
         "cudaFree": ("free", "device"), "cudaMallocAsync": ("allocate", "stream-ordered"),
         "cuMemFreeAsync": ("free", "stream-ordered"), "hipFreeAsync": ("free", "stream-ordered"),
         "cudaHostAlloc": ("allocate", "pinned host"), "hipHostMalloc": ("allocate", "pinned host"),
         "cudaFreeHost": ("free", "pinned host"), "cuMemMap": ("allocate", "mapping"), "cuMemUnmap": ("free", "mapping")}


def test_calls_by_what_they_do():
    assert {name: allocation_kind(name) for name in KINDS} == KINDS
    for other in ("cudaMemcpyAsync", "cudaMemsetAsync", "cudaLaunchKernel", "cudaStreamIsCapturing",
                  "cudaMemGetInfo", "cudaMallocX", "xcudaMalloc", "cudaFreeArray2", "cudaDeviceSynchronize"):
        assert allocation_kind(other) is None, other


def test_interval_helpers():
    ms, me = np.array([30.0, 106.0]), np.array([45.0, 110.0])
    assert busy_before(ms, me, np.array([0.0, 35.0, 45.0, 60.0, 108.0, 200.0])).tolist() == [0, 5, 15, 15, 17, 19]
    assert drain_after(ms, me, np.array([20.0, 40.0, 72.0, 120.0])).tolist() == [10, 0, 34, 0]
    assert idle_within(ms, me, np.array([40.0, 52.0]), np.array([50.0, 106.0])).tolist() == [5, 54]
    empty = np.zeros(0)
    assert busy_before(empty, empty, np.array([1.0])).tolist() == [0]
    assert drain_after(empty, empty, np.array([1.0])).tolist() == [0]


def test_gpu_idle_op_steps_and_nesting(tmp_path):
    a = analyze(_allocating(tmp_path))
    rows = {(r["call"], r["op"]): r for r in a.allocations}
    assert set(rows) == {("cudaMalloc", "aten::empty_strided"), ("cudaFree", None)}  # the nested driver call and
    malloc, free = rows[("cudaMalloc", "aten::empty_strided")], rows[("cudaFree", None)]  # the early malloc: out
    # the GPU is idle from 45 to 75 and 85 to 106: the malloc [52, 72) costs its 20 us; the free [80, 90) began while
    # k2 ran, waited for it, and the drain after it counts too: from 85 to 106 (21 us)
    assert (malloc["count"], malloc["host_blocked_us"], malloc["gpu_idle_us"]) == (1, 20.0, 20.0)
    assert (free["count"], free["host_blocked_us"], free["gpu_idle_us"]) == (1, 10.0, 21.0)
    assert (malloc["action"], malloc["memory"], malloc["steps"]) == ("allocate", "device", 1)
    assert a.allocations[0] is free  # most idle first
    s = a.summary
    assert (s["allocation_calls"], s["allocation_frees"], s["allocation_host_blocked_us"]) == (2, 1, 30.0)
    assert s["allocation_gpu_idle_us"] == 41.0
    assert (s["allocation_steps"], s["allocation_first_step_only"]) == (2, False)


def test_allocation_stall_for_frees_and_growth(tmp_path, capsys):
    a = analyze(_allocating(tmp_path))  # 41 us of an 80 us window
    (f,) = [f for f in a.findings if f["id"] == "allocation-stall"]
    assert f["severity"] == "high" and f["time_us"] == pytest.approx(41.0)
    assert "2 times inside the GPU window (1 to allocate, 1 to free, in 2 of 2 profiled steps)" in f["message"]
    assert "cudaFree under no operator: 1x, 21.0 us idle; cudaMalloc under aten::empty_strided: 1x, 20.0 us" in f["message"]
    assert "empty_cache()" in f["suggestion"] and "expandable_segments" in f["suggestion"]
    assert "at most 0% of the device's memory was reserved, so a failed allocation is unlikely" in f["suggestion"]
    assert "fill the pool again" in f["suggestion"] and "pool keeps growing" not in f["suggestion"]
    assert main(["analyze", str(_allocating(tmp_path)), "--table", "allocations", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "call,action,memory,op,count,host_blocked_us,gpu_idle_us,steps"
    assert out[2].startswith("cudaMalloc,allocate,device,aten::empty_strided,1,")


def test_frees_near_full_memory_and_growth_alone(tmp_path):
    """Frees with 90% of the device's memory reserved at the peak: a failed allocation is the likely cause; device
    allocations without frees: a pool that keeps growing."""
    t = base_trace()
    total = t["deviceProperties"][0]["totalGlobalMem"]
    t["traceEvents"] += [_rt("cudaFree", 60, 10, 52)]
    for e in t["traceEvents"]:
        if e["name"] == "[memory]":
            e["args"]["Total Reserved"] = int(0.9 * total)
    full = analyze(write(tmp_path / "full.json.gz", t))
    f = next(f for f in full.findings if f["id"] == "allocation-stall")
    assert "90% of the device's memory was reserved at the peak: likely an allocation that failed" in f["suggestion"]
    t = base_trace()
    t["traceEvents"] += [_rt("cudaMalloc", 60, 10, 52)]
    f = next(f for f in analyze(write(tmp_path / "grow.json.gz", t)).findings if f["id"] == "allocation-stall")
    assert "pool keeps growing" in f["suggestion"] and "_record_memory_history" in f["suggestion"]
    assert "empty_cache" not in f["suggestion"]


def test_calls_in_the_first_step_only_ask_for_a_warm_up(tmp_path):
    a = analyze(_allocating(tmp_path, free_at=40.0))  # the free [40, 50) in the first step too
    assert a.summary["allocation_first_step_only"] is True
    f = next(f for f in a.findings if f["id"] == "allocation-stall")
    assert "first profiled step" in f["suggestion"] and "empty_cache" not in f["suggestion"]


def test_pinned_host_memory(tmp_path):
    t = base_trace()
    t["traceEvents"] += [_op("aten::pin_memory", 50, 30, 40), _rt("cudaHostAlloc", 52, 20, 50, 40)]
    a = analyze(write(tmp_path / "p.json.gz", t))
    assert a.summary["allocation_steps"] is None and a.allocations[0]["steps"] is None  # no steps in this trace
    f = next(f for f in a.findings if f["id"] == "allocation-stall")
    assert "Pinned host memory" in f["suggestion"] and "empty_cache" not in f["suggestion"]


def test_stream_ordered_frees_do_not_drain(tmp_path):
    """cudaFreeAsync (PyTorch's backend:cudaMallocAsync) does not wait for the device: only the time the host was
    blocked in it counts, and the advice names the backend."""
    t = base_trace()
    t["traceEvents"] += [_rt("cudaMallocAsync", 50, 4, 50), _rt("cudaFreeAsync", 60, 4, 51)]
    a = analyze(write(tmp_path / "async.json.gz", t))
    assert a.summary["allocation_gpu_idle_us"] == 8.0 and a.summary["allocation_frees"] == 1
    f = next(f for f in a.findings if f["id"] == "allocation-stall")  # 8 us of an 80 us window
    assert "backend:cudaMallocAsync" in f["suggestion"] and "empty_cache" not in f["suggestion"]


def test_calls_while_the_gpu_is_busy_cost_nothing(tmp_path):
    t = base_trace()
    t["traceEvents"] += [_rt("cudaMalloc", 31, 5, 50), _rt("cudaFree", 36, 2, 51)]  # inside [30, 45)
    a = analyze(write(tmp_path / "b.json.gz", t))
    assert a.summary["allocation_calls"] == 2 and a.summary["allocation_gpu_idle_us"] == 0.0
    assert not any(f["id"] == "allocation-stall" for f in a.findings)


def test_unknown_without_runtime_calls_and_zero_without_any(tmp_path, capsys):
    plain = analyze(write(tmp_path / "plain.json.gz", base_trace()))
    assert plain.allocations == [] and plain.summary["allocation_calls"] == 0
    gpu_only = base_trace()
    gpu_only["traceEvents"] = [e for e in gpu_only["traceEvents"] if e.get("cat") not in ("cuda_runtime", "cpu_op")]
    path = write(tmp_path / "gpu.json.gz", gpu_only)
    a = analyze(path)
    assert a.summary["allocation_calls"] is None and a.summary["allocation_gpu_idle_us"] is None
    assert main(["analyze", str(path), "--table", "allocations"]) == 0
    assert "allocation calls unknown" in capsys.readouterr().out


REAL = Path(__file__).resolve().parents[1] / "data" / "allocations"


def test_real_traces_of_memory_calls_in_the_steps():
    """benchmarks/allocation_traces.py on an H100: the same step four ways. The steady one calls the driver for
    nothing; empty_cache() after each step gives back the pool (9 cudaFree, the GPU already idle as each began: only
    their own time counts) and fills it again (12 cudaMalloc); a growing batch allocates each step without a free,
    its cost under the threshold; a new pinned buffer each step spends 37 ms in cudaHostAlloc."""
    steady = analyze(REAL / "steady.json.gz")
    assert steady.allocations == [] and steady.summary["allocation_calls"] == 0
    assert not any(f["id"] == "allocation-stall" for f in steady.findings)

    empty = analyze(REAL / "empty-cache.json.gz")
    s = empty.summary
    assert (s["allocation_calls"], s["allocation_frees"], s["allocation_steps"]) == (21, 9, 4)
    assert s["allocation_gpu_idle_us"] == pytest.approx(1096.8, abs=0.1)
    free = empty.allocations[0]
    assert (free["call"], free["count"]) == ("cudaFree", 9) and free["gpu_idle_us"] == free["host_blocked_us"]
    f = next(f for f in empty.findings if f["id"] == "allocation-stall")
    assert f["severity"] == "high" and "fill the pool again" in f["suggestion"]  # 39% of the 2.83 ms window
    host = next(f for f in empty.findings if f["id"] == "host-bound")
    assert host["suggestion"].startswith("First keep memory allocation calls out of the steps")

    growing = analyze(REAL / "growing.json.gz")
    assert growing.summary["allocation_calls"] == 4 and growing.summary["allocation_frees"] == 0
    assert growing.allocations[0]["op"] == "aten::sum" and growing.allocations[0]["steps"] == 4
    assert not any(f["id"] == "allocation-stall" for f in growing.findings)  # 74.7 us: 3% of the window

    pinned = analyze(REAL / "pinned.json.gz")
    host_alloc = next(r for r in pinned.allocations if r["call"] == "cudaHostAlloc")
    assert (host_alloc["memory"], host_alloc["op"], host_alloc["count"]) == ("pinned host", "aten::_pin_memory", 3)
    assert host_alloc["host_blocked_us"] == pytest.approx(37220.7, abs=0.1)
    f = next(f for f in pinned.findings if f["id"] == "allocation-stall")
    assert "Pinned host memory" in f["suggestion"]
