"""Collective kernels and the compute that hides them (:mod:`bambaprof.analysis.comms`), the summary figures, the
``exposed-communication`` finding, and collectives kept out of the roofline, occupancy and grid findings."""

import copy

import numpy as np
import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.comms import _covered_before, _exposed, collective_kind
from bambaprof.analysis.timeline import union_length
from bambaprof.cli import main
from tests.analysis.synth import _kernel, base_trace, write

ALL_REDUCE = "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)"
ALL_GATHER = "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)"
#: Not a collective: GEMM epilogues and elementwise kernels broadcast operands.
EPILOGUE = "cutlass::Kernel2<cutlass_80_tensorop_gemm_EpilogueWithBroadcast>(Params)"


def _with_collectives(tmp_path):
    """The synthetic trace (compute on device 0: [30, 45) and, added, the epilogue GEMM [70, 75)) with an
    all-reduce [35, 50) and an all-gather [60, 80) on stream 20, grids of 2 blocks.

    Hand-computed: collective union 15 + 20 = 35 us; compute covers 10 of the all-reduce and 5 of the
    all-gather, so 5 + 15 = 20 us are exposed (overlap 1 - 20/35 = 42.9%); the GPU window is [30, 110) = 80 us,
    so exposure is 25% of it (high)."""
    t = copy.deepcopy(base_trace())
    t["traceEvents"] += [
        _kernel(ALL_REDUCE, 35, 15, 30, -1, stream=20, grid=(2, 1, 1), block=(640, 1, 1), regs=96, occ=1),
        _kernel(ALL_GATHER, 60, 20, 31, -1, stream=20, grid=(2, 1, 1), block=(640, 1, 1), regs=96, occ=1),
        _kernel(EPILOGUE, 70, 5, 32, -1, stream=7, grid=(64, 1, 1)),
    ]
    return write(tmp_path / "nccl.json.gz", t)


def test_hand_computed_collectives(tmp_path):
    a = analyze(_with_collectives(tmp_path))
    s = a.summary
    assert s["collective_count"] == 2
    assert s["collective_us"] == pytest.approx(35.0) and s["collective_exposed_us"] == pytest.approx(20.0)
    assert s["collective_overlap_pct"] == pytest.approx(100 * 15 / 35)
    rows = {r["kind"]: r for r in a.collectives}
    assert [r["kind"] for r in a.collectives] == ["all-gather", "all-reduce"]  # most time first
    assert rows["all-reduce"]["exposed_us"] == pytest.approx(5.0) and rows["all-reduce"]["overlap_pct"] == pytest.approx(
        100 * 10 / 15)
    assert rows["all-gather"]["exposed_us"] == pytest.approx(15.0) and rows["all-gather"]["kernels"] == ALL_GATHER
    assert rows["all-gather"]["streams"] == 1
    finding = next(f for f in a.findings if f["id"] == "exposed-communication")
    assert finding["severity"] == "high" and finding["time_us"] == pytest.approx(20.0)
    assert "25% of the 80.0 us window" in finding["message"]
    ids = [f["id"] for f in a.findings]
    # the collectives' tiny grids and unknown bytes are not compute problems
    assert not any(ev.get("kernel") in (ALL_REDUCE, ALL_GATHER)
                   for f in a.findings if f["id"] in ("small-grid", "low-occupancy", "unknown-bytes")
                   for ev in f["evidence"]), ids


def test_no_collectives_no_rows_and_no_finding(tmp_path):
    t = copy.deepcopy(base_trace())
    t["traceEvents"].append(_kernel(EPILOGUE, 70, 5, 32, -1))
    a = analyze(write(tmp_path / "t.json.gz", t))
    assert a.collectives == [] and a.summary["collective_count"] == 0 and a.summary["collective_us"] is None
    assert not any(f["id"] == "exposed-communication" for f in a.findings)


