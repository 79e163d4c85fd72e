"""Real traces of one workload recorded with each subset of the PyTorch profiler's activities (H100, torch 2.11,
``benchmarks/activity_subsets.py``): what each can tell, and what is unknown rather than zero."""

from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.compare import NOT_JUDGED, compare
from bambaprof.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "activities"
BOTH, CUDA, CPU = (DATA / f"{n}.json.gz" for n in ("cpu-cuda", "cuda", "cpu"))
#: Five steps of: a matmul (two cuBLAS kernels) under `mm`, relu and add, a memset kernel, a `.cpu()` copy.
KERNELS, COPIES = 25, 5


def test_cpu_and_cuda_activities_know_everything():
    s = analyze(BOTH).summary
    assert (s["kernel_count"], s["memcpy_count"], s["platform"]) == (KERNELS, COPIES, "cuda")
    assert s["phase_coverage_pct"] == pytest.approx(100.0) and s["sync_count"] == 4  # the fifth .cpu() ends the window
    assert s["idle_host_wait_us"] is not None and s["launch_overhead_median_us"] is not None


def test_cuda_activity_alone_has_runtime_calls_but_no_ops_or_ranges():
    """ProfilerActivity.CUDA alone records the kernels and the runtime calls that launched them (so launches, host
    waits and syncs are known) but no op or range: phases are unknown, not 0%, and a note says why."""
    a = analyze(CUDA)
    s = a.summary
    assert (s["kernel_count"], s["memcpy_count"], s["sync_count"]) == (KERNELS, COPIES, 4)
    assert s["idle_host_wait_us"] is not None and s["launch_overhead_median_us"] is not None
    assert s["phase_coverage_pct"] is None and a.ops == [] and s["module_calls"] is None
    assert any("the profiler's CPU activity was off" in n and "phases are unknown" in n for n in a.notes)


def test_cpu_activity_alone_of_a_gpu_program_has_unknown_gpu_figures():
    """ProfilerActivity.CPU alone on a GPU program: its 25 launch calls are there, its GPU activity is not. It is no
    CPU-only profile: every GPU figure is unknown (not 0), and no finding about GPU time is raised."""
    a = analyze(CPU)
    s = a.summary
    assert s["platform"] == "cuda"
    for key in ("kernel_count", "kernel_us", "memcpy_count", "gpu_busy_us", "gpu_window_us", "idle_host_wait_us",
                "sync_count", "phase_coverage_pct", "cpu_bound_us"):
        assert s[key] is None, key
    assert any(n.startswith(f"the trace holds {KERNELS + COPIES} calls that put work on the GPU (kernel launches, "
                            "copies, memsets) but no GPU activity") for n in a.notes)
    assert not any("CPU-only profile" in n for n in a.notes)
    assert [f["id"] for f in a.findings] == []
    assert {o["name"] for o in a.ops} >= {"aten::mm", "mm", "step"}


def test_comparing_across_activity_subsets_claims_only_what_both_sides_hold(capsys):
    full_vs_cpu = compare([BOTH], [CPU])
    assert full_vs_cpu.kernels == [] and full_vs_cpu.phases == [] and not any(
        r["metric"] == "gpu_time" for r in full_vs_cpu.summary)
    assert {r["status"] for r in full_vs_cpu.findings} == {NOT_JUDGED}  # host-bound, sync-stall, small-grid, ...
    assert any("hold launch calls but no GPU activity" in w for w in full_vs_cpu.warnings)
    ops = {r["name"]: r for r in full_vs_cpu.ops}
    assert ops["aten::mm"]["status"] == "matched" and ops["aten::mm"]["gpu_total_us_candidate"] is None
    full_vs_cuda = compare([BOTH], [CUDA])
    assert full_vs_cuda.ops == [] and full_vs_cuda.phases == [] and len(full_vs_cuda.kernels) == 6
    assert {r["finding"]: r["status"] for r in full_vs_cuda.findings}["host-bound"] == "kept"
    assert any("the profiler's CPU activity off" in w for w in full_vs_cuda.warnings)
    assert main(["compare", str(CPU), str(BOTH), "--fail-on-new-finding", "low"]) == 0  # nothing judged new
    assert "not judged" in capsys.readouterr().out


