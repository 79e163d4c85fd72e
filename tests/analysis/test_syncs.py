"""Host-device synchronisations: which calls count, the op that made them, the GPU's drain after them, and the
sync-stall finding; on a synthetic trace with hand-computed figures and on the real H200 workload."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.syncs import SYNC_CALLS
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main
from tests.analysis.synth import _op, _rt, base_trace, write

DATA = Path(__file__).resolve().parents[1] / "data" / "nsys"


def _synced(tmp_path, drain_us: float = 40.0, idle_first: bool = False):
    """base_trace plus: ``.item()`` at 43 (aten::_local_scalar_dense makes a cudaStreamSynchronize [44, 48) while
    the add kernel runs to 45: it waits for it, and the GPU is empty as it returns; the memcpy, the GPU's next
    activity, moved to 48 + drain_us), or with ``idle_first`` at 46 (the call [47, 48) begins with the GPU already
    idle: it emptied nothing); a torch.cuda.synchronize() [38, 39) while kernels still run (no drain); and the
    profiler's own cudaDeviceSynchronize before the first and after the last GPU activity (not counted)."""
    t = base_trace()
    ev = t["traceEvents"]
    at, took = (46, 1) if idle_first else (43, 4)
    ev += [_op("aten::item", at, took + 2, 20), _op("aten::_local_scalar_dense", at, took + 2, 21),
           _rt("cudaStreamSynchronize", at + 1, took, 30, 21),
           _rt("cudaDeviceSynchronize", 38, 1, 31),
           _rt("cudaDeviceSynchronize", 1, 2, 32), _rt("cudaDeviceSynchronize", 200, 2, 33)]
    for e in ev:  # the GPU's next activity after the .item(): the memcpy
        if e.get("cat") == "gpu_memcpy":
            e["ts"] = 48 + drain_us
    return write(tmp_path / "synced.json.gz", t)


def test_calls_that_synchronise():
    for name in ("cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy",
                 "hipDeviceSynchronize", "hipMemcpy", "cuCtxSynchronize", "cuStreamSynchronize", "cuMemcpyDtoH_v2",
                 "urQueueFinish", "urEventWait"):
        assert SYNC_CALLS.match(name), name
    for name in ("cudaMemcpyAsync", "cudaLaunchKernel", "cudaStreamWaitEvent", "cudaEventRecord",
                 "cuMemcpyDtoHAsync_v2", "hipMemcpyAsync", "cudaStreamIsCapturing"):
        assert not SYNC_CALLS.match(name), name


def test_drain_and_op_of_each_synchronisation(tmp_path):
    a = analyze(_synced(tmp_path))
    rows = {(r["call"], r["op"]): r for r in a.syncs}
    assert set(rows) == {("cudaStreamSynchronize", "aten::_local_scalar_dense"), ("cudaDeviceSynchronize", None)}
    item = rows[("cudaStreamSynchronize", "aten::_local_scalar_dense")]
    assert item["count"] == 1 and item["host_blocked_us"] == 4.0
    assert item["drain_us"] == pytest.approx(40.0) and item["drains"] == 1  # from 48 to the memcpy at 88
    during = rows[("cudaDeviceSynchronize", None)]  # at 39 the gemm (to 40) still runs: no drain
    assert during["count"] == 1 and during["drain_us"] == 0 and during["drains"] == 0
    assert a.syncs[0] is item  # most drain first
    s = a.summary
    assert (s["sync_count"], s["sync_host_blocked_us"], s["sync_drain_us"]) == (2, 5.0, pytest.approx(40.0))


def test_a_synchronisation_made_with_the_gpu_idle_caused_no_drain(tmp_path):
    """The same .item() made after the GPU went idle: it waited for nothing, and the 40 us until the next activity
    are the host's (host-bound's), not the call's; the idle split leaves them in the rest."""
    a = analyze(_synced(tmp_path, idle_first=True))
    item = next(r for r in a.syncs if r["op"] == "aten::_local_scalar_dense")
    assert (item["count"], item["drain_us"], item["drains"]) == (1, 0.0, 0)
    assert a.summary["sync_drain_us"] == 0 and not any(f["id"] == "sync-stall" for f in a.findings)
    assert a.summary["idle_by_cause"]["synchronisations"] == pytest.approx(1.0)  # its own [47, 48)


