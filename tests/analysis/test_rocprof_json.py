"""rocprofv3's JSON output read as a trace: the run of the CSV test (test_rocprof.py) as rocprofv3 writes it with
``--output-format json``, giving the same figures, and what the JSON may lack or hold wrong."""

import copy
import gzip
import json

import pytest

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.rocprof_json import is_rocprof_json
from bambaprof.analysis.source import TraceError
from bambaprof.cli import main

T0 = 1551874061244694  # ns
US = 1000


def _process(gpu_node=4, api=True, copies=True, symbols_as_object=False, pid=77):
    """One process: a copy to the GPU, then two kernels (16 and 8 workgroups of 64) launched 30 us after the copy
    ended, under a roctx range ``step``; the host's launch calls 10 us before each kernel."""
    symbols = [{"kernel_id": 10, "kernel_name": "_Z15addition_kernelIfEvPfi.kd",
                "formatted_kernel_name": "void addition_kernel<float>(float*, int)", "arch_vgpr_count": 8,
                "group_segment_size": 0},
               {"kernel_id": 13, "kernel_name": "_Z15subtract_kernelPfi.kd",
                "formatted_kernel_name": "subtract_kernel(float*, int)", "arch_vgpr_count": 16,
                "group_segment_size": 512}]
    kinds = [{"kind": "NONE", "operations": []}] * 3 + [
        {"kind": "HIP_RUNTIME_API", "operations": ["hipApiNone", "hipMemcpyAsync", "hipLaunchKernel"]},
        {"kind": "MARKER_CORE_RANGE_API", "operations": ["roctxRangePushA"]}]

    def dispatch(kernel_id, corr, start, end, grid_x):
        return {"kind": 8, "thread_id": 852831, "correlation_id": {"internal": corr, "external": 0},
                "start_timestamp": start, "end_timestamp": end,
                "dispatch_info": {"agent_id": {"handle": 2}, "queue_id": {"handle": 1}, "kernel_id": kernel_id,
                                  "dispatch_id": corr - 1, "grid_size": {"x": grid_x, "y": 1, "z": 1},
                                  "workgroup_size": {"x": 64, "y": 1, "z": 1}}}

    def call(op, corr, start, end):
        return {"kind": 3, "operation": op, "thread_id": 852831, "correlation_id": {"internal": corr, "external": 0},
                "start_timestamp": start, "end_timestamp": end}

    records = {
        "kernel_dispatch": [dispatch(10, 2, T0 + 100 * US, T0 + 150 * US, 1024),
                            dispatch(13, 3, T0 + 150 * US, T0 + 170 * US, 500)],
        "marker_api": [{"kind": 4, "operation": 0, "thread_id": 852831, "correlation_id": {"internal": 4},
                        "start_timestamp": T0 + 80 * US, "end_timestamp": T0 + 120 * US},
                       {"kind": 4, "operation": 0, "thread_id": 852831, "correlation_id": {"internal": 5},
                        "start_timestamp": T0 + 81 * US, "end_timestamp": T0 + 81 * US}],
    }
    if api:
        records["hip_api"] = [call(1, 1, T0, T0 + 5 * US), call(2, 2, T0 + 90 * US, T0 + 95 * US),
                              call(2, 3, T0 + 96 * US, T0 + 99 * US)]
    if copies:
        records["memory_copy"] = [{"kind": 12, "operation": 1, "correlation_id": {"internal": 1},
                                   "src_agent_id": {"handle": 1}, "dst_agent_id": {"handle": 2}, "bytes": 4096,
                                   "start_timestamp": T0 + 40 * US, "end_timestamp": T0 + 70 * US}]
    return {
        "metadata": {"pid": pid, "init_time": T0, "fini_time": T0 + 200 * US},
        "agents": [{"id": {"handle": 1}, "type": 1, "node_id": 0, "name": "AMD EPYC"},
                   {"id": {"handle": 2}, "type": 2, "node_id": gpu_node, "name": "gfx90a",
                    "product_name": "AMD Instinct MI210", "cu_count": 104, "wave_front_size": 64,
                    "lds_size_in_kb": 64, "workgroup_max_size": 1024}],
        "kernel_symbols": {str(s["kernel_id"]): s for s in symbols} if symbols_as_object else symbols,
        "buffer_records": records,
        "strings": {"buffer_records": kinds, "marker_api": [{"key": 4, "value": "step"}, {"key": 5, "value": "a mark"}]},
    }