def test_a_gate_on_a_part_left_out_says_why(capsys):
    assert main(["compare", str(BOTH), str(CUDA), "--fail-on-regression", "5", "--metric", "phase:step*"]) == 2
    err = capsys.readouterr().err
    assert "no phase of either side matches 'step*'; the candidate's inputs hold no CPU ops or ranges" in err
    assert main(["compare", str(BOTH), str(CPU), "--fail-on-regression", "5", "--metric", "kernel:*"]) == 2
    assert "hold launch calls but no GPU activity" in capsys.readouterr().err


def test_a_rank_without_gpu_activity_is_left_out_of_the_cross_rank_view(tmp_path, capsys):
    """Three ranks, one of them recorded with the CPU activity alone: it is listed, with no GPU figure, and left out
    of the slowest rank and the kernels' spread (which would read its kernels as 0 us and switch every rank's work
    to span minus collectives)."""
    import gzip
    import json

    from bambaprof.analysis.fleet import analyze_fleet

    for rank, path in enumerate((BOTH, CPU, CUDA)):
        trace = json.loads(gzip.decompress(path.read_bytes()))
        trace["distributedInfo"] = {"rank": rank, "world_size": 3, "backend": "nccl"}
        (tmp_path / f"rank{rank}.pt.trace.json.gz").write_bytes(gzip.compress(json.dumps(trace).encode()))
    fleet = analyze_fleet(sorted(tmp_path.iterdir()), workers=1)
    rows = {r["rank"]: r for r in fleet.ranks}
    assert rows[1]["gpu_unrecorded"] and rows[1]["gpu_busy_us"] is None and rows[1]["collective_us"] is None
    assert fleet.cross["without_gpu_activity"] == 1 and fleet.cross["work"].startswith("GPU busy")
    assert fleet.kernel_spread and all(k["min_us"] > 0 for k in fleet.kernel_spread)
    assert main(["analyze", str(tmp_path)]) == 0
    assert "rank 1 left out of the cross-rank figures" in capsys.readouterr().out


def test_copies_alone_without_gpu_activity_are_gpu_work_too(tmp_path):
    """A CPU-activity trace whose only GPU calls are copies (no kernel launch) is still GPU work left unrecorded; a
    trace of runtime calls that put nothing on a GPU stays a CPU-only profile."""
    from tests.analysis.synth import _op, _rt, write

    def trace(*calls):
        return {"traceEvents": [_op("aten::copy_", 0, 50, 1), *(_rt(name, 5 + 10 * i, 3, 100 + i, 1)
                                                               for i, name in enumerate(calls))]}

    copies = analyze(write(tmp_path / "copies.json.gz", trace("cudaMemcpyAsync", "cudaMemsetAsync")))
    assert copies.summary["platform"] == "cuda" and copies.summary["memcpy_count"] is None
    assert any("2 calls that put work on the GPU" in n for n in copies.notes)
    idle = analyze(write(tmp_path / "idle.json.gz", trace("cudaGetDevice", "cudaStreamIsCapturing")))
    assert idle.summary["platform"] == "cpu" and idle.summary["kernel_count"] == 0


def test_an_empty_table_as_csv_still_has_its_header(capsys):
    """The op table of the CUDA-only trace and the kernel table of the CPU-only one are empty: as CSV each is its
    header alone, so a script reading the columns sees the fields (it was an empty output)."""
    assert main(["analyze", str(CUDA), "--table", "ops", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["name,count,cpu_total_us,cpu_self_us,gpu_self_us,gpu_total_us,kernels"]
    assert main(["analyze", str(CPU), "--table", "kernels", "--format", "csv"]) == 0
    (header,) = capsys.readouterr().out.splitlines()
    assert header.startswith("name,count,total_us,") and "achieved_gbps" in header


def test_compare_csv_keeps_its_header_when_no_kernel_is_compared(capsys):
    from bambaprof.analysis.compare import KERNEL_ROW_FIELDS

    assert main(["compare", str(BOTH), str(CUDA), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == ",".join(KERNEL_ROW_FIELDS)  # the fields of a row, in order
    assert main(["compare", str(BOTH), str(CPU), "--format", "csv"]) == 0  # no kernel compared: the header alone
    assert capsys.readouterr().out.splitlines() == [",".join(KERNEL_ROW_FIELDS)]
