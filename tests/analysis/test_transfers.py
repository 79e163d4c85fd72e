"""Host-device copies (transfers): which copies count, their exposed time (no kernel beside them) per device, the
table and summary, when they are unknown, and the exposed-transfers finding; on synthetic traces with
hand-computed figures."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.transfers import TRANSFER_NAME, _exposed_each, transfers_known
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import _kernel, _op, _rt, base_trace, write


def _copy(name, ts, dur, corr, ext, stream=7, device=0, size=1 << 20):
    return {"ph": "X", "cat": "gpu_memcpy", "name": name, "pid": device, "tid": stream, "ts": ts, "dur": dur,
            "args": {"External id": ext, "device": device, "stream": stream, "correlation": corr, "bytes": size}}


def _loop(tmp_path, side_stream=False, name="t.json.gz", pageable=False, kernels=True):
    """After the previous step's kernel [-50, 0), two steps, each: a 40 us HtoD copy of 4 MB then a 50 us kernel on
    stream 7 (the copy exposed), or with ``side_stream`` the second step's copy on stream 9 under the first step's
    kernel (exposed only where it runs past it). Step 1: copy [0, 40), kernel [40, 90); step 2: copy [90, 130)
    (side: [50, 90), hidden), kernel [130, 180). The kernel window: [-50, 180)."""
    memory = "Pageable" if pageable else "Pinned"
    name_ = f"Memcpy HtoD ({memory} -> Device)"
    second = _copy(name_, 50, 40, 31, 21, stream=9) if side_stream else _copy(name_, 90, 40, 31, 21)
    events = [_op("aten::copy_", -5, 4, 20), _op("aten::copy_", 45, 4, 21), _rt("cudaMemcpyAsync", -4, 2, 30, 20),
              _rt("cudaMemcpyAsync", 46, 2, 31, 21), _copy(name_, 0, 40, 30, 20, size=4 << 20), second]
    if kernels:
        events += [_kernel("k", -50, 50, 39, -1), _kernel("k", 40, 50, 40, -1), _kernel("k", 130, 50, 41, -1),
                   _rt("cudaLaunchKernel", 38, 1, 40),
                   _rt("cudaLaunchKernel", 88, 1, 41)]
    return write(tmp_path / name, {"schemaVersion": 1, "traceEvents": events})


def test_names_that_are_transfers():
    assert TRANSFER_NAME.match("Memcpy HtoD (Pinned -> Device)").groups() == ("HtoD", "Pinned")
    assert TRANSFER_NAME.match("Memcpy DtoH (Device -> Pageable)").groups() == ("DtoH", "Pageable")
    assert TRANSFER_NAME.match("Memcpy HtoD").groups() == ("HtoD", None)  # rocprofv3, rocpd
    for other in ("Memcpy DtoD (Device -> Device)", "Memcpy PtoP (Device -> Device)", "Memset (Device)",
                  "Memcpy HtoDx", "xMemcpy HtoD"):
        assert TRANSFER_NAME.match(other) is None, other


def test_exposed_each_counts_every_instant_once():
    ks, ke = np.array([10.0, 50.0]), np.array([20.0, 60.0])
    # [0, 30): 20 uncovered; [5, 25) inside it: 0 of its own; [40, 70): 20 (50-60 is a kernel's)
    got = _exposed_each(np.array([5.0, 0.0, 40.0]), np.array([25.0, 30.0, 70.0]), ks, ke)
    assert got.tolist() == [0.0, 20.0, 20.0]
    none = np.zeros(0)
    assert _exposed_each(np.array([0.0, 5.0]), np.array([10.0, 20.0]), none, none).tolist() == [10.0, 10.0]


def test_same_stream_copies_are_exposed(tmp_path):
    a = analyze(_loop(tmp_path))
    s = a.summary
    assert (s["transfer_count"], s["transfer_us"], s["transfer_exposed_us"]) == (2, 80.0, 80.0)
    assert s["transfer_bytes"] == (4 << 20) + (1 << 20)
    (row,) = a.transfers
    assert (row["direction"], row["memory"], row["stream"], row["op"], row["stream_runs_kernels"]) == \
        ("HtoD", "pinned", 7, "aten::copy_", True)
    assert row["gbps"] == pytest.approx(((4 << 20) + (1 << 20)) / 80.0 / 1e3)
    (f,) = [f for f in a.findings if f["id"] == "exposed-transfers"]
    assert f["severity"] == "high" and f["time_us"] == pytest.approx(80.0)  # 80 of the 230 us window; kernels 150
    assert "80.0 us, 35% of its 230.0 us window" in f["message"] and "(the kernels' own)" in f["message"]
    assert "side stream" in f["suggestion"] and "pageable-copies" not in f["suggestion"]


def test_side_stream_copies_run_under_kernels(tmp_path):
    a = analyze(_loop(tmp_path, side_stream=True))
    s = a.summary
    assert (s["transfer_count"], s["transfer_exposed_us"]) == (2, 40.0)  # the first copy: nothing to run under
    side = next(r for r in a.transfers if r["stream"] == 9)
    assert side["exposed_us"] == 0.0 and side["stream_runs_kernels"] is False
    (f,) = [f for f in a.findings if f["id"] == "exposed-transfers"]  # 40 us of the 230 us window: 17%
    assert f["severity"] == "medium" and "stream 7 (the kernels' own)" in f["message"]


def test_pageable_copies_are_pinned_first(tmp_path):
    f = next(f for f in analyze(_loop(tmp_path, pageable=True)).findings if f["id"] == "exposed-transfers")
    assert f["suggestion"].startswith("Pin the host memory first (see pageable-copies)")


def test_copies_to_the_host_and_on_a_side_stream_get_their_own_advice(tmp_path):
    t = {"schemaVersion": 1, "traceEvents": [
        _kernel("k", 0, 50, 40, -1), _rt("cudaLaunchKernel", -2, 1, 40),
        _copy("Memcpy DtoH (Device -> Pinned)", 50, 30, 30, -1), _kernel("k", 80, 20, 41, -1)]}
    f = next(f for f in analyze(write(tmp_path / "d.json", t)).findings if f["id"] == "exposed-transfers")
    assert "Copy results out less often" in f["suggestion"] and "DtoH to pinned memory" in f["message"]
    t["traceEvents"][2] = _copy("Memcpy HtoD (Pinned -> Device)", 50, 30, 30, -1, stream=9)
    f = next(f for f in analyze(write(tmp_path / "s.json", t)).findings if f["id"] == "exposed-transfers")
    assert "a stream of their own (stream 9)" in f["suggestion"]


def test_copies_outside_the_kernel_window_are_not_exposed(tmp_path):
    """Without kernels, nothing could run beside the copies: no exposed time. A first batch copied before the first
    kernel and results copied after the last are not exposed either; the part of a copy inside the window is."""
    a = analyze(_loop(tmp_path, kernels=False))
    assert a.summary["transfer_us"] == 80.0 and a.summary["transfer_exposed_us"] == 0.0
    assert not any(f["id"] == "exposed-transfers" for f in a.findings)
    t = {"schemaVersion": 1, "traceEvents": [
        _copy("Memcpy HtoD (Pinned -> Device)", 0, 30, 30, -1), _kernel("k", 30, 50, 40, -1),
        _copy("Memcpy HtoD (Pinned -> Device)", 60, 40, 31, -1, stream=9),  # runs 20 us past the kernel's end at 80
        _copy("Memcpy DtoH (Device -> Pinned)", 100, 10, 32, -1)]}
    a = analyze(write(tmp_path / "edges.json", t))
    assert a.summary["transfer_exposed_us"] == 0.0  # [80, 100) is after the last kernel too


def test_small_exposure_is_not_a_finding(tmp_path):
    a = analyze(write(tmp_path / "b.json.gz", base_trace()))  # its one copy is device to device
    assert a.transfers == [] and a.summary["transfer_count"] == 0 and a.summary["transfer_exposed_us"] == 0
    t = base_trace()
    t["traceEvents"] += [_copy("Memcpy HtoD (Pinned -> Device)", 45, 2, 99, -1),  # 2 us of an 80 us window
                         _kernel("k", 47, 10, 98, -1)]
    a = analyze(write(tmp_path / "s.json.gz", t))
    assert a.summary["transfer_exposed_us"] == 2.0
    assert not any(f["id"] == "exposed-transfers" for f in a.findings)


def test_unknown_without_gpu_activity_or_copy_tracing(tmp_path):
    cpu = analyze(write(tmp_path / "cpu.json", {"traceEvents": [_op("aten::mm", 0, 10, 1)]}))
    assert cpu.summary["transfer_count"] is None and cpu.transfers == []
    assert not can_judge(cpu, "exposed-transfers")
    gpu = SimpleNamespace(kind=np.array(["kernel"]))
    assert not transfers_known(SimpleNamespace(gpu=gpu, backend="rocprofv3-csv"))  # copies traced on request
    assert not transfers_known(SimpleNamespace(gpu=gpu, backend="rocpd-sqlite"))
    assert transfers_known(SimpleNamespace(gpu=gpu, backend="kineto-json"))  # copies come with the kernels
    copied = SimpleNamespace(kind=np.array(["kernel", "memcpy"]))
    assert transfers_known(SimpleNamespace(gpu=copied, backend="rocprofv3-csv"))


def test_table_command(tmp_path, capsys):
    path = _loop(tmp_path)
    assert main(["analyze", str(path), "--table", "transfers"]) == 0
    out = capsys.readouterr().out
    assert "HtoD" in out and "pinned" in out and "aten::copy_" in out
    assert main(["analyze", str(path), "--table", "transfers", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("direction,memory,device,stream,op,count,total_us")


REAL = Path(__file__).resolve().parents[1] / "data" / "transfers"


def test_real_batches_copied_on_the_kernels_stream_and_beside_it():
    """H100 (benchmarks/transfer_traces.py): 64 MiB pinned batches at 55 GB/s before four bf16 layers. On the stream
    that computes, four of the six copies (the first two precede the first kernel) ran with no kernel beside them,
    4.90 ms of a 15.4 ms window: exposed-transfers, high. Copied a batch ahead on a side stream, 0.26 ms: none;
    compare gates on transfer_exposed."""
    from bambaprof.analysis.compare import compare, regression

    same = analyze(REAL / "same-stream.json.gz")
    (row,) = same.transfers
    assert (row["direction"], row["memory"], row["count"], row["stream_runs_kernels"]) == ("HtoD", "pinned", 6, True)
    assert round(row["gbps"]) == 55 and row["bytes"] == 6 * 64 * 2**20
    assert round(same.summary["transfer_exposed_us"] / 1e3, 2) == 4.90
    f = next(f for f in same.findings if f["id"] == "exposed-transfers")
    assert f["severity"] == "high" and f["suggestion"].startswith("Copy the next batch while this one computes")
    side = analyze(REAL / "side-stream.json.gz")
    assert side.transfers[0]["stream_runs_kernels"] is False
    assert round(side.summary["transfer_exposed_us"]) == 264
    assert not any(f["id"] == "exposed-transfers" for f in side.findings)
    assert regression(compare([REAL / "side-stream.json.gz"], [REAL / "same-stream.json.gz"]), "transfer_exposed",
                      10.0) is not None
    assert regression(compare([REAL / "same-stream.json.gz"], [REAL / "side-stream.json.gz"]), "transfer_exposed",
                      10.0) is None


def test_a_real_run_rates_its_copies_against_its_pcie_link():
    """The same-stream loop recorded on the H100 by bambaprof.record (benchmarks/transfer_traces.py OUT run): its
    manifest holds the PCIe link NVML reported (5.0 x16, 63.0 GB/s), so exposed-transfers rates the copies against
    it (55.4 GB/s, 88%); its profiler had no warm-up step, and uneven-steps says the first step carries its start-up."""
    a = analyze(REAL / "run-same-stream")
    nvml = a.manifest.device.nvml
    assert (nvml.pcie_link_generation, nvml.pcie_link_width, round(nvml.pcie_gbps, 1)) == (5, 16, 63.0)
    found = {f["id"]: f for f in a.findings}
    assert "55.4 GB/s, 88% of the PCIe 5.0 x16 link's 63.0 GB/s" in found["exposed-transfers"]["message"]
    assert "this run's profiler had no warm-up step (its schedule: wait 2, warmup 0, active 3)" in \
        found["uneven-steps"]["suggestion"]
