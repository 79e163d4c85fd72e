"""Nsight Systems SQLite exports: the same workload read from nsys and from the PyTorch profiler agrees, and
exports of other versions, odd rows and bad files are handled."""

import gzip
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import bambaprof
from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.nsys import demangle
from bambaprof.analysis.source import TraceError, TraceSource
from bambaprof.analysis.trace import load_trace
from bambaprof.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "nsys"
NODES = DATA / "h200-workload-nodes.sqlite.gz"
GRAPHS = DATA / "h200-workload-graphs.sqlite.gz"
KINETO = DATA / "h200-workload.kineto.json.gz"


def _by_name(trace):
    counts, totals = Counter(), Counter()
    for name, kind, dur in zip(trace.gpu.name, trace.gpu.kind.tolist(), trace.gpu.dur.tolist()):
        counts[(name, kind)] += 1
        totals[(name, kind)] += dur
    return counts, totals


def test_nsys_and_kineto_of_one_workload_agree():
    """Every kernel, copy and memset has the same name and count in both tools (nsys's mangled names are
    demangled as Kineto does), each one's total time within 5% (two runs of the workload), every launch call
    linked through its correlation id, and the device properties those of Kineto's deviceProperties."""
    nsys, kineto = load_trace(NODES), load_trace(KINETO)
    assert nsys.backend == "nsys-sqlite"
    (n_counts, n_totals), (k_counts, k_totals) = _by_name(nsys), _by_name(kineto)
    assert n_counts == k_counts and len(n_counts) == 10
    assert [n for (name, _), n in n_counts.items() if name.startswith("triton_poi_fused")] == [5]  # a CUDA graph's
    for key, total in k_totals.items():
        assert n_totals[key] == pytest.approx(total, rel=0.05), key
    props = ("name", "compute_major", "compute_minor", "num_sms", "max_threads_per_sm", "max_threads_per_block",
             "regs_per_sm", "regs_per_block", "smem_per_sm", "smem_per_block", "smem_per_block_optin", "warp_size",
             "total_memory")
    assert {p: getattr(nsys.devices[0], p) for p in props} == {p: getattr(kineto.devices[0], p) for p in props}
    a, b = analyze(NODES), analyze(KINETO)
    assert a.launch["by_api"] == b.launch["by_api"] == {"cudaLaunchKernel": 30, "cudaLaunchKernelExC": 5,
                                                        "cudaGraphLaunch": 5}
    assert a.launch["unlinked_kernels"] == 0
    assert a.summary["streams"] == b.summary["streams"] == 2
    assert a.summary["gpu_busy_us"] == pytest.approx(b.summary["gpu_busy_us"], rel=0.02)
    gemm = next(r for r in a.kernels if r["name"].startswith("sm80_xmma_gemm"))
    gemm_k = next(r for r in b.kernels if r["name"].startswith("sm80_xmma_gemm"))
    for key in ("grid", "block", "registers", "shared_memory_bytes", "theoretical_occupancy_pct"):
        assert gemm[key] == gemm_k[key], key
    assert [p["phase"] for p in a.phases] == ["step"] and a.phases[0]["count"] == 50  # the NVTX ranges
    # the device's DRAM bandwidth as Nsight records it (bus width x memory clock), over the datasheet's 4,800
    assert a.summary["peak_bandwidth_source"] == "Nsight Systems"
    assert a.summary["peak_bandwidth_gbps"] == pytest.approx(4814.304)
    assert b.summary["peak_bandwidth_source"] == "datasheet"
    assert any("Nsight Systems export" in n for n in a.notes)
    assert not any("record_shapes" in n for n in a.notes)
    advice = next(f for f in a.findings if f["id"] == "unknown-bytes")["suggestion"]
    assert "--ncu" in advice and "TORCHINDUCTOR" not in advice


def test_graphs_recorded_whole_are_one_activity_each_with_a_note():
    a = analyze(GRAPHS)
    graphs = [r for r in a.kernels if r["name"].startswith("CUDA graph ")]
    assert len(graphs) == 1 and graphs[0]["count"] == 5 and graphs[0]["name"].endswith(", recorded whole")
    assert not any(r["name"].startswith("triton_") for r in a.kernels)
    assert any("recorded whole" in n and "--cuda-graph-trace=node" in n for n in a.notes)
    assert a.summary["gpu_busy_us"] == pytest.approx(analyze(NODES).summary["gpu_busy_us"], rel=0.05)