def _write(path, doc, gz=False):
    text = json.dumps(doc).encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def test_the_json_of_a_run_reads_as_its_csv_files_do(tmp_path):
    path = _write(tmp_path / "123_results.json", {"rocprofiler-sdk-tool": [_process()]})
    assert is_rocprof_json(path)
    t = load_trace(path)
    assert t.backend == "rocprofv3-json" and t.platform == "rocm"
    assert list(t.gpu.name) == ["void addition_kernel<float>(float*, int)", "subtract_kernel(float*, int)",
                                "Memcpy HtoD"]
    assert t.gpu.grid.tolist()[:2] == [[16, 1, 1], [8, 1, 1]] and t.gpu.block.tolist()[0] == [64, 1, 1]
    assert t.gpu.registers.tolist()[:2] == [8, 16] and t.gpu.shared_memory.tolist()[1] == 512
    assert t.gpu.device.tolist() == [0, 0, 0] and t.devices[0].name == "AMD Instinct MI210"
    a = analyze(path)
    s = a.summary
    # the CSV test's figures (test_rocprof.py)
    assert (s["kernel_count"], s["kernel_us"], s["memcpy_count"], s["memcpy_us"]) == (2, 70.0, 1, 30.0)
    assert s["parser_backend"] == "rocprofv3-json" and s["platform"] == "rocm"
    assert s["gpu_busy_us"] == pytest.approx(100) and s["idle_host_wait_us"] == pytest.approx(20)
    assert s["launch_overhead_median_us"] == pytest.approx(32)
    assert {p["phase"]: p["gpu_us"] for p in a.phases} == pytest.approx({"step": 70, "(no range)": 30})
    copy_row = next(k for k in a.kernels if k["kind"] == "memcpy")
    assert copy_row["bytes"] == 4096
    assert any("rocprofv3 trace (JSON)" in n for n in a.notes)
    # gzipped, with its symbols as an object keyed by id, and the tool's object alone: the same
    other = _write(tmp_path / "r.json.gz", {"rocprofiler-sdk-tool": _process(symbols_as_object=True)}, gz=True)
    assert is_rocprof_json(other)
    b = analyze(other).summary
    assert (b["kernel_count"], b["kernel_us"], b["launch_overhead_median_us"]) == (2, 70.0, pytest.approx(32))


def test_what_the_json_lacks_is_unknown_and_said(tmp_path):
    a = analyze(_write(tmp_path / "r.json", {"rocprofiler-sdk-tool": [_process(api=False, copies=False)]}))
    assert a.summary["kernel_count"] == 2 and a.summary["launch_overhead_median_us"] is None
    assert any("no HIP calls" in n and "--hip-trace" in n for n in a.notes)
    assert any("no memory copies" in n for n in a.notes)
    # the GPU idle 30 us before the kernels: whether the host held it back is unknown without the calls
    s = analyze(_write(tmp_path / "c.json", {"rocprofiler-sdk-tool": [_process(api=False)]})).summary
    assert s["gpu_idle_us"] == pytest.approx(30)
    assert (s["idle_host_wait_us"], s["idle_other_us"], s["cpu_bound_us"]) == (None,) * 3


def test_two_processes_read_as_one_trace_with_their_own_gpus(tmp_path):
    doc = {"rocprofiler-sdk-tool": [_process(pid=77), _process(pid=78, gpu_node=5)]}
    t = load_trace(_write(tmp_path / "r.json", doc))
    assert sorted(set(t.gpu.device.tolist())) == [0, 1] and len(t.devices) == 2
    assert any("2 processes read as one trace" in n for n in t.meta["reader_notes"])


@pytest.mark.parametrize("doc, says", [
    ({"rocprofiler-sdk-tool": []}, "without a process"),
    ({"rocprofiler-sdk-tool": [{"agents": []}]}, "has no timed kernels"),
    ({"rocprofiler-sdk-tool": "x"}, "without a process"),
])
def test_a_json_without_what_it_needs_is_one_line(tmp_path, doc, says, capsys):
    path = _write(tmp_path / "r.json", doc)
    with pytest.raises(TraceError, match=says):
        load_trace(path)
    assert main(["analyze", str(path)]) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and err.count("\n") == 1


def test_odd_values_in_the_records_are_left_out_not_fatal(tmp_path):
    p = _process()
    odd = copy.deepcopy(p["buffer_records"]["kernel_dispatch"][0])
    odd["start_timestamp"] = "soon"
    p["buffer_records"]["kernel_dispatch"] += [odd, {"dispatch_info": None}, "x", {"start_timestamp": 2**70}]
    p["buffer_records"]["hip_api"].append({"kind": 99, "operation": 7, "start_timestamp": T0, "end_timestamp": T0 + 1})
    p["kernel_symbols"].append("not a symbol")
    p["agents"].append({"id": "x", "type": 2})
    a = analyze(_write(tmp_path / "r.json", {"rocprofiler-sdk-tool": [p]}))
    assert a.summary["kernel_count"] == 2 and a.summary["kernel_us"] == 70.0
    assert any("left out" in n for n in a.notes)


def test_a_kineto_trace_is_not_taken_for_rocprofv3s_json(tmp_path):
    kineto = _write(tmp_path / "t.json", {"traceEvents": [], "rocprofiler-sdk-tool": []})
    assert not is_rocprof_json(kineto)
    assert not is_rocprof_json(tmp_path)  # a folder
    assert not is_rocprof_json(_write(tmp_path / "bad.json.gz", {}, gz=False))