def test_hidden_collectives_are_not_a_finding(tmp_path):
    """An all-reduce entirely under compute on another stream: 0 exposed, 100% overlapped, no finding."""
    t = copy.deepcopy(base_trace())
    t["traceEvents"].append(_kernel(ALL_REDUCE, 31, 13, 30, -1, stream=20))
    a = analyze(write(tmp_path / "t.json.gz", t))
    assert a.summary["collective_exposed_us"] == pytest.approx(0.0)
    assert a.summary["collective_overlap_pct"] == pytest.approx(100.0)
    assert not any(f["id"] == "exposed-communication" for f in a.findings)


def test_compute_on_another_device_hides_nothing(tmp_path):
    t = copy.deepcopy(base_trace())
    t["deviceProperties"].append(dict(t["deviceProperties"][0], id=1))
    t["traceEvents"].append(_kernel(ALL_REDUCE, 31, 13, 30, -1, stream=20, device=1))
    a = analyze(write(tmp_path / "t.json.gz", t))
    assert a.summary["collective_exposed_us"] == pytest.approx(13.0)


@pytest.mark.parametrize("name, kind", [
    (ALL_REDUCE, "all-reduce"), (ALL_GATHER, "all-gather"),
    ("ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)", "reduce-scatter"),
    ("ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t(ncclWorkElem)", "send/recv"),
    ("ncclDevKernel_Broadcast_RING_LL(ncclDevKernelArgsStorage<4096ul>)", "broadcast"),
    ("ncclDevKernel_Reduce_Sum_f16_RING_LL", "reduce"),
    ("ncclDevKernel_Generic_4(ncclDevKernelArgsStorage<4096ul>)", "other"),  # RCCL names no operation
    ("void one_shot_all_reduce_kernel<c10::BFloat16, 8>(...)", "all-reduce"),
    ("ncclDevKernel_AllToAll_RING", "all-to-all"),
])
def test_kind_from_the_name(name, kind):
    assert collective_kind(name) == kind


def test_exposed_part_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ms_raw = rng.integers(0, 100, 6).astype(float)
        _, ms, me = union_length(ms_raw, ms_raw + rng.integers(1, 30, 6))
        starts = rng.integers(0, 120, 5).astype(float)
        ends = starts + rng.integers(0, 40, 5)
        grid = np.arange(0, 200, 0.5) + 0.25  # half-us cells, their centres
        covered = np.zeros_like(grid, dtype=bool)
        for s, e in zip(ms, me):
            covered |= (grid >= s) & (grid < e)
        expect = [0.5 * np.sum(((grid >= s) & (grid < e)) & ~covered) for s, e in zip(starts, ends)]
        assert np.allclose(_exposed(starts, ends, ms, me), expect)
        assert np.allclose(_covered_before(ms, me, np.array([1e9])), [np.sum(me - ms)])