def test_compare_pairs_every_kernel_across_the_two_tools(capsys):
    assert main(["compare", str(KINETO), str(NODES), "--format", "json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    rows = out["kernels"]
    assert rows and {r["status"] for r in rows} == {"changed"}


def test_demangler_matches_kineto_names():
    if demangle("_Z3fooi") is None:
        pytest.skip("no C++ runtime with __cxa_demangle here")
    assert demangle("_Z3fooi") == "foo(int)"
    assert demangle("_ZN2at6native13reduce_kernelILi512ELi1EEEvv") == "void at::native::reduce_kernel<512, 1>()"
    assert demangle("triton_poi_fused_add_0") is None and demangle("_Zbroken") is None
    assert demangle("_Z1f" + "P" * 40_000 + "i") is None  # past MAX_DEMANGLED: the export's name is kept
    for name in ("_Z1f" + "ILi1E" * 5000, "_ZN1aI" * 3000 + "E" * 3000):  # deep nesting: no crash, no name
        assert demangle(name) is None


# -- synthetic exports: other versions, odd rows, bad files ------------------------------------------------------

def _export(path: Path, *, kernel_columns=None, enums=True, gpu=True, extra_kernels=()) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    strings = {1: "_Z3fooi", 2: "foo(int) [nsys]", 3: "foo", 4: "cudaLaunchKernel_v7000", 5: "cuLaunchKernelEx",
               6: "plain_kernel", 7: "range"}
    db.executemany("INSERT INTO StringIds VALUES (?, ?)", strings.items())
    cols = kernel_columns or ["start", "end", "deviceId", "streamId", "correlationId", "demangledName", "shortName",
                              "mangledName", "gridX", "gridY", "gridZ", "blockX", "blockY", "blockZ",
                              "registersPerThread", "staticSharedMemory", "dynamicSharedMemory"]
    db.execute(f"CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ({', '.join(cols)})")
    rows = [dict(start=1000, end=3000, deviceId=0, streamId=7, correlationId=1, demangledName=2, shortName=3,
                 mangledName=1, gridX=4, gridY=1, gridZ=1, blockX=128, blockY=1, blockZ=1, registersPerThread=32,
                 staticSharedMemory=1024, dynamicSharedMemory=512),
            dict(start=5000, end=5500, deviceId=0, streamId=7, correlationId=2, demangledName=6, shortName=6,
                 mangledName=6, gridX=1, gridY=1, gridZ=1, blockX=32, blockY=1, blockZ=1, registersPerThread=16,
                 staticSharedMemory=0, dynamicSharedMemory=0),
            dict(start=0, end=0, deviceId=0, streamId=7, correlationId=3, demangledName=6, shortName=6,
                 mangledName=6, gridX=1, gridY=1, gridZ=1, blockX=32, blockY=1, blockZ=1, registersPerThread=16,
                 staticSharedMemory=0, dynamicSharedMemory=0), *extra_kernels]
    db.executemany(f"INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES ({', '.join('?' * len(cols))})",
                   [[r.get(c) for c in cols] for r in rows])
    db.execute("CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start, end, eventClass, globalTid, correlationId, nameId)")
    tid = (4242 << 24) | 4243
    db.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, ?, ?, ?, ?)",
                   [(500, 900, 0, tid, 1, 4), (4000, 4800, 1, tid, 2, 5)])
    db.execute("CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, streamId, correlationId, bytes, "
               "copyKind, srcKind, dstKind)")
    db.execute("INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (6000, 7000, 0, 7, 9, 4096, 1, 1, 2)")
    db.execute("CREATE TABLE NVTX_EVENTS (start, end, eventType, text, textId, globalTid)")
    db.executemany("INSERT INTO NVTX_EVENTS VALUES (?, ?, ?, ?, ?, ?)",
                   [(0, 8000, 59, None, 7, tid), (100, None, 34, "a mark", None, tid)])
    if enums:
        db.execute("CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id, name, label)")
        db.execute("INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES (1, 'CUDA_MEMCPY_KIND_HTOD', 'Host-to-Device')")
        db.execute("CREATE TABLE ENUM_CUDA_MEM_KIND (id, name, label)")
        db.executemany("INSERT INTO ENUM_CUDA_MEM_KIND VALUES (?, ?, ?)",
                       [(1, "CUDA_MEMOPR_MEMORY_KIND_PINNED", "Pinned"), (2, "CUDA_MEMOPR_MEMORY_KIND_DEVICE", "Device")])
    if gpu:
        db.execute("CREATE TABLE TARGET_INFO_GPU (id, cuDevice, name, smCount, computeMajor, computeMinor, "
                   "maxWarpsPerSm, threadsPerWarp, maxRegistersPerSm)")
        db.execute("INSERT INTO TARGET_INFO_GPU VALUES (5, 0, 'NVIDIA H100 80GB HBM3', 132, 9, 0, 64, 32, 65536)")
    db.commit()
    db.close()
    return path


def test_a_synthetic_export_reads_as_kineto_would_record_it(tmp_path):
    trace = load_trace(_export(tmp_path / "r.sqlite"))
    names = list(trace.gpu.name)
    expected = "foo(int)" if demangle("_Z3fooi") else "foo(int) [nsys]"  # the export's own name without a runtime
    assert names == [expected, "plain_kernel", "Memcpy HtoD (Pinned -> Device)"]
    assert trace.gpu.ts.tolist() == [1.0, 5.0, 6.0] and trace.gpu.dur.tolist() == [2.0, 0.5, 1.0]
    assert trace.gpu.shared_memory.tolist()[:2] == [1536, 0] and trace.gpu.registers.tolist()[:2] == [32, 16]
    assert trace.gpu.bytes.tolist()[2] == 4096
    assert sum(trace.skipped.values()) == 1 and "kernel" in next(iter(trace.skipped))  # no timestamps (0, 0)
    assert list(trace.runtime.name) == ["cudaLaunchKernel", "cuLaunchKernelEx"]  # version suffix dropped
    assert list(trace.runtime.tid) == [4243, 4243] and list(trace.runtime.pid) == [4242, 4242]
    assert trace.runtime.correlation.tolist() == [1, 2]
    assert list(trace.ops.name) == ["range"]  # the NVTX range; the mark is not a range
    dev = trace.devices[0]
    assert (dev.name, dev.num_sms, dev.max_threads_per_sm, dev.regs_per_sm) == ("NVIDIA H100 80GB HBM3", 132, 2048,
                                                                                 65536)
    a = analyze(tmp_path / "r.sqlite")
    assert a.launch["by_api"] == {"cudaLaunchKernel": 1, "cuLaunchKernelEx": 1}


def test_enum_rows_without_an_integer_id_are_left_out(tmp_path):
    path = _export(tmp_path / "r.sqlite")
    db = sqlite3.connect(path)
    db.execute("INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES ('x', 'CUDA_MEMCPY_KIND_BAD', 'bad')")
    db.execute("INSERT INTO ENUM_CUDA_MEM_KIND VALUES (NULL, 'CUDA_MEMOPR_MEMORY_KIND_BAD', 'bad')")
    db.commit()
    db.close()
    gpu = load_trace(path).gpu
    assert [n for n, k in zip(gpu.name, gpu.kind) if k == "memcpy"] == ["Memcpy HtoD (Pinned -> Device)"]


