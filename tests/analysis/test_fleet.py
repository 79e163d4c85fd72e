"""Several ranks' traces: per-rank rows, the cross-rank view and the slowest-rank finding."""

import copy
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bambaprof.analysis.fleet import analyze_fleet, trace_files
from bambaprof.cli import main
from tests.analysis.synth import base_trace, write

NCCL = "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)"


def _rank_trace(rank: int, slow: float = 1.0, wait: float = 10.0) -> dict:
    """base_trace as one rank of a job: its kernels ``slow`` times longer, plus an NCCL all-reduce of
    ``wait`` us (longer on ranks that arrive early)."""
    t = copy.deepcopy(base_trace())
    t["distributedInfo"] = {"backend": "nccl", "rank": rank, "world_size": 3}
    for e in t["traceEvents"]:
        if e.get("cat") == "kernel":
            e["dur"] = e["dur"] * slow
    t["traceEvents"].append({"ph": "X", "cat": "kernel", "name": NCCL, "pid": 0, "tid": 9, "ts": 112, "dur": wait,
                             "args": {"External id": -1, "device": 0, "stream": 9, "correlation": 99,
                                      "grid": [1, 1, 1], "block": [64, 1, 1]}})
    return t


@pytest.fixture
def job(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    write(folder / "worker0.1.pt.trace.json.gz", _rank_trace(0, wait=30.0))
    write(folder / "worker1.1.pt.trace.json.gz", _rank_trace(1, slow=2.0, wait=2.0))  # the straggler
    write(folder / "worker2.1.pt.trace.json.gz", _rank_trace(2, wait=28.0))
    (folder / "worker3.1.pt.trace.json.gz").write_bytes(b"\x1f\x8b broken")
    return folder


def test_per_rank_rows_and_the_slowest_rank(job):
    fleet = analyze_fleet(trace_files(job), workers=2)
    rows = {r["rank"]: r for r in fleet.ranks if r["error"] is None}
    assert sorted(rows) == [0, 1, 2] and sum(1 for r in fleet.ranks if r["error"]) == 1
    assert rows[1]["collective_us"] == 2.0 and rows[0]["collective_wait_us"] == 28.0
    assert fleet.cross["slowest_rank"] == 1 and fleet.cross["unreadable"] == 1
    assert fleet.cross["slowest_over_median_pct"] > 10
    gemm = next(k for k in fleet.kernel_spread if k["name"] == "gemm_kernel")
    assert gemm["longest_on_rank"] == 1 and gemm["max_us"] == 2 * gemm["min_us"]
    (finding,) = fleet.findings
    assert finding["id"] == "slowest-rank" and finding["message"].startswith("Rank 1 is the slowest")
    assert "gemm_kernel" in finding["message"]


def test_a_balanced_job_has_no_finding(tmp_path):
    for rank in range(2):
        write(tmp_path / f"w{rank}.pt.trace.json.gz", _rank_trace(rank))
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert fleet.findings == [] and fleet.cross["slowest_over_median_pct"] == pytest.approx(0.0)


def test_the_cli_takes_a_folder_of_traces(job, capsys):
    assert main(["analyze", str(job)]) == 0
    out = capsys.readouterr().out
    assert "slowest-rank" in out and "Ranks" in out and "Top kernels across ranks" in out
    assert "rank 3 unreadable: " in out and "corrupt or truncated gzip" in out  # whole, below the table
    assert "host-bound" in out  # each rank's top finding
    assert main(["analyze", str(job), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["ranks"]) == 4 and data["cross"]["slowest_rank"] == 1
    single = job.parent / "single"
    single.mkdir()
    write(single / "only.pt.trace.json.gz", _rank_trace(0))
    assert main(["analyze", str(single), "--format", "json"]) == 0  # one trace: the usual analysis
    assert "kernels" in json.loads(capsys.readouterr().out)


_GLOO = """
import os, sys, torch, torch.distributed as dist
from torch.profiler import profile, ProfilerActivity, tensorboard_trace_handler
rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.set_num_threads(1)  # two processes on a shared (maybe busy) host: neither takes the other's cores
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
dist.init_process_group("gloo", rank=rank, world_size=2)
x = torch.randn(256, 256) / 16
with profile(activities=[ProfilerActivity.CPU],
             on_trace_ready=tensorboard_trace_handler(out, worker_name=f"rank{rank}", use_gzip=True)):
    for _ in range(4):
        y = x @ x
        for _ in range(100 if rank == 1 else 0):  # rank 1 computes more (about 0.1 s): the others wait for it
            y = torch.tanh(y @ x)
        dist.all_reduce(y)
dist.destroy_process_group()
"""


def test_real_ranks_of_a_gloo_job(tmp_path):
    """Two CPU processes of a real torch.distributed (gloo) job, traced by tensorboard_trace_handler."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = tmp_path / "job"
    procs = [subprocess.Popen([sys.executable, "-c", _GLOO, str(r), port, str(out)], stderr=subprocess.PIPE)
             for r in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-2000:]
    files = trace_files(out)
    assert len(files) == 2
    fleet = analyze_fleet(files, workers=2)
    assert sorted(r["rank"] for r in fleet.ranks) == [0, 1]
    assert all(r["collective_us"] > 0 and r["platform"] == "cpu" for r in fleet.ranks)
    assert fleet.cross["slowest_rank"] == 1
    assert [f["id"] for f in fleet.findings] == ["slowest-rank"]


def test_report_and_compare_take_folders_of_ranks(job, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for rank in range(3):
        write(other / f"worker{rank}.2.pt.trace.json.gz", _rank_trace(rank, slow=1.5))
    assert main(["compare", str(job), str(other), "--format", "json"]) == 0  # a rank of the folder is unreadable
    comp = json.loads(capsys.readouterr().out)
    assert len(comp["baseline"]["inputs"]) == 3 and len(comp["candidate"]["inputs"]) == 3
    assert comp["notes"][0].startswith("baseline: worker3.1.pt.trace.json.gz left out (")
    gemm = next(k for k in comp["kernels"] if k["name"] == "gemm_kernel")
    assert gemm["time_candidate_us"] == pytest.approx(15.0)  # median over the three ranks: 10 us x 1.5
    out = tmp_path / "ranks.html"
    assert main(["report", str(other), "-o", str(out)]) == 0
    page = out.read_text()
    assert all(f"worker{rank}.2.pt.trace.json.gz" in page for rank in range(3))


def test_a_folder_of_unreadable_traces_is_one_line(tmp_path, capsys):
    (tmp_path / "a.json").write_text("{")
    (tmp_path / "b.json.gz").write_bytes(b"\x1f\x8b nope")
    assert main(["analyze", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of its 2 traces could be read" in err[0]


def test_unreadable_ranks_fail_only_when_named_or_when_none_can_be_read(job, tmp_path, capsys):
    broken = job / "worker3.1.pt.trace.json.gz"
    assert main(["compare", str(broken), str(job)]) == 1  # named on its own: its own error
    assert main(["report", str(broken), "-o", str(tmp_path / "r.html")]) == 1
    capsys.readouterr()
    dead = tmp_path / "dead"
    dead.mkdir()
    (dead / "rank0.pt.trace.json").write_text("{")
    (dead / "rank1.pt.trace.json").write_bytes(b"\x1f\x8b nope")
    assert main(["report", str(dead), "-o", str(tmp_path / "d.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bambaprof: error: no input could be read (rank0.pt.trace.json: ")
    assert not (tmp_path / "d.html").exists()
    assert main(["compare", str(dead), str(job)]) == 1
    assert "no baseline input could be read" in capsys.readouterr().err


def test_a_report_of_ranks_leads_with_the_straggler(job, tmp_path):
    """A report of one job's ranks has a Ranks section (the cross-rank view, one row per rank with its top
    finding) and the slowest-rank finding first in its Findings table; the same figures as ``analyze``."""
    from bambaprof import report

    page = report(job, tmp_path / "r.html").read_text()  # its unreadable rank a row with the error and a note
    assert "worker3.1.pt.trace.json.gz left out (" in page
    assert page.count('<td class="text" title="worker3.1.pt.trace.json.gz">worker3.1.pt.trace.json.gz</td>') == 1
    assert 'href="#ranks"' in page and '<h2 id="ranks">Ranks</h2>' in page
    assert "Slowest rank: <b>1</b>" in page
    findings = page[page.index('<h2 id="findings">'):page.index('<h2 id="ranks">')]
    first = findings.index("<tbody>")
    assert findings.index("slowest-rank", first) < findings.index("worker0", first)
    fleet = analyze_fleet(trace_files(job), workers=1)
    for row in fleet.ranks:
        assert f"<td>{row['rank']}</td>" in page  # the unreadable rank at its place, as analyze gives it
        assert (row["top_finding"] if row["error"] is None else "corrupt or truncated gzip") in page


def test_several_steps_of_one_rank_are_not_a_job(tmp_path):
    """Traces of one folder that name the same rank (steps of one process) are runs, not ranks."""
    from bambaprof import report

    for step in range(2):
        write(tmp_path / f"worker0.{step}.pt.trace.json.gz", _rank_trace(0, slow=1 + step))
    page = report(tmp_path, tmp_path / "r.html").read_text()
    assert 'id="ranks"' not in page and "slowest-rank" not in page


def _unnamed(trace: dict) -> dict:
    trace.pop("distributedInfo", None)
    return trace


def test_the_cycles_of_one_process_are_not_ranks(tmp_path, capsys):
    """A profiler schedule with ``repeat`` writes one trace a cycle (``<worker>.<time>.pt.trace.json``, the
    worker ``<host>_<pid>``): they are one process's, never a straggler and its peers. Cycles go by the time in
    the name (numerically: 99 before 100), not by the name's order."""
    write(tmp_path / "host_41.100.pt.trace.json.gz", _unnamed(_rank_trace(0)))
    write(tmp_path / "host_41.99.pt.trace.json.gz", _unnamed(_rank_trace(0, slow=3.0)))
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert fleet.findings == [] and fleet.cross == {} and fleet.kernel_spread == []
    assert [(r["rank"], r["cycle"]) for r in fleet.ranks] == [(0, 1), (0, 0)]
    assert fleet.ranks[0]["collective_wait_us"] is None
    assert fleet.note.startswith("2 traces of one process (rank 0, profiling cycles")
    assert main(["analyze", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "slowest" not in out and "Traces" in out and "cycle" in out and "nothing to compare across ranks" in out


def test_ranks_with_several_cycles_are_compared_over_the_cycles_they_share(tmp_path):
    """Two ranks, three cycles of rank 0 and two of rank 1 (its last trace missing): each rank's work is summed
    over cycles 0 and 1, and a collective's wait is measured against the other rank in the same cycle."""
    for cycle, slow in enumerate((1.0, 1.0, 5.0)):  # rank 0's third cycle, slow, has no partner: left out
        write(tmp_path / f"rank0.{cycle + 1}.pt.trace.json.gz", _rank_trace(0, slow=slow, wait=20.0 + cycle))
    for cycle in range(2):
        write(tmp_path / f"rank1.{cycle + 1}.pt.trace.json.gz", _rank_trace(1, slow=2.0, wait=2.0))
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert sorted((r["rank"], r["cycle"]) for r in fleet.ranks) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    c = fleet.cross
    assert c["ranks"] == 2 and c["traces"] == 5 and c["cycles"] == 2 and "summed over 2 cycles" in c["work"]
    assert c["slowest_rank"] == 1
    work = {r["rank"]: r for r in fleet.ranks if r["cycle"] == 0}
    assert c["slowest_us"] == pytest.approx(2 * work[1]["work_us"])
    waits = {(r["rank"], r["cycle"]): r["collective_wait_us"] for r in fleet.ranks}
    assert waits[(0, 0)] == pytest.approx(18.0) and waits[(0, 1)] == pytest.approx(19.0) and waits[(1, 0)] == 0
    (finding,) = fleet.findings
    assert "over 2 cycles" in finding["message"] and finding["message"].startswith("Rank 1 is the slowest")


def test_workers_named_by_the_handler_are_numbered_after_the_named_ranks(tmp_path):
    """Traces that name no rank take the next free numbers, one per process (worker or file), in input order."""
    write(tmp_path / "a.pt.trace.json.gz", _rank_trace(1))
    write(tmp_path / "b_7.5.pt.trace.json.gz", _unnamed(_rank_trace(0)))
    write(tmp_path / "b_7.6.pt.trace.json.gz", _unnamed(_rank_trace(0)))
    write(tmp_path / "c.pt.trace.json.gz", _unnamed(_rank_trace(0)))
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert [(r["rank"], r["cycle"]) for r in fleet.ranks] == [(1, 0), (0, 0), (0, 1), (2, 0)]
    assert fleet.cross["ranks"] == 3 and fleet.cross["cycles"] == 1


def test_a_report_of_ranks_with_cycles_shows_them(tmp_path):
    from bambaprof import report

    for rank in range(2):
        for cycle in range(2):
            write(tmp_path / f"worker{rank}.{cycle}.pt.trace.json.gz", _rank_trace(rank, slow=1 + rank))
    page = report(tmp_path, tmp_path / "r.html").read_text()
    assert 'id="ranks"' in page and "2 ranks, 4 traces (profiling cycles)" in page and "<th>cycle</th>" in page


def test_several_trace_files_on_the_command_line_are_ranks(job, tmp_path, capsys):
    """``bambaprof analyze rank*.json.gz``: the files one after the other are read as a folder of them is."""
    files = [str(p) for p in trace_files(job)][:3]
    assert main(["analyze", *files, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in data["ranks"]] == [0, 1, 2] and data["cross"]["slowest_rank"] == 1
    assert main(["analyze", *files, "--ncu", files[0]]) == 2
    assert "--ncu goes with one trace" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    assert main(["analyze", files[0], str(run)]) == 2
    assert "use `bambaprof compare` or `bambaprof report`" in capsys.readouterr().err


def test_analyze_ranks_in_python(job, tmp_path):
    """``bambaprof.analyze_ranks`` takes a folder, a list of traces, or an nsys export of several processes."""
    import bambaprof

    (job / "worker3.1.pt.trace.json.gz").unlink()
    fleet = bambaprof.analyze_ranks(job, workers=1)
    assert fleet.cross["slowest_rank"] == 1 and len(fleet.ranks) == 3
    listed = bambaprof.analyze_ranks([str(p) for p in trace_files(job)][:2], workers=1)
    assert [r["rank"] for r in listed.ranks] == [0, 1]
    from tests.analysis.test_nsys import _two_ranks

    export = bambaprof.analyze_ranks(_two_ranks(tmp_path / "job.sqlite"), workers=1)
    assert [r["pid"] for r in export.ranks] == [747, 900] and export.cross["slowest_rank"] == 1
    with pytest.raises(bambaprof.UsageError):
        bambaprof.analyze_ranks([])


def test_ranks_named_as_a_run_directory_names_rank_0_are_a_job(tmp_path, capsys):
    """``rank0.pt.trace.json.gz`` is the trace name of a run directory: a folder that holds it and other ranks'
    traces named the same way (``rank1.pt.trace.json.gz``, ...) is a job read side by side (it read rank 0 alone,
    silently); with rank 0's alone, or ``trace.json`` beside other JSON files, it stays one trace."""
    from bambaprof.analysis.fleet import folder_traces, one_trace_folder

    job = tmp_path / "job"
    job.mkdir()
    for rank in range(3):
        write(job / f"rank{rank}.pt.trace.json.gz", _rank_trace(rank, slow=2.0 if rank == 2 else 1.0))
    assert not one_trace_folder(job) and [p.name for p in folder_traces(job)] == [
        "rank0.pt.trace.json.gz", "rank1.pt.trace.json.gz", "rank2.pt.trace.json.gz"]
    assert main(["analyze", str(job), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["ranks"]) == 3 and data["cross"]["slowest_rank"] == 2
    from bambaprof import analyze
    from bambaprof.analysis.source import TraceError

    with pytest.raises(TraceError, match="a folder of several ranks' traces"):  # the one-trace API says so
        analyze(job)
    alone = tmp_path / "alone"
    alone.mkdir()
    write(alone / "rank0.pt.trace.json.gz", _rank_trace(0))
    other = tmp_path / "other"
    other.mkdir()
    write(other / "trace.json", _rank_trace(0), gz=False)
    (other / "notes.json").write_text("{}")
    (other / "rank1.pt.trace.json.gz").mkdir()  # a folder, not a rank's trace
    for folder in (alone, other):
        assert one_trace_folder(folder) and folder_traces(folder) is None
        assert main(["analyze", str(folder), "--format", "json"]) == 0
        assert "kernels" in json.loads(capsys.readouterr().out)


def test_a_folder_of_bzip2_and_xz_ranks_is_a_job(tmp_path):
    import bz2
    import lzma

    (tmp_path / "w0.pt.trace.json.bz2").write_bytes(bz2.compress(json.dumps(_rank_trace(0)).encode()))
    (tmp_path / "w1.pt.trace.json.xz").write_bytes(lzma.compress(json.dumps(_rank_trace(1, slow=2.0)).encode()))
    assert [p.name for p in trace_files(tmp_path)] == ["w0.pt.trace.json.bz2", "w1.pt.trace.json.xz"]
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert [r["error"] for r in fleet.ranks] == [None, None] and fleet.cross["slowest_rank"] == 1


def test_the_staged_nccl_job_runs_on_the_cpu_under_gloo(tmp_path):
    """benchmarks/nccl_job.py makes the real NCCL fixture on two GPUs (benchmarks/h100x2_nccl_fixture.sh); under
    gloo it runs here, two ranks through torchrun, and its folder reads as a job of two ranks with collectives."""
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "nccl_job.py"
    out = tmp_path / "job"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                           port, str(script), str(out), "--backend", "gloo", "--mib", "0.25", "--steps", "3"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fleet = analyze_fleet(trace_files(out), workers=2)
    assert sorted(r["rank"] for r in fleet.ranks) == [0, 1]
    assert all(r["error"] is None and r["collective_us"] > 0 for r in fleet.ranks)


def test_a_ranks_main_idle_cause():
    """The rank table names the cause holding most of a rank's GPU idle time, from 5% of it (IDLE_CAUSE_PCT)."""
    from bambaprof.analysis.fleet import _main_idle_cause

    split = {"compilation": 0.0, "data loader": 69749.1, "allocation calls": 0.0, "synchronisations": None,
             "the rest": 10361.0, "idle": 80110.1}
    assert _main_idle_cause(split) == "data loader 69.75 ms (87%)"
    assert _main_idle_cause({**split, "data loader": 480.0, "the rest": 79630.1}) is None  # under 5%: the rest's
    assert _main_idle_cause(None) is None and _main_idle_cause({"the rest": 0.0, "idle": 0.0}) is None


def test_rank_rows_carry_the_time_copies_ran_alone(tmp_path):
    """The real H100 traces of the copy loop, on the compute stream and on a side stream, side by side (one process
    recorded both: they read as two cycles of it): each row holds its copies' time with no kernel beside them."""
    import shutil

    data = Path(__file__).resolve().parents[1] / "data" / "transfers"
    shutil.copy(data / "same-stream.json.gz", tmp_path / "rank0.pt.trace.json.gz")
    shutil.copy(data / "side-stream.json.gz", tmp_path / "rank1.pt.trace.json.gz")
    fleet = analyze_fleet(trace_files(tmp_path), workers=1)
    assert sorted(round(r["transfer_exposed_us"] / 1e3, 2) for r in fleet.ranks) == [0.26, 4.9]
