"""rocprofv3's CSV output read as a trace: the files of one run, in the columns rocprofv3 writes."""

import csv
import gzip

import pytest

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.fleet import analyze_fleet, folder_traces
from bambaprof.analysis.source import TraceError
from bambaprof.cli import main

KERNEL_COLUMNS = ["Kind", "Agent_Id", "Queue_Id", "Stream_Id", "Thread_Id", "Dispatch_Id", "Kernel_Id", "Kernel_Name",
                  "Correlation_Id", "Start_Timestamp", "End_Timestamp", "LDS_Block_Size", "Scratch_Size", "VGPR_Count",
                  "Accum_VGPR_Count", "SGPR_Count", "Workgroup_Size_X", "Workgroup_Size_Y", "Workgroup_Size_Z",
                  "Grid_Size_X", "Grid_Size_Y", "Grid_Size_Z"]
API_COLUMNS = ["Domain", "Function", "Process_Id", "Thread_Id", "Correlation_Id", "Start_Timestamp", "End_Timestamp"]
COPY_COLUMNS = ["Kind", "Direction", "Stream_Id", "Source_Agent_Id", "Destination_Agent_Id", "Correlation_Id",
                "Start_Timestamp", "End_Timestamp"]
T0 = 1551874061244694  # ns, as rocprofv3 writes them


