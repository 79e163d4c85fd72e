"""rocprofv3's rocpd database (ROCm 7's default output) read as a trace, in both layouts of its record tables: the
same run as tests/analysis/test_rocprof.py's CSV files gives the same figures."""

import gzip
import json
import sqlite3

import pytest

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.source import TraceError
from bambaprof.cli import main

T0 = 1551874061244694  # ns
US = 1000


class _Db:
    """A rocpd database written table by table: ``suffix`` per run (as rocpd names each process's tables), views
    without it when ``views``; ``tracks`` picks the layout (records on tracks with timestamps, else flat)."""

    def __init__(self, path, suffix="_00aa", views=True, tracks=False):
        self.db = sqlite3.connect(path)
        self.suffix, self.views, self.tracks = suffix, views, tracks
        self.guid = "guid" + suffix  # one per run: a merged database's ids repeat, their guids do not
        self.ids = {}

    def table(self, name, columns, rows):
        real = name + self.suffix
        self.db.execute(f'CREATE TABLE IF NOT EXISTS "{real}" (id INTEGER PRIMARY KEY, guid TEXT, {", ".join(columns)})')
        for row in rows:
            self.ids[name] = self.ids.get(name, 0) + 1
            self.db.execute(f'INSERT INTO "{real}" VALUES ({", ".join("?" * (len(columns) + 2))})',
                            (self.ids[name], self.guid, *row))
        if self.views:
            self.db.execute(f'CREATE VIEW IF NOT EXISTS "{name}" AS SELECT * FROM "{real}"')
        return self.ids.get(name)

    def string(self, text):
        return self.table("rocpd_string", ["string"], [[text]])

    def stamp(self, ns):
        return self.table("rocpd_timestamp", ["value", "phase", "track_id"], [[ns, 1, None]])

    def event(self, correlation, category):
        return self.table("rocpd_event", ["category_id", "correlation_id"], [[self.string(category), correlation]])

    def track(self, pid=None, tid=None, agent=None, queue=None, stream=None):
        return self.table("rocpd_track", ["nid", "pid", "tid", "agent_id", "queue_id", "stream_id", "name_id"],
                          [[1, pid, tid, agent, queue, stream, None]])

    def record(self, name, start, end, place, fields):
        """A record with its times and place in the layout's way."""
        if self.tracks:
            cols = ["track_id", "start_id", "end_id", *fields]
            values = [self.track(**place), self.stamp(start), self.stamp(end), *fields.values()]
        else:
            cols = ["pid", "tid", "agent_id", "queue_id", "stream_id", "start", "end", *fields]
            values = [place.get(k) for k in ("pid", "tid", "agent", "queue", "stream")] + [start, end, *fields.values()]
        return self.table(name, cols, [values])

    def close(self):
        self.db.commit()
        self.db.close()