def test_sync_stall_is_found_when_the_drain_is_a_large_share(tmp_path, capsys):
    a = analyze(_synced(tmp_path, drain_us=40.0))  # 40 us of a 62 us window (30 to 92)
    (f,) = [f for f in a.findings if f["id"] == "sync-stall"]
    assert f["severity"] == "high" and f["time_us"] == pytest.approx(40.0)
    assert "cudaStreamSynchronize under aten::_local_scalar_dense (.item()): 1x, 40.0 us" in f["message"]
    assert "set_sync_debug_mode" in f["suggestion"]
    small = analyze(_synced(tmp_path, drain_us=1.0))  # 1 us of the window: under SYNC_STALL_PCT
    assert not any(f["id"] == "sync-stall" for f in small.findings)
    assert main(["analyze", str(_synced(tmp_path)), "--table", "syncs", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "call,op,count,host_blocked_us,drain_us,drains"


def test_a_trace_without_synchronisations(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", base_trace()))
    assert a.syncs == [] and a.summary["sync_count"] == 0 and a.summary["sync_drain_us"] == 0


def test_a_trace_of_gpu_activity_alone_cannot_count_synchronisations(tmp_path, capsys):
    """Kernels without the host's runtime calls (Kineto without the CPU activity, rocprofv3 without --hip-trace):
    no synchronising call could show, so the totals are unknown, not zero, and the table says why. A CPU-only
    trace has no GPU window: nothing to wait for, zero."""
    t = _synced(tmp_path)
    gpu_only = base_trace()
    gpu_only["traceEvents"] = [e for e in gpu_only["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy")]
    a = analyze(write(tmp_path / "gpu.json.gz", gpu_only))
    assert a.summary["kernel_count"] and a.syncs == []
    assert (a.summary["sync_count"], a.summary["sync_host_blocked_us"], a.summary["sync_drain_us"]) == (None,) * 3
    assert main(["analyze", str(tmp_path / "gpu.json.gz"), "--table", "syncs"]) == 0
    assert capsys.readouterr().out.startswith("synchronisations unknown: the trace holds no runtime or driver calls")
    assert main(["analyze", str(write(tmp_path / "none.json.gz", base_trace())), "--table", "syncs"]) == 0
    assert capsys.readouterr().out.startswith("no synchronising calls inside the GPU window")
    assert analyze(t).summary["sync_count"] == 2
    cpu_only = base_trace()
    cpu_only["traceEvents"] = [e for e in cpu_only["traceEvents"] if e.get("cat") == "cpu_op"]
    assert analyze(write(tmp_path / "cpu.json.gz", cpu_only)).summary["sync_count"] == 0


def test_the_real_workload_synchronises_once_a_step_in_both_tools():
    """benchmarks/nsys_workload.py copies 8 values to the host each step (y[:8].cpu()): five steps, five
    cudaStreamSynchronize under aten::copy_ in the PyTorch profiler's trace, the same five in Nsight Systems'. The
    loop is host-bound: each copy and sync began with the GPU already idle, so they emptied nothing (the GPU's idle
    time after them, 422 us in the Kineto trace, is the host's: host-bound names it) and sync-stall stays quiet."""
    kineto = analyze(DATA / "h200-workload.kineto.json.gz")
    nsys = analyze(DATA / "h200-workload-nodes.sqlite.gz")
    (row,) = kineto.syncs
    assert (row["call"], row["op"], row["count"], row["drains"]) == ("cudaStreamSynchronize", "aten::copy_", 5, 0)
    assert nsys.summary["sync_count"] == 5 and nsys.syncs[0]["call"] == "cudaStreamSynchronize"
    for a in (kineto, nsys):
        assert a.summary["sync_drain_us"] == 0
        ids = {f["id"] for f in a.findings}
        assert "sync-stall" not in ids and "host-bound" in ids
    assert len(load_trace(DATA / "h200-workload.kineto.json.gz").runtime)  # the trace holds the calls it counts


def test_compare_warns_when_the_candidate_synchronises_more(tmp_path):
    from bambaprof.analysis.compare import compare

    base = write(tmp_path / "base.json.gz", base_trace())
    synced = _synced(tmp_path)
    (warning,) = [w for w in compare([base], [synced]).warnings if "synchronises" in w]
    assert warning.startswith("the candidate synchronises with the GPU 2 times a step against the baseline's 0")
    assert "cudaStreamSynchronize under aten::_local_scalar_dense" in warning
    assert not any("synchronises" in w for w in compare([synced], [base]).warnings)  # fewer: no warning
    gpu_only = base_trace()
    gpu_only["traceEvents"] = [e for e in gpu_only["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy")]
    unknown = write(tmp_path / "gpu.json.gz", gpu_only)  # a baseline that cannot count its syncs: no claim
    assert not any("synchronises" in w for w in compare([unknown], [synced]).warnings)


REAL = Path(__file__).resolve().parents[1] / "data" / "syncs"


def test_a_real_loop_that_reads_its_loss_every_step():
    """H100 (benchmarks/sync_traces.py): a bf16 MLP training step, then loss.item() and 1 ms of host bookkeeping.
    Two of the four .item() calls inside the GPU window began while the step's kernels still ran: the GPU then sat
    empty 2.89 ms through the bookkeeping and the next launches (sync-stall); the other two found the GPU already
    idle and are charged nothing. Reading the losses once after the loop removes them (compare: resolved)."""
    from bambaprof.analysis.compare import compare

    each = analyze(REAL / "item-each-step.json.gz")
    (row,) = each.syncs
    assert (row["call"], row["op"], row["count"], row["drains"]) == \
        ("cudaStreamSynchronize", "aten::_local_scalar_dense", 4, 2)
    assert round(row["drain_us"] / 1e3, 2) == 2.89 and each.summary["sync_drain_us"] == row["drain_us"]
    f = next(f for f in each.findings if f["id"] == "sync-stall")
    assert f["severity"] == "medium" and "(.item()): 4x, 2.89 ms" in f["message"]
    assert next(f for f in each.findings if f["id"] == "host-bound")["suggestion"].startswith(
        "First keep the step free of host-device synchronisations")
    deferred = analyze(REAL / "item-deferred.json.gz")
    assert deferred.summary["sync_count"] == 0 and not any(f["id"] == "sync-stall" for f in deferred.findings)
    found = {r["finding"]: r["status"] for r in compare([REAL / "item-each-step.json.gz"],
                                                        [REAL / "item-deferred.json.gz"]).findings}
    assert found["sync-stall"] == "resolved"