def _write(path, columns, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _run(folder, prefix="123_", gpu_node=4, api=True, copies=True):
    """One process's files: a copy to the GPU, then two kernels (16 and 8 workgroups of 64) launched 30 us after
    the copy ended, under a roctx range ``step``; the host's launch calls 10 us before each kernel."""
    folder.mkdir(exist_ok=True)
    _write(folder / f"{prefix}agent_info.csv",
           ["Node_Id", "Logical_Node_Id", "Agent_Type", "Wave_Front_Size", "Cu_Count", "Lds_Size_In_Kb",
            "Workgroup_Max_Size", "Name", "Product_Name"],
           [[0, 0, "CPU", 0, 0, 0, 0, "AMD EPYC", "AMD EPYC"],
            [gpu_node, 1, "GPU", 64, 104, 64, 1024, "gfx90a", "AMD Instinct MI210"]])
    us = 1000
    kernels = [["KERNEL_DISPATCH", f"Agent {gpu_node}", 1, 1, 852831, 1, 10, "void addition_kernel<float>(float*, int)",
                2, T0 + 100 * us, T0 + 150 * us, 0, 0, 8, 0, 16, 64, 1, 1, 1024, 1, 1],
               ["KERNEL_DISPATCH", f"Agent {gpu_node}", 1, 1, 852831, 2, 13, "subtract_kernel(float*, int)",
                3, T0 + 150 * us, T0 + 170 * us, 512, 0, 16, 0, 16, 64, 1, 1, 500, 1, 1]]
    path = _write(folder / f"{prefix}kernel_trace.csv", KERNEL_COLUMNS, kernels)
    if api:
        _write(folder / f"{prefix}hip_api_trace.csv", API_COLUMNS,
               [["HIP_RUNTIME_API", "hipMemcpyAsync", 77, 852831, 1, T0, T0 + 5 * us],
                ["HIP_RUNTIME_API", "hipLaunchKernel", 77, 852831, 2, T0 + 90 * us, T0 + 95 * us],
                ["HIP_RUNTIME_API", "hipLaunchKernel", 77, 852831, 3, T0 + 96 * us, T0 + 99 * us]])
    if copies:
        _write(folder / f"{prefix}memory_copy_trace.csv", COPY_COLUMNS,
               [["MEMORY_COPY", "MEMORY_COPY_HOST_TO_DEVICE", 1, "Agent 0", f"Agent {gpu_node}", 1, T0 + 40 * us,
                 T0 + 70 * us]])
    _write(folder / f"{prefix}marker_api_trace.csv", API_COLUMNS,
           [["MARKER_CORE_API", "step", 77, 852831, 4, T0 + 80 * us, T0 + 120 * us],
            ["MARKER_CORE_API", "a mark", 77, 852831, 5, T0 + 81 * us, T0 + 81 * us]])
    return path


def test_a_run_reads_as_a_trace_of_its_files(tmp_path):
    path = _run(tmp_path / "out")
    t = load_trace(path)
    assert t.backend == "rocprofv3-csv" and t.platform == "rocm"
    assert list(t.gpu.name) == ["void addition_kernel<float>(float*, int)", "subtract_kernel(float*, int)",
                                "Memcpy HtoD"]
    assert t.gpu.grid.tolist()[:2] == [[16, 1, 1], [8, 1, 1]]  # 1024 and 500 work-items in groups of 64
    assert t.gpu.block.tolist()[0] == [64, 1, 1] and t.gpu.registers.tolist()[:2] == [8, 16]
    assert t.gpu.device.tolist() == [0, 0, 0]  # agent node 4 is the first GPU
    assert t.gpu.ts[0] == pytest.approx(T0 / 1e3 + 100) and t.gpu.dur.tolist()[:2] == pytest.approx([50, 20])
    assert t.devices[0].name == "AMD Instinct MI210" and t.devices[0].num_sms == 104
    a = analyze(path)
    s = a.summary
    assert (s["kernel_count"], s["kernel_us"], s["memcpy_count"], s["memcpy_us"]) == (2, 70.0, 1, 30.0)
    assert s["platform"] == "rocm" and s["parser_backend"] == "rocprofv3-csv"
    assert s["gpu_busy_us"] == pytest.approx(100) and s["idle_host_wait_us"] == pytest.approx(20)  # 70 -> 90 us
    assert s["launch_overhead_median_us"] == pytest.approx(32)  # linked by correlation: 100 - 90, 150 - 96 us
    assert all(k["theoretical_occupancy_pct"] is None for k in a.kernels if k["kind"] == "kernel")
    assert {p["phase"]: p["gpu_us"] for p in a.phases} == pytest.approx({"step": 70, "(no range)": 30})
    assert any("rocprofv3 trace" in n for n in a.notes)
    unknown = next(f for f in a.findings if f["id"] == "unknown-bytes")
    assert unknown["suggestion"].startswith("rocprofv3 records no operators or shapes")


def test_files_saved_again_with_a_byte_order_mark_read_the_same(tmp_path):
    """A spreadsheet saving rocprofv3's CSVs again puts a byte-order mark first: the first column's name is
    still its name (the kernel trace's first column was lost, and with it the file)."""
    path = _run(tmp_path / "out")
    plain = load_trace(path)
    for f in (tmp_path / "out").iterdir():
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    from bambaprof.analysis.rocprof import _rows

    assert list(next(_rows(path)))[0] == "Kind"  # not "\ufeffKind"
    again = load_trace(path)
    assert list(again.gpu.name) == list(plain.gpu.name) and again.devices[0].name == "AMD Instinct MI210"
    assert list(again.runtime.name) == list(plain.runtime.name)


def test_a_folder_of_one_run_and_a_folder_of_two_processes(tmp_path, capsys):
    one = tmp_path / "one"
    _run(one)
    assert [p.name for p in folder_traces(one)] == ["123_kernel_trace.csv"]
    assert main(["analyze", str(one), "--format", "json"]) == 0
    assert '"parser_backend": "rocprofv3-csv"' in capsys.readouterr().out
    two = tmp_path / "two"
    _run(two, "123_")
    _run(two, "456_", gpu_node=5)
    fleet = analyze_fleet(folder_traces(two), workers=1)
    assert [r["kernel_us"] for r in fleet.ranks] == [70.0, 70.0] and not any(r["error"] for r in fleet.ranks)


def test_without_the_api_trace_the_notes_say_what_is_unknown(tmp_path):
    a = analyze(_run(tmp_path / "k", api=False, copies=False))
    assert a.summary["kernel_count"] == 2 and a.summary["launch_overhead_median_us"] is None
    assert any("hip_api_trace.csv" in n and "--hip-trace" in n for n in a.notes)
    assert any("memory_copy_trace.csv" in n for n in a.notes)


def test_without_launch_calls_the_idle_split_is_unknown_not_zero(tmp_path):
    """Without the HIP calls nothing says whether the 30 us the GPU sat idle were the host's: host wait, other
    idle and CPU-bound time are unknown (None), not 0 and 30, and the reader's note says why."""
    s = analyze(_run(tmp_path / "k", api=False)).summary
    assert s["gpu_idle_us"] == pytest.approx(30)
    assert (s["idle_host_wait_us"], s["idle_other_us"], s["cpu_bound_us"], s["cpu_bound_stretches"]) == (None,) * 4


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("garbage here\n"), "no column Function, Start_Timestamp, End_Timestamp"),
    (lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), None),  # a header and no calls
])
def test_an_unreadable_api_trace_is_left_out_with_a_note(tmp_path, damage, why):
    """An empty, foreign or call-less hip_api_trace.csv leaves the kernels readable: the run is analysed as
    without it, and a note names the file and what is unknown (the empty file once refused the whole run)."""
    path = _run(tmp_path / "d")
    damage(path.with_name("123_hip_api_trace.csv"))
    a = analyze(path)
    assert a.summary["kernel_count"] == 2 and a.summary["memcpy_count"] == 1
    assert a.summary["idle_host_wait_us"] is None and a.summary["launch_overhead_median_us"] is None
    note = next(n for n in a.notes if n.startswith("123_hip_api_trace.csv beside the kernel trace"))
    assert (f"is left out ({why})" if why else "holds no calls") in note and "--hip-trace" in note
    assert not any("no GPU activity that ends an idle gap" in n for n in a.notes)  # said once, by the reader