def _run(path, **kwargs):
    """The CSV test's run: a copy to the GPU, two kernels (16 and 8 workgroups of 64) launched after it under a
    roctx range ``step``, the host's launch calls 10 us before each kernel; an HSA call that is left out."""
    db = _Db(path, **kwargs)
    ext = json.dumps({"cu_count": 104, "wave_front_size": 64, "lds_size_in_kb": 64, "workgroup_max_size": 1024})
    cols = ["nid", "pid", "type", "absolute_index", "logical_index", "type_index", "name", "model_name",
            "product_name", "extdata"]
    cpu = db.table("rocpd_info_agent", cols, [[1, 1, "CPU", 0, 0, 0, "AMD EPYC", "", "AMD EPYC", "{}"]])
    gpu = db.table("rocpd_info_agent", cols, [[1, 1, "GPU", 4, 1, 0, "gfx90a", "aldebaran", "AMD Instinct MI210", ext]])
    db.table("rocpd_info_process", ["nid", "pid", "command"], [[1, 77, "python train.py"]])
    sym = ["nid", "pid", "code_object_id", "kernel_name", "display_name", "arch_vgpr_count", "group_segment_size"]
    add = db.table("rocpd_info_kernel_symbol", sym, [[1, 1, 1, "_Z15addition_kernelIfEvPfi.kd",
                                                      "void addition_kernel<float>(float*, int)", 8, 0]])
    sub = db.table("rocpd_info_kernel_symbol", sym, [[1, 1, 1, "_Z15subtract_kernelPfi.kd", "", 16, 512]])
    dispatch = ["kernel_id", "dispatch_id", "group_segment_size", "workgroup_size_x", "workgroup_size_y",
                "workgroup_size_z", "grid_size_x", "grid_size_y", "grid_size_z", "event_id"]
    on_gpu = {"pid": 1, "tid": 1, "agent": gpu, "queue": 1, "stream": 1}
    for kernel, start, end, lds, items, correlation in ((add, 100, 150, 0, 1024, 2), (sub, 150, 170, 512, 500, 3)):
        db.record("rocpd_kernel_dispatch", T0 + start * US, T0 + end * US, on_gpu,
                  dict(zip(dispatch, [kernel, correlation, lds, 64, 1, 1, items, 1, 1,
                                      db.event(correlation, "KERNEL_DISPATCH")])))
    on_host = {"pid": 1, "tid": 1}
    for name, start, end, correlation, category in (
            ("hipMemcpyAsync", 0, 5, 1, "HIP_RUNTIME_API"), ("hipLaunchKernel", 90, 95, 2, "HIP_RUNTIME_API"),
            ("hipLaunchKernel", 96, 99, 3, "HIP_RUNTIME_API_EXT"), ("hsa_queue_create", 1, 2, 9, "HSA_CORE_API"),
            ("step", 80, 120, 4, "MARKER_CORE_RANGE_API"), ("a mark", 81, 81, 5, "MARKER_CORE_API")):
        db.record("rocpd_region", T0 + start * US, T0 + end * US, on_host,
                  {"name_id": db.string(name), "event_id": db.event(correlation, category)})
    db.record("rocpd_memory_copy", T0 + 40 * US, T0 + 70 * US, {"pid": 1, "tid": 1, "queue": 1, "stream": 1},
              {"name_id": db.string("MEMORY_COPY_HOST_TO_DEVICE"), "size": 4 << 20, "src_agent_id": cpu,
               "dst_agent_id": gpu, "event_id": db.event(1, "MEMORY_COPY")})
    db.table("rocpd_metadata", ["tag", "value"], [["schema_version", "3"]])
    db.close()
    return path


@pytest.mark.parametrize("layout", [{}, {"tracks": True}, {"views": False}], ids=["flat", "tracks", "no-views"])
def test_a_database_reads_as_the_csv_files_of_the_same_run_do(tmp_path, layout):
    path = _run(tmp_path / "123_results.db", **layout)
    t = load_trace(path)
    assert t.backend == "rocpd-sqlite" and t.platform == "rocm"
    assert list(t.gpu.name) == ["void addition_kernel<float>(float*, int)", "_Z15subtract_kernelPfi.kd",
                                "Memcpy HtoD"]
    assert t.gpu.grid.tolist()[:2] == [[16, 1, 1], [8, 1, 1]]  # 1024 and 500 work-items in groups of 64
    assert t.gpu.block.tolist()[0] == [64, 1, 1] and t.gpu.registers.tolist()[:2] == [8, 16]
    assert t.gpu.device.tolist() == [0, 0, 0]  # the GPU agent of type index 0
    assert t.gpu.ts[0] == pytest.approx(T0 / 1e3 + 100) and t.gpu.dur.tolist()[:2] == pytest.approx([50, 20])
    assert t.devices[0].name == "AMD Instinct MI210" and t.devices[0].num_sms == 104
    a = analyze(path)
    s = a.summary
    assert (s["kernel_count"], s["kernel_us"], s["memcpy_count"], s["memcpy_us"]) == (2, 70.0, 1, 30.0)
    assert s["platform"] == "rocm" and s["parser_backend"] == "rocpd-sqlite"
    assert s["gpu_busy_us"] == pytest.approx(100) and s["idle_host_wait_us"] == pytest.approx(20)
    assert s["launch_overhead_median_us"] == pytest.approx(32)  # linked by correlation: 100 - 90, 150 - 96 us
    assert {p["phase"]: p["gpu_us"] for p in a.phases} == pytest.approx({"step": 70, "(no range)": 30})
    assert any("rocpd" in n for n in a.notes) and any("1 HSA_CORE_API" in n for n in a.notes)
    assert not any("record_shapes" in n for n in a.notes)  # there are no PyTorch operators to record them
    copy = next(k for k in a.kernels if k["kind"] == "memcpy")
    assert copy["bytes"] == 4 << 20
    unknown = next(f for f in a.findings if f["id"] == "unknown-bytes")
    assert unknown["suggestion"].startswith("rocprofv3 records no operators or shapes")