def test_analyze_collectives_table_and_csv(tmp_path, capsys):
    path = str(_with_collectives(tmp_path))
    assert main(["analyze", path, "--table", "collectives"]) == 0
    out = capsys.readouterr().out
    assert "all-gather" in out and "% overlapped" in out
    assert main(["analyze", path, "--table", "collectives", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("kind,count,total_us,exposed_us,overlap_pct")
    assert main(["analyze", str(write(tmp_path / "plain.json.gz", base_trace())), "--table", "collectives"]) == 0
    assert "no collective kernels" in capsys.readouterr().out


def test_compare_gates_on_exposed_communication(tmp_path, capsys):
    """The candidate's all-reduce moved out from under compute: exposed communication 5 -> 13 us a step, a
    regression the gate names; traces without collectives have no such row."""
    base = copy.deepcopy(base_trace())
    base["traceEvents"].append(_kernel(ALL_REDUCE, 35, 15, 30, -1, stream=20))  # 10 of 15 us under compute
    cand = copy.deepcopy(base_trace())
    cand["traceEvents"].append(_kernel(ALL_REDUCE, 43, 15, 30, -1, stream=20))  # 2 of 15 us under compute
    a, b = write(tmp_path / "a.json.gz", base), write(tmp_path / "b.json.gz", cand)
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    import json

    row = next(r for r in json.loads(capsys.readouterr().out)["summary"] if r["metric"] == "exposed_comm")
    assert (row["baseline"], row["candidate"]) == (pytest.approx(5.0), pytest.approx(13.0))
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10", "--metric", "exposed_comm"]) == 1
    assert "exposed communication" in capsys.readouterr().err
    plain = write(tmp_path / "p.json.gz", base_trace())
    assert main(["compare", str(plain), str(plain), "--fail-on-regression", "10", "--metric", "exposed_comm"]) == 2


def test_bus_bandwidth_from_the_collectives_parameters(tmp_path):
    """PyTorch's record_param_comms parameters, on the kernel (newer versions) or on the op that launched it:
    an all-reduce of 2**20 bf16 over 8 ranks in 15 us moves 2 MiB, algbw 139.8 GB/s, busbw x 2*7/8 = 244.7 GB/s;
    an all-gather to 2**21 floats (8 MiB) in 20 us, algbw 419.4 GB/s, busbw x 7/8 = 367.0 GB/s. A collective
    whose dtype is unknown has no bandwidth."""
    from tests.analysis.synth import _op, _rt

    t = copy.deepcopy(base_trace())
    reduce = _kernel(ALL_REDUCE, 35, 15, 30, -1, stream=20)
    reduce["args"].update({"Collective name": "allreduce", "In msg nelems": 2**20, "Out msg nelems": 2**20,
                           "Group size": 8, "dtype": "BFloat16"})
    t["traceEvents"] += [
        reduce,
        _op("record_param_comms", 55, 3, 700, **{"Collective name": "_allgather_base", "In msg nelems": 2**18,
                                                 "Out msg nelems": 2**21, "Group size": 8, "dtype": "Float"}),
        _rt("cudaLaunchKernel", 56, 1, 31, 700),
        _kernel("ncclDevKernel_Generic_1(ncclDevKernelArgsStorage<4096ul>)", 60, 20, 31, 700, stream=20),
        _kernel(ALL_REDUCE, 90, 5, 32, -1, stream=20),  # no parameters: counted, not sized
    ]
    rows = {r["kind"]: r for r in analyze(write(tmp_path / "t.json.gz", t)).collectives}
    assert set(rows) == {"all-reduce", "all-gather"}  # RCCL's Generic kernel named by its op's parameters
    ar, ag = rows["all-reduce"], rows["all-gather"]
    assert ar["count"] == 2 and ar["bytes"] == 2**21 and ar["group_size"] == 8
    assert ar["algbw_gbps"] == pytest.approx(2**21 / 15e3) and ar["busbw_gbps"] == pytest.approx(2**21 / 15e3 * 1.75)
    assert ar["sized_pct"] == pytest.approx(75.0)  # 15 of 20 us had sizes
    assert ag["bytes"] == 2**23 and ag["busbw_gbps"] == pytest.approx(2**23 / 20e3 * 7 / 8)
    odd = copy.deepcopy(t)
    for e in odd["traceEvents"]:
        if e.get("args", {}).get("dtype") in ("BFloat16", "Float"):
            e["args"]["dtype"] = "Mystery"
    rows = {r["kind"]: r for r in analyze(write(tmp_path / "odd.json.gz", odd)).collectives}
    assert rows["all-reduce"]["busbw_gbps"] is None and rows["all-reduce"]["bytes"] is None


def test_a_cpu_job_without_collective_kernels_names_its_gloo_ops(tmp_path, capsys):
    """A CPU-only rank of a gloo job has no collective kernels; --table collectives says so and points at the
    collectives its CPU ops ran."""
    from tests.analysis.synth import _op

    t = {"traceEvents": [_op("gloo:all_reduce", 10, 40, 1, [[256, 256]], ["float"]),
                         _op("gloo:all_reduce", 60, 20, 2, [[256, 256]], ["float"]), _op("aten::mm", 0, 5, 3)]}
    assert main(["analyze", str(write(tmp_path / "cpu.json", t)), "--table", "collectives"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no collective kernels") and "its CPU ops ran 2 collectives (gloo:all_reduce), 60.0 us" in out