def test_unreadable_agents_and_copies_are_left_out_with_notes(tmp_path):
    path = _run(tmp_path / "a")
    path.with_name("123_agent_info.csv").write_bytes(b"")
    path.with_name("123_memory_copy_trace.csv").write_text("x,y\n1,2\n")
    a = analyze(path)
    assert a.summary["kernel_count"] == 2 and a.summary["memcpy_count"] == 0 and a.summary["devices"] is None
    assert any(n.startswith("123_agent_info.csv beside the kernel trace is left out (empty file)") for n in a.notes)
    assert any(n.startswith("123_memory_copy_trace.csv beside the kernel trace is left out (no column "
                            "Start_Timestamp, End_Timestamp)") for n in a.notes)


def test_a_file_beside_it_that_breaks_off_is_read_up_to_there(tmp_path):
    """A gzipped marker trace whose stream is corrupt after its first rows: the rows before are phases, and a
    note says where it stopped."""
    path = _run(tmp_path / "c")
    markers = path.with_name("123_marker_api_trace.csv")
    rows = markers.read_text().splitlines()
    text = "\n".join(rows[:2] + rows[2:3] * 30000) + "\n"  # marks (no range) far past the first chunk read
    data = gzip.compress(text.encode(), compresslevel=1)
    markers.unlink()
    markers.with_name(markers.name + ".gz").write_bytes(data[:len(data) * 3 // 4])
    a = analyze(path)
    assert a.summary["kernel_count"] == 2 and {p["phase"]: p["gpu_us"] for p in a.phases}["step"] == 70
    note = next(n for n in a.notes if n.startswith("123_marker_api_trace.csv.gz is read up to its row"))
    assert "the rest cannot be read" in note


def test_an_empty_kernel_trace_names_its_path_once(tmp_path, capsys):
    path = _run(tmp_path / "e")
    path.write_bytes(b"")
    assert main(["analyze", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"bambaprof: error: {path}: empty file"


def test_agents_named_by_type_and_gzipped_files(tmp_path):
    path = _run(tmp_path / "g")
    text = path.read_text().replace('"Agent 4"', '"GPU 1"')
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(text.encode()))
    path.unlink()
    t = load_trace(gz)
    assert t.gpu.device.tolist()[:2] == [1, 1]  # the type-relative index, as written


def test_odd_files_are_one_line_errors_or_left_out_rows(tmp_path, capsys):
    bad = _write(tmp_path / "x_kernel_trace.csv", ["a", "b"], [[1, 2]])
    with pytest.raises(TraceError, match="without rocprofv3's kernel trace columns"):
        load_trace(bad)
    assert main(["analyze", str(bad)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    empty = _write(tmp_path / "e_kernel_trace.csv", KERNEL_COLUMNS, [])
    with pytest.raises(TraceError, match="no timed kernels"):
        load_trace(empty)
    odd = _run(tmp_path / "o")
    rows = list(csv.reader(odd.open()))
    rows[1][9] = "soon"  # a start that is not a number
    rows.append(rows[2][:5])  # a row cut short
    rows.append(rows[2][:9] + ["9" * 30] + rows[2][10:])  # a start beyond 64 bits
    _write(odd, rows[0], rows[1:])
    t = load_trace(odd)
    assert len([k for k in t.gpu.kind if k == "kernel"]) == 1
    assert sum(n for what, n in t.skipped.items() if what.startswith("kernel events")) == 3


def test_hip_allocation_calls_are_judged_like_cudas(tmp_path):
    """A hipFree begun as the copy ran (65 to 85 us; the copy ends at 70, the next kernel starts at 100): the
    allocation table and allocation-stall read rocprofv3's HIP calls as they read CUDA's, the drain after it
    included."""
    path = _run(tmp_path / "out")
    api = tmp_path / "out" / "123_hip_api_trace.csv"
    with open(api, "a", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_NONNUMERIC).writerow(
            ["HIP_RUNTIME_API", "hipFree", 77, 852831, 9, T0 + 65 * 1000, T0 + 85 * 1000])
    a = analyze(path)
    (row,) = a.allocations
    assert (row["call"], row["action"], row["memory"], row["count"]) == ("hipFree", "free", "device", 1)
    assert row["host_blocked_us"] == pytest.approx(20) and row["gpu_idle_us"] == pytest.approx(30)  # 70 to 100 us
    f = next(f for f in a.findings if f["id"] == "allocation-stall")
    assert "PYTORCH_HIP_ALLOC_CONF on ROCm" in f["suggestion"]