def test_damaged_strings_read_with_replacement_characters(tmp_path):
    """A string table with a name that is not UTF-8 (a damaged file, a name cut inside a character) and a row
    whose id is not an integer: the kernel's name reads with U+FFFD, the row names nothing; the rest as usual."""
    path = _export(tmp_path / "r.sqlite")
    db = sqlite3.connect(path)
    db.execute("UPDATE StringIds SET value = CAST(? AS TEXT) WHERE id = 6", (b"plain_\xff_kernel",))
    db.execute("CREATE TABLE S2 AS SELECT * FROM StringIds")  # the same table without its integer key
    db.execute("DROP TABLE StringIds")
    db.execute("ALTER TABLE S2 RENAME TO StringIds")
    db.execute("INSERT INTO StringIds VALUES (NULL, 'orphan'), ('x', 'orphan')")
    db.commit()
    db.close()
    names = list(load_trace(path).gpu.name)
    assert names[1] == "plain_\ufffd_kernel" and len(names) == 3


def test_damaged_exports_are_read_or_refused_in_one_line():
    """benchmarks/fuzz_nsys.py: bytes flipped, files cut, columns of other types, rows, columns and tables gone
    (a longer run of it found the two failures above: a string table's NULL id and text that is not UTF-8)."""
    from tests.scripts import load_script

    result = load_script("fuzz_nsys").run(200, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    assert result["exit_codes"].get("0", 0) > 50 and result["exit_codes"].get("1", 0) > 20  # both outcomes


def test_older_exports_without_enums_or_demangled_names(tmp_path, monkeypatch):
    import bambaprof.analysis.nsys.activities as activities

    cols = ["start", "end", "deviceId", "streamId", "correlationId", "shortName", "mangledName", "gridX", "gridY",
            "gridZ", "blockX", "blockY", "blockZ"]
    monkeypatch.setattr(activities, "demangle", lambda name: None)  # no C++ runtime
    trace = load_trace(_export(tmp_path / "old.sqlite", kernel_columns=cols, enums=False, gpu=False))
    assert list(trace.gpu.name) == ["foo", "plain_kernel", "Memcpy HtoD (Pinned -> Device)"]  # CUPTI's own kinds
    assert trace.gpu.registers.tolist()[0] < 0 and trace.gpu.shared_memory.tolist()[0] < 0  # unknown
    assert not trace.devices
    a = analyze(tmp_path / "old.sqlite")
    assert any("no deviceProperties" in n for n in a.notes)


def test_progress_is_reported_against_the_rows_read(tmp_path):
    calls = []
    load_trace(_export(tmp_path / "r.sqlite"), progress=lambda done, total: calls.append((done, total)))
    assert calls and all(0 < done <= total == 8 for done, total in calls)  # 3 kernels, 2 calls, 1 copy, 2 NVTX


def test_gzipped_export_reads_like_the_plain_one(tmp_path):
    plain = _export(tmp_path / "r.sqlite")
    gz = tmp_path / "r.sqlite.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(load_trace(gz).gpu.name) == list(load_trace(plain).gpu.name)
    assert not list(tmp_path.glob("bambaprof-nsys-*"))


def test_bad_exports_are_one_line_errors(tmp_path, capsys):
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (a)")
    db.commit()
    db.close()
    bare = tmp_path / "bare.sqlite"
    db = sqlite3.connect(bare)
    db.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()
    (tmp_path / "broken.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 300)
    cases = {"other.sqlite": "not an Nsight Systems export", "bare.sqlite": "without CUDA activity",
             "broken.sqlite": "SQLite cannot"}
    for name, message in cases.items():
        with pytest.raises(TraceError, match=message):
            load_trace(tmp_path / name)
        assert main(["analyze", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, name


def test_a_folder_of_exports_is_read_rank_by_rank(tmp_path):
    """One export per rank (``nsys profile -o rank%q{RANK}``, exported): ``analyze DIR`` reads each."""
    import shutil

    from bambaprof.analysis.fleet import analyze_fleet, trace_files

    shutil.copy(NODES, tmp_path / "rank0.sqlite.gz")
    shutil.copy(GRAPHS, tmp_path / "rank1.sqlite.gz")
    (tmp_path / "notes.txt").write_text("not a trace")
    files = trace_files(tmp_path)
    assert [p.name for p in files] == ["rank0.sqlite.gz", "rank1.sqlite.gz"]
    fleet = analyze_fleet(files, workers=1)
    assert [r.get("error") for r in fleet.to_dict()["ranks"]] == [None, None]


def _fake_nsys(tmp_path, body: str) -> Path:
    import stat
    import sys

    exe = tmp_path / "bin" / "nsys"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(f"#!{sys.executable}\nimport sys, shutil, gzip\nargs = sys.argv[1:]\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_a_report_is_exported_by_nsys_when_there_is_one(tmp_path, monkeypatch):
    """``analyze report.nsys-rep`` runs ``nsys export --type sqlite`` into a temporary folder and reads that;
    the trace keeps the report's name and the folder is gone afterwards."""
    import tempfile

    exe = _fake_nsys(tmp_path, f"""
assert args[:3] == ["export", "--type", "sqlite"], args
out = args[args.index("--output") + 1]
with gzip.open({str(NODES)!r}) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
""")
    monkeypatch.setenv("BAMBAPROF_NSYS", str(exe))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    report = tmp_path / "run.nsys-rep"
    report.write_bytes(b"a report")
    trace = load_trace(report)
    assert trace.source.trace_path == report and trace.backend == "nsys-sqlite"
    assert len(trace.gpu) == len(load_trace(NODES).gpu)
    assert not list((tmp_path / "tmp").iterdir())


def test_a_report_without_nsys_or_with_a_failing_export_is_one_line(tmp_path, monkeypatch, capsys):
    report = tmp_path / "run.nsys-rep"
    report.write_bytes(b"a report")
    monkeypatch.delenv("BAMBAPROF_NSYS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cases = [("no nsys here to export it: run `nsys export --type sqlite run.nsys-rep`", None)]
    cases.append(("`nsys export --type sqlite run.nsys-rep` failed (exit 3): ERROR: not a report",
                  _fake_nsys(tmp_path, "print('Processing'); print('ERROR: not a report', file=sys.stderr); "
                                       "sys.exit(3)")))
    for message, exe in cases:
        if exe is not None:
            monkeypatch.setenv("BAMBAPROF_NSYS", str(exe))
        assert main(["analyze", str(report)]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    stream = tmp_path / "run.qdstrm"
    stream.write_bytes(b"raw")
    with pytest.raises(TraceError, match="QdstrmImporter"):
        load_trace(stream)


def test_processes_of_one_export_keep_their_correlation_ids_apart(tmp_path):
    """``nsys profile torchrun ...`` records every rank in one export, and CUPTI numbers correlation ids per
    process: two ranks' first kernels both carry id 1. Each kernel must link to its own process's launch."""
    path = tmp_path / "ranks.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany("INSERT INTO StringIds VALUES (?, ?)", [(1, "kernel_a"), (2, "cudaLaunchKernel_v7000")])
    db.execute("CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, streamId, correlationId, globalPid, "
               "shortName)")
    db.execute("CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start, end, eventClass, globalTid, correlationId, nameId)")
    for rank, pid in enumerate((100, 200)):
        gpid = pid << 24
        for corr in (1, 2):
            launch = 1000 * corr + 300 * rank
            db.execute("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, 0, ?, ?, 2)",
                       (launch, launch + 50, gpid | (pid + 1), corr))
            db.execute("INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?, ?, ?, 7, ?, ?, 1)",
                       (launch + 100, launch + 150, rank, corr, gpid))
    db.commit()
    db.close()
    trace = load_trace(path)
    launcher = dict(zip(trace.runtime.correlation.tolist(), list(trace.runtime.pid)))
    assert len(launcher) == 4  # four distinct ids, not two
    for device, corr in zip(trace.gpu.device.tolist(), trace.gpu.correlation.tolist()):
        assert launcher[corr] == (100, 200)[device]
    a = analyze(path)
    assert a.launch["unlinked_kernels"] == 0 and a.launch["median_us"] == pytest.approx(0.1)  # 100 ns each
    assert any("2 processes in one export (pids 100, 200)" in n for n in a.notes)


def _two_ranks(path: Path, slower: float = 1.5) -> Path:
    """The real H200 export as a job of two ranks under one ``nsys profile``: process 747 on device 0 as
    recorded, and a copy of it as process 900 on device 1 whose GPU work takes ``slower`` times as long."""
    with gzip.open(NODES) as src:
        path.write_bytes(src.read())
    db = sqlite3.connect(path)
    moved = (900 - 747) << 24
    for table in ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                  "CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS"):
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        who = "globalTid" if "globalTid" in cols else "globalPid"
        values = [{"globalPid": f"globalPid + {moved}", "globalTid": f"globalTid + {moved}",
                   "deviceId": "1", "end": f"start + CAST((end - start) * {slower} AS INTEGER)"
                   if who == "globalPid" else "end"}.get(c, c) for c in cols]
        db.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(values)} FROM {table} "
                   f"WHERE (({who} >> 24) & 16777215) = 747")
    cols = [r[1] for r in db.execute("PRAGMA table_info(TARGET_INFO_GPU)")]
    db.execute(f"INSERT INTO TARGET_INFO_GPU ({', '.join(cols)}) SELECT "
               f"{', '.join('1' if c in ('id', 'cuDevice') else c for c in cols)} FROM TARGET_INFO_GPU")
    db.commit()
    db.close()
    return path


def test_an_export_of_several_processes_is_one_rank_each(tmp_path, capsys):
    """``nsys profile torchrun ...`` puts every rank in one export: ``analyze`` shows them side by side like a
    folder of ranks, each process read alone, and finds the slow one."""
    import json

    path = _two_ranks(tmp_path / "job.sqlite")
    alone = analyze(NODES)
    assert main(["analyze", str(path), "--format", "json"]) == 0
    fleet = json.loads(capsys.readouterr().out)
    ranks = fleet["ranks"]
    assert [(r["rank"], r["pid"], r["error"]) for r in ranks] == [(0, 747, None), (1, 900, None)]
    assert ranks[0]["kernel_us"] == pytest.approx(alone.summary["kernel_us"])
    assert ranks[1]["kernel_us"] == pytest.approx(1.5 * alone.summary["kernel_us"], rel=0.01)
    assert fleet["cross"]["slowest_rank"] == 1
    assert [f["id"] for f in fleet["findings"]] == ["slowest-rank"]
    assert ranks[1]["file"] == f"{path} (pid 900)"

    # one process alone reads as the export of that process would
    one = analyze(TraceSource(path, process=747))
    assert one.summary["kernel_us"] == pytest.approx(alone.summary["kernel_us"])
    assert [k["count"] for k in one.kernels] == [k["count"] for k in alone.kernels]
    assert one.launch["unlinked_kernels"] == alone.launch["unlinked_kernels"]
    assert any("process 747 of the 2 in the export (pids 747, 900)" in n for n in one.notes)
    assert main(["analyze", str(path), "--process", "900", "--format", "json"]) == 0
    assert [d["device"] for d in json.loads(capsys.readouterr().out)["devices"]] == [1]
    import bambaprof

    assert bambaprof.analyze(path, process=900).summary["kernel_us"] == pytest.approx(ranks[1]["kernel_us"])
    # 'all': the processes combined, as before
    assert main(["analyze", str(path), "--process", "all", "--format", "json"]) == 0
    combined = json.loads(capsys.readouterr().out)
    assert combined["summary"]["kernel_us"] == pytest.approx(2.5 * alone.summary["kernel_us"], rel=0.01)


def test_activities_that_name_no_process_are_counted_when_reading_one(tmp_path):
    path = _two_ranks(tmp_path / "job.sqlite")
    db = sqlite3.connect(path)
    db.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET globalPid = NULL WHERE rowid IN "
               "(SELECT rowid FROM CUPTI_ACTIVITY_KIND_KERNEL LIMIT 3)")
    db.commit()
    db.close()
    a = analyze(TraceSource(path, process=747))
    assert any("3 GPU activities of the export name no process and are left out of process 747's" in n
               for n in a.notes)
    assert sum(k["count"] for k in a.kernels if k["kind"] == "kernel") == 40 - 3


def test_picking_a_process_that_is_not_there_is_one_line(tmp_path, capsys):
    path = _two_ranks(tmp_path / "job.sqlite")
    assert main(["analyze", str(path), "--process", "5"]) == 1
    err = capsys.readouterr().err
    assert "no CUDA activity of process 5 in the export (processes with some: 747, 900)" in err
    assert len(err.strip().splitlines()) == 1
    for bad, message in (("abc", "--process takes a pid or 'all'"), ("-1", "--process takes a pid or 'all'")):
        assert main(["analyze", str(path), "--process", bad]) == 2
        assert message in capsys.readouterr().err
    assert main(["analyze", str(tmp_path), "--process", "747"]) == 2
    assert "give the export's file" in capsys.readouterr().err
    with pytest.raises(TraceError, match="picks one process of an Nsight Systems export, and this is not one"):
        load_trace(TraceSource(KINETO, process=1))


def test_a_gzipped_or_unexported_job_is_opened_once_for_all_its_ranks(tmp_path, monkeypatch):
    """Reading each rank of a ``.sqlite.gz`` or a ``.nsys-rep`` must not inflate or export it once a rank."""
    import tempfile

    from bambaprof.analysis.fleet import analyze_fleet, process_sources

    plain = _two_ranks(tmp_path / "job.sqlite")
    packed = tmp_path / "job.sqlite.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    exports = tmp_path / "exports.txt"
    exe = _fake_nsys(tmp_path, f"""
out = args[args.index("--output") + 1]
open({str(exports)!r}, "a").write("x")
shutil.copyfile({str(plain)!r}, out)
""")
    monkeypatch.setenv("BAMBAPROF_NSYS", str(exe))
    report = tmp_path / "job.nsys-rep"
    report.write_bytes(b"a report")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for item in (packed, report):
        with process_sources([item, KINETO]) as sources:
            assert [getattr(s, "process", None) for s in sources] == [747, 900, None]
            fleet = analyze_fleet(sources, workers=1)
            assert [r["error"] for r in fleet.ranks] == [None, None, None]
        assert not list((tmp_path / "tmp").iterdir())  # the inflated or exported copy is gone
    assert exports.read_text() == "x"


def test_report_and_compare_take_each_process_of_an_export_as_a_run(tmp_path, capsys):
    from bambaprof import compare, report

    path = _two_ranks(tmp_path / "job.sqlite")
    page = report(path, tmp_path / "r.html").read_text()
    assert "job.sqlite (pid 747)" in page and "job.sqlite (pid 900)" in page
    assert '<h2 id="ranks">Ranks</h2>' in page and "Slowest rank: <b>1</b>" in page  # the job's cross-rank view
    comp = compare(NODES, path)
    assert comp.candidate["inputs"] == [f"{path} (pid 747)", f"{path} (pid 900)"]
    assert main(["compare", str(NODES), str(path)]) == 0


def _with_operators(path: Path) -> Path:
    """The real H200 export as ``torch.autograd.profiler.emit_nvtx`` would have written it: each launch call
    inside an operator's NVTX range (``aten::op<i>, seq = i, op_id = i, sizes = [[1024, 1024]]``), the first
    ten calls also inside an outer ``aten::linear`` range; plus a ``step, op_id = 9`` range (a
    record_function, not an operator)."""
    with gzip.open(NODES) as src:
        path.write_bytes(src.read())
    db = sqlite3.connect(path)
    calls = db.execute("SELECT r.start, r.end, r.globalTid FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s "
                       "ON s.id = r.nameId WHERE s.value LIKE 'cudaLaunchKernel%' OR s.value LIKE 'cudaMemcpy%' "
                       "OR s.value LIKE 'cudaMemset%' OR s.value LIKE 'cudaGraphLaunch%' "
                       "ORDER BY r.start").fetchall()
    ranges = [(start - 50, end + 50, 59, f"aten::op{i}, seq = {i}, op_id = {i}, sizes = [[1024, 1024]]", tid)
              for i, (start, end, tid) in enumerate(calls)]
    ranges.append((calls[0][0] - 100, calls[9][1] + 100, 59, "aten::linear, op_id = 500", calls[0][2]))
    ranges.append((calls[0][0] - 200, calls[-1][1] + 200, 59, "outer, op_id = 9", calls[0][2]))
    db.executemany("INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid) VALUES (?, ?, ?, ?, ?)", ranges)
    db.commit()
    db.close()
    return path


def test_emit_nvtx_ranges_are_operators_that_launch_the_kernels(tmp_path):
    """An export of a program run under ``torch.autograd.profiler.emit_nvtx``: its operator ranges become the
    trace's CPU ops (names without emit_nvtx's suffixes), each kernel is launched by the innermost operator
    open on the launching thread, and other ranges stay phases."""
    path = _with_operators(tmp_path / "ops.sqlite")
    trace = load_trace(path)
    plain = load_trace(NODES)
    assert len(trace.gpu) == len(plain.gpu) and len(trace.runtime) == len(plain.runtime)
    names = set(trace.ops.name)
    assert {"aten::op0", "aten::linear", "outer", "step"} <= names and not any(", seq" in n for n in names)
    a = analyze(path)
    by_op = {o["name"]: o for o in a.ops}
    assert by_op["aten::op0"]["kernels"] >= 1 and by_op["aten::linear"]["gpu_total_us"] > 0
    assert by_op["aten::linear"]["gpu_self_us"] == 0  # its kernels belong to the operators inside it
    phases = {p["phase"] for p in a.phases}  # NVTX ranges that are not operators stay phases
    assert any("step" in p for p in phases) and not any("aten::" in p for p in phases)
    assert {k["launched_by"] for k in a.kernels if k["kind"] == "kernel"} >= {"aten::op0"}
    assert any("emit_nvtx" in n and "launches linked" in n for n in a.notes)
    assert a.launch["unlinked_kernels"] == analyze(NODES).launch["unlinked_kernels"]


def test_nvtx_range_names():
    from bambaprof.analysis.nsys import nvtx_range_name

    assert nvtx_range_name("aten::mm, seq = 12, op_id = 5, sizes = [[64, 64], [64, 64]]") == ("aten::mm", True)
    assert nvtx_range_name("MmBackward0, seq = 12") == ("MmBackward0", True)
    assert nvtx_range_name("aten::empty") == ("aten::empty", True)
    assert nvtx_range_name("step, op_id = 3") == ("step", False)
    assert nvtx_range_name("step") == ("step", False)
    assert nvtx_range_name("forward pass") == ("forward pass", False)
    assert nvtx_range_name("Model::forward pass") == ("Model::forward pass", False)


def _with_gpu_metrics(path: Path, gpus=(0x10001,)) -> Path:
    """The real H200 export with GPU metrics as ``nsys profile --gpu-metrics-devices`` records them: four
    metrics sampled every 50 us from 0.2 ms before the first kernel to 0.2 ms after the last, at 10/20/30/40%
    inside the GPU window and 99% outside it (per sampled GPU, offset by 1% per GPU)."""
    with gzip.open(NODES) as src:
        path.write_bytes(src.read())
    db = sqlite3.connect(path)
    lo, hi = db.execute("SELECT MIN(start), MAX(end) FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchone()
    lo = min(lo, *(r[0] for r in db.execute("SELECT MIN(start) FROM CUPTI_ACTIVITY_KIND_MEMCPY UNION ALL "
                                             "SELECT MIN(start) FROM CUPTI_ACTIVITY_KIND_MEMSET")))
    hi = max(hi, *(r[0] for r in db.execute("SELECT MAX(end) FROM CUPTI_ACTIVITY_KIND_MEMCPY UNION ALL "
                                             "SELECT MAX(end) FROM CUPTI_ACTIVITY_KIND_MEMSET")))
    db.execute("CREATE TABLE TARGET_INFO_GPU_METRICS (typeId INTEGER NOT NULL, sourceId INTEGER NOT NULL, "
               "typeName TEXT NOT NULL, metricId INTEGER NOT NULL, metricName TEXT NOT NULL)")
    db.execute("CREATE TABLE GPU_METRICS (timestamp INTEGER, typeId INTEGER NOT NULL, metricId INTEGER NOT NULL, "
               "value INTEGER NOT NULL)")
    names = ["GR Active [Throughput %]", "SMs Active [Throughput %]", "DRAM Read Bandwidth [Throughput %]",
             "DRAM Write Bandwidth [Throughput %]"]
    db.executemany("INSERT INTO TARGET_INFO_GPU_METRICS VALUES (?, ?, ?, ?, ?)",
                   [(gpu, 1, "GH100", i, name) for gpu in gpus for i, name in enumerate(names)])
    db.executemany("INSERT INTO GPU_METRICS VALUES (?, ?, ?, ?)",
                   [(t, gpu, i, (10 * (i + 1) + g) if lo <= t <= hi else 99)
                    for t in range(lo - 200_000, hi + 200_000, 50_000)
                    for g, gpu in enumerate(gpus) for i in range(len(names))])
    db.commit()
    db.close()
    return path


def test_sampled_gpu_metrics_are_summarised_over_the_gpu_window(tmp_path, capsys):
    a = analyze(_with_gpu_metrics(tmp_path / "gm.sqlite"))
    assert {k: (v["mean"], v["max"]) for k, v in a.telemetry.items()} == {
        "nsys.DRAM Read Bandwidth [Throughput %]": (30.0, 30.0), "nsys.DRAM Write Bandwidth [Throughput %]": (40.0, 40.0),
        "nsys.GR Active [Throughput %]": (10.0, 10.0), "nsys.SMs Active [Throughput %]": (20.0, 20.0)}
    assert all(v["samples"] > 50 for v in a.telemetry.values())  # every 50 us over the ~3 ms window
    two = analyze(_with_gpu_metrics(tmp_path / "gm2.sqlite", gpus=(0x10001, 0x10002)))
    assert two.telemetry["nsys.SMs Active [Throughput %] (GH100 0x10002)"]["mean"] == 21.0
    assert main(["analyze", str(tmp_path / "gm.sqlite")]) == 0
    assert "Nsight Systems' sampled GPU metrics over the GPU window" in capsys.readouterr().out
    assert analyze(NODES).telemetry is None  # an export without GPU metrics has none


def test_sampled_gpu_metrics_go_to_the_kernel_that_ran_alone_through_them(tmp_path, capsys, monkeypatch):
    """Samples every 10 us: inside the cuBLAS GEMM's five runs (56 us each, alone on the GPU) DRAM read 30%,
    write 10% and SMs active 90%; elsewhere 1%. The GEMM gets the samples whose whole interval (previous to
    next sample) lies inside one of its runs; short kernels get none; several sampled GPUs, none at all."""
    path = _with_gpu_metrics(tmp_path / "gm.sqlite")
    db = sqlite3.connect(path)
    db.execute("DELETE FROM GPU_METRICS")
    gemms = db.execute("SELECT k.start, k.end FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = "
                       "k.shortName WHERE s.value LIKE 'sm80_xmma_gemm%'").fetchall()
    lo, hi = db.execute("SELECT MIN(start), MAX(end) FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchone()
    values = {0: 50, 1: 90, 2: 30, 3: 10}  # GR active, SMs active, DRAM read, DRAM write inside a GEMM
    rows, inside = [], 0
    for t in range(lo, hi, 10_000):
        gemm = any(s <= t <= e for s, e in gemms)
        inside += all(s <= u <= e for u in (t - 10_000, t + 10_000) for s, e in gemms if s <= t <= e) and gemm
        rows += [(t, 0x10001, i, values[i] if gemm else 1) for i in range(4)]
    db.executemany("INSERT INTO GPU_METRICS VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    a = analyze(path)
    (gemm,) = [k for k in a.kernels if k["name"].startswith("sm80_xmma_gemm")]
    assert gemm["sampled_dram_pct"] == 40.0 and gemm["sampled_sm_active_pct"] == 90.0
    assert gemm["sampled_samples"] == inside >= 15  # 56 us runs, 10 us samples: 4 whole intervals each
    assert all(k["sampled_dram_pct"] is None for k in a.kernels if k is not gemm)  # unknown: no sample
    assert main(["analyze", str(path), "--table", "kernels"]) == 0
    assert "DRAM % (sampled)" in capsys.readouterr().out
    two = analyze(_with_gpu_metrics(tmp_path / "gm2.sqlite", gpus=(0x10001, 0x10002)))
    assert not any("sampled_dram_pct" in k for k in two.kernels)
    import bambaprof.analysis.nsys.metrics as metrics

    monkeypatch.setattr(metrics, "MAX_KERNEL_SAMPLES", 100)  # a longer capture: the window summary only
    capped = analyze(path)
    assert not any("sampled_dram_pct" in k for k in capped.kernels) and capped.telemetry
    assert any("GPU metrics are not attributed to kernels" in n for n in capped.notes)
    assert main(["analyze", str(NODES), "--table", "kernels"]) == 0
    assert "(sampled)" not in capsys.readouterr().out  # no samples: no such columns


def test_the_report_shows_sampled_metrics_and_synchronisations(tmp_path):
    from bambaprof import report

    page = report([_with_gpu_metrics(tmp_path / "gm.sqlite"), KINETO], tmp_path / "r.html").read_text()
    assert "Nsight Systems' sampled GPU metrics over the GPU window: gm.sqlite" in page
    assert "<td class=\"text\">SMs Active [Throughput %]</td><td>20</td>" in page
    assert page.count("Host-device synchronisations:") == 2  # both runs: y[:8].cpu() in each step
    assert "cudaStreamSynchronize</td><td class=\"text\">aten::copy_</td><td>5</td>" in page


def test_hostile_values_in_the_tables_read_give_a_result_or_one_line(tmp_path):
    """The two-rank export with operators and GPU metrics, then values of every wrong type (text with markup,
    blobs, floats, NULL, 64-bit extremes) written into random columns of the tables the reader uses: each
    variant reads (whole, by process and side by side) or fails with one TraceError line, never a traceback."""
    import random

    import bambaprof
    from bambaprof.errors import BambaprofError

    base = _two_ranks(tmp_path / "base.sqlite")
    ops = _with_operators(tmp_path / "ops.sqlite")
    metrics = _with_gpu_metrics(tmp_path / "gm.sqlite")
    hostile = ["<script>alert(1)</script>", b"\x00\xff", 1.5e300, None, -(2**63), 2**63 - 1, -1, 0, "aten::x, seq = 1"]
    tables = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_RUNTIME", "CUPTI_ACTIVITY_KIND_MEMCPY", "NVTX_EVENTS",
              "GPU_METRICS", "TARGET_INFO_GPU_METRICS", "TARGET_INFO_GPU", "StringIds")
    rng = random.Random(7)
    for i in range(24):
        path = tmp_path / f"v{i}.sqlite"
        path.write_bytes((base, ops, metrics)[i % 3].read_bytes())
        db = sqlite3.connect(path)
        present = [t for t in tables if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (t,)).fetchone()]
        for _ in range(6):
            table = rng.choice(present)
            column = rng.choice([r[1] for r in db.execute(f"PRAGMA table_info({table})")])
            try:
                db.execute(f"UPDATE {table} SET [{column}] = ? WHERE rowid % ? = 0", (rng.choice(hostile),
                                                                                      rng.choice((1, 2, 3))))
            except sqlite3.Error:  # NOT NULL and the like: the export's own constraints
                pass
        db.commit()
        db.close()
        for read, arg in ((analyze, path), (lambda p: bambaprof.analyze_ranks(p, workers=1), path),
                          (analyze, TraceSource(path, process=747))):
            try:
                read(arg)
            except BambaprofError as exc:
                assert "\n" not in str(exc), str(exc)


def test_emit_nvtx_backward_ranges_go_to_their_forward_ops_phase(tmp_path):
    """emit_nvtx marks a backward Function's range with its forward op's sequence number (``stashed seq``):
    the work launched inside it goes to the phase of that forward op, marked (backward)."""
    from bambaprof.analysis.nsys.nvtx import nvtx_autograd

    assert nvtx_autograd("MmBackward0, stashed seq = 3") == (3, True)
    assert nvtx_autograd("MmBackward0, seq = 3") == (3, True)
    assert nvtx_autograd("aten::mm, seq = 12, op_id = 5, sizes = [[64, 64]]") == (12, False)
    assert nvtx_autograd("step, op_id = 3") == (None, False)
    path = tmp_path / "bw.sqlite"
    with gzip.open(NODES) as src:
        path.write_bytes(src.read())
    db = sqlite3.connect(path)
    calls = db.execute("SELECT r.start, r.end, r.globalTid FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s "
                       "ON s.id = r.nameId WHERE s.value LIKE 'cudaLaunchKernel%' ORDER BY r.start").fetchall()
    assert len(calls) >= 20
    tid = calls[0][2]
    ranges = [(s - 50, e + 50, 59, f"aten::op{i}, seq = {i}, op_id = {i}", tid) for i, (s, e, _) in enumerate(calls[:10])]
    ranges.append((calls[0][0] - 100, calls[9][1] + 100, 59, "forward", tid))
    autograd = tid + 1  # the backward pass on autograd's thread, outside the forward's ranges
    db.executemany("UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET globalTid = ? WHERE start = ? AND globalTid = ?",
                   [(autograd, s, tid) for s, _, _ in calls[10:20]])
    ranges.append((calls[10][0] - 100, calls[19][1] + 100, 59, "MmBackward0, stashed seq = 3", autograd))
    ranges += [(s - 50, e + 50, 59, f"aten::mm, seq = {100 + i}", autograd) for i, (s, e, _) in enumerate(calls[10:20])]
    db.executemany("INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid) VALUES (?, ?, ?, ?, ?)", ranges)
    db.commit()
    db.close()
    t = load_trace(path)
    node = t.ops.name.index("MmBackward0")
    assert (t.ops.sequence_number[node], t.ops.fwd_thread_id[node]) == (3, 1)
    phases = {p["phase"]: p["count"] for p in analyze(path).phases}
    forward = next(p for p in phases if p.endswith("forward"))  # under the export's own step range
    assert phases[forward] == 10 and phases[f"{forward} (backward)"] == 10


DATA_NSYS = Path(__file__).resolve().parents[1] / "data" / "nsys"


def test_a_real_training_step_under_emit_nvtx():
    """The same training step under emit_nvtx, recorded by Nsight Systems 2025.3.1 on the H200: torch 2.11 writes
    a backward Function's range as ``AddmmBackward0, seq = 72, op_id = 86`` (its forward op's number, not
    "stashed seq") inside ``autograd::engine::evaluate_function: AddmmBackward0`` (an operator, as in Kineto):
    the backward work goes to the block ranges of its forward ops."""
    path = DATA_NSYS / "h200-train-emit-nvtx.sqlite.gz"
    t = load_trace(path)
    node = next(i for i, n in enumerate(t.ops.name) if n == "AddmmBackward0")
    assert t.ops.fwd_thread_id[node] == 1 and t.ops.sequence_number[node] > 0
    assert t.ops.cat[t.ops.name.index("autograd::engine::evaluate_function: AddmmBackward0")] == "cpu_op"
    phases = {p["phase"]: p["count"] for p in analyze(path).phases}
    assert phases["block.0"] == phases["block.1"] == 12
    assert phases["block.0 (backward)"] == 14 and phases["block.1 (backward)"] == 16
    assert not any(p.startswith("autograd::") for p in phases)


def test_real_gpu_metrics_of_the_h200():
    """``nsys profile --gpu-metrics-devices=0 --gpu-metrics-frequency=20000`` over benchmarks/nsys_metrics_workload.py:
    five 4 GiB device-to-device copies, five elementwise passes over 1 GiB and five 8192^3 bf16 GEMMs. The copies'
    sampled DRAM throughput (read + write) agrees with their bytes over their time against the device's
    bandwidth; the GEMMs keep the SMs busy and DRAM barely; clocks read in MHz; raw [Avg] counters are left out."""
    a = analyze(DATA_NSYS / "h200-gpu-metrics.sqlite.gz")
    k = {r["name"]: r for r in a.kernels}
    copy = k["Memcpy DtoD (Device -> Device)"]
    assert copy["bytes"] == 2 * 5 * 4 * 2**30  # read and written
    assert copy["sampled_dram_pct"] == pytest.approx(copy["pct_of_peak_bw"], abs=1.0)  # 88.5% vs 88.7%
    gemm = next(r for name, r in k.items() if name.startswith("nvjet"))
    assert gemm["sampled_sm_active_pct"] > 95 and gemm["sampled_dram_pct"] < 30
    assert a.telemetry["nsys.GPC Clock Frequency [MHz]"]["max"] == pytest.approx(1980.8, abs=1)
    assert not any(name.endswith("[Avg]") for name in a.telemetry)


def test_a_real_job_of_two_ranks_in_one_export():
    """benchmarks/nsys_job.py: two ranks on one H200 under one ``nsys profile torchrun``, rank 1 the straggler."""
    fleet = bambaprof.analyze_ranks(DATA_NSYS / "h200-two-ranks.sqlite.gz", workers=1)
    assert [r["pid"] for r in fleet.ranks] == [742, 743]
    assert fleet.cross["slowest_rank"] == 1 and fleet.cross["slowest_over_median_pct"] == pytest.approx(19.8, abs=0.1)
    assert fleet.findings[0]["id"] == "slowest-rank"


def test_allocation_calls_of_a_real_export():
    """Rank 0 of the same job: Nsight Systems names its calls cudaMalloc_v3020 and cudaFree_v3020; inside the GPU
    window the rank made 9 device allocations (the host blocked 767 us in them, the GPU idle 455 us meanwhile) and
    one free, begun with the GPU already idle (it emptied nothing: only its own 21.6 us count)."""
    a = analyze(TraceSource(DATA_NSYS / "h200-two-ranks.sqlite.gz", process=742))
    rows = {r["call"]: r for r in a.allocations}
    assert set(rows) == {"cudaMalloc", "cudaFree"}
    assert rows["cudaMalloc"]["count"] == 9 and rows["cudaMalloc"]["host_blocked_us"] == pytest.approx(767.1, abs=0.1)
    assert rows["cudaMalloc"]["gpu_idle_us"] == pytest.approx(455.1, abs=0.1)
    assert rows["cudaFree"]["count"] == 1 and rows["cudaFree"]["gpu_idle_us"] == pytest.approx(21.6, abs=0.1)
    assert a.summary["allocation_steps"] is None  # Nsight Systems records no profiler steps


def test_kernels_without_samples_have_unknown_sample_columns(tmp_path, monkeypatch):
    """Where some kernels ran alone through GPU-metric samples and others did not (short ones get none), every
    kernel row has the sampled columns, unknown where there was no sample, and the report renders (it failed
    on the first row without them)."""
    import bambaprof.analysis.analysis as analysis_module

    real = analysis_module.kernel_samples
    monkeypatch.setattr(analysis_module, "kernel_samples", lambda trace: dict(list(real(trace).items())[:1]))
    path = DATA_NSYS / "h200-gpu-metrics.sqlite.gz"
    a = analyze(path)
    assert len({tuple(sorted(k)) for k in a.kernels}) == 1
    assert sum(k["sampled_dram_pct"] is None for k in a.kernels) == len(a.kernels) - 1
    page = bambaprof.report(path, tmp_path / "r.html").read_text()
    assert "sampled DRAM" in page or "DRAM" in page