def test_without_hip_calls_the_idle_time_is_unexplained_not_the_hosts(tmp_path):
    """The same run with its HIP calls deleted: the 30 us the GPU sat idle can no longer be split (host wait,
    other idle and CPU-bound time unknown, not 0), the reader's note says why once, and the finding asks for
    --hip-trace instead of judging the host."""
    path = _run(tmp_path / "123_results.db")
    with sqlite3.connect(path) as db:  # the tables behind the views carry the run's suffix
        db.execute("DELETE FROM rocpd_region_00aa WHERE name_id IN "
                   "(SELECT id FROM rocpd_string_00aa WHERE string LIKE 'hip%')")
    a = analyze(path)
    s = a.summary
    assert s["kernel_count"] == 2 and s["gpu_idle_us"] == pytest.approx(30)
    assert (s["idle_host_wait_us"], s["idle_other_us"], s["cpu_bound_us"]) == (None, None, None)
    assert sum("host waits are unknown" in n or "waited on the host is unknown" in n for n in a.notes) == 1
    f = next(f for f in a.findings if f["id"] == "idle-unexplained")
    assert "23% of its 130.0 us window" in f["message"] and "rocprofv3 --hip-trace" in f["suggestion"]
    assert not any(f["id"] == "host-bound" for f in a.findings)


def test_a_merged_database_and_a_gzipped_one(tmp_path, capsys):
    """Two runs' tables in one database (no views: rocpd merges by suffix) read as one trace with a note; a
    gzipped database reads as the plain one; `analyze` names the format in its summary."""
    path = tmp_path / "merged.db"
    _run(path, suffix="_00aa", views=False)
    _run(path, suffix="_00bb", views=False)
    t = load_trace(path)
    assert sum(1 for k in t.gpu.kind if k == "kernel") == 4 and len(t.runtime) == 6
    assert any("2 processes in one database" in n for n in analyze(path).notes)
    plain = _run(tmp_path / "one.db")
    packed = tmp_path / "one.db.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(load_trace(packed).gpu.name) == list(load_trace(plain).gpu.name)
    assert main(["analyze", str(packed), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["parser_backend"] == "rocpd-sqlite"


def test_odd_databases_are_one_line_errors(tmp_path, capsys):
    meta_only = tmp_path / "meta.db"
    db = _Db(meta_only)
    db.table("rocpd_metadata", ["tag", "value"], [["schema_version", "3"]])
    db.close()
    with pytest.raises(TraceError, match="a rocpd database without kernel dispatches"):
        load_trace(meta_only)
    empty = tmp_path / "empty.db"
    db = _Db(empty)
    db.table("rocpd_kernel_dispatch", ["kernel_id", "start", "end"], [])
    db.close()
    with pytest.raises(TraceError, match="has no timed kernels"):
        load_trace(empty)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(TraceError, match="not an Nsight Systems export"):
        load_trace(other)
    assert main(["analyze", str(meta_only)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "meta.db" in err and "Traceback" not in err


def test_hostile_values_read_as_unknown(tmp_path):
    """Text where numbers belong, NULL times, a name with markup: the record is left out or its field unknown,
    never a crash; the report escapes the name."""
    path = tmp_path / "bad.db"
    db = _Db(path)
    gpu = db.table("rocpd_info_agent", ["type", "type_index", "name", "extdata"], [["GPU", 0, "gfx942", "not json"]])
    sym = db.table("rocpd_info_kernel_symbol", ["display_name"], [["<script>alert(1)</script>"]])
    cols = ["agent_id", "stream_id", "kernel_id", "start", "end", "workgroup_size_x", "grid_size_x"]
    db.table("rocpd_kernel_dispatch", cols, [[gpu, 0, sym, T0, T0 + 5 * US, "x", 1e30],
                                             [gpu, 0, sym, None, T0, 64, 64],
                                             [gpu, "s", 999, T0 + 10 * US, T0 + 12 * US, 64, 128]])
    db.close()
    t = load_trace(path)
    kernels = [i for i, k in enumerate(t.gpu.kind) if k == "kernel"]
    assert len(kernels) >= 2 and "kernel 999" in list(t.gpu.name)
    from bambaprof import report

    page = report(path, tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_a_folder_of_two_processes_databases_is_two_ranks(tmp_path, capsys):
    """rocprofv3 writes one database a process (``<pid>_results.db``): a folder of them reads as ranks."""
    _run(tmp_path / "101_results.db")
    _run(tmp_path / "102_results.db.gz.tmp")
    (tmp_path / "102_results.db.gz").write_bytes(gzip.compress((tmp_path / "102_results.db.gz.tmp").read_bytes()))
    (tmp_path / "102_results.db.gz.tmp").unlink()
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in data["ranks"]] == [0, 1] and all(r["error"] is None for r in data["ranks"])
    assert data["ranks"][0]["kernel_us"] == 70.0 and data["cross"]["ranks"] == 2
