"""Hand-computed metrics on a synthetic trace, and every schema variant of it."""

import copy
import json

import pytest

from bambaprof.analysis.analysis import analyze, select_rows
from bambaprof.analysis.trace import load_trace
from tests.analysis.synth import base_trace, legacy, write


def _analyze(tmp_path, obj, name="t.json.gz", **kw):
    return analyze(write(tmp_path / name, obj, gz=name.endswith(".gz")), **kw)


def _by_name(rows):
    return {r["name"]: r for r in rows}


def check_base_metrics(a):
    s = a.summary
    assert s["span_us"] == pytest.approx(120)
    assert s["gpu_busy_us"] == pytest.approx(19)
    assert s["gpu_idle_us"] == pytest.approx(61)
    assert s["idle_host_wait_us"] == pytest.approx(55)
    assert s["idle_other_us"] == pytest.approx(6)
    assert (s["kernel_count"], s["memcpy_count"], s["memset_count"]) == (3, 1, 0)
    assert s["kernel_us"] == pytest.approx(21) and s["memcpy_us"] == pytest.approx(4)
    assert s["streams"] == 2
    assert a.launch["count"] == 3 and a.launch["mean_us"] == pytest.approx((25 + 15 + 6) / 3)
    assert a.launch["median_us"] == pytest.approx(15)
    # the cost of launching: only the gemm ends an idle gap with its launch inside it; add_0 was launched
    # while the GPU idled but queued behind the gemm, add_1 started inside a busy stretch (other stream)
    assert a.launch["idle_count"] == 1 and a.launch["idle_median_us"] == pytest.approx(25)
    assert s["cpu_bound_stretches"] == 1 and s["cpu_bound_us"] == pytest.approx(55)
    assert a.stretches[0]["start_us"] == pytest.approx(45) and a.stretches[0]["cpu_op"] == "aten::copy_"
    k = _by_name(a.kernels)
    gemm = k["gemm_kernel"]
    assert gemm["bytes"] == 114688 and gemm["achieved_gbps"] == pytest.approx(11.4688)
    assert gemm["flops"] == 2 * 64 * 256 * 128 and gemm["bytes_source"] == "shape model"
    assert gemm["theoretical_occupancy_pct"] == pytest.approx(18.75) and gemm["limiter"] == "registers+shared_memory"
    assert gemm["waves_per_sm"] == pytest.approx(1.0) and gemm["small_grid"] is False
    assert gemm["pct_of_peak_bw"] == pytest.approx(100 * 11.4688 / 4800)
    assert gemm["launched_by"] == "aten::mm" and gemm["est_occupancy_pct"] is None  # Kineto's 0: a failed estimate
    # roofline: 114688 B at the H200's 4800 GB/s (datasheet) against 2*64*256*128 FLOP at 989.4 bf16 TFLOP/s
    assert gemm["dtype"] == "bf16" and gemm["floor_us"] == pytest.approx(114688 / 4.8e6)
    assert gemm["floor_flops_us"] == pytest.approx(2 * 64 * 256 * 128 / 989.4e6)
    assert gemm["bound"] == "memory" and gemm["excess_us"] == pytest.approx(10 - 114688 / 4.8e6)
    add = k["triton_poi_fused_add"]  # _0 and _1 group together
    assert add["count"] == 2 and add["bytes_known"] == 1 and add["bytes"] == 12000
    assert add["achieved_gbps"] == pytest.approx(2.4) and add["small_grid"] is True
    mem = k["Memcpy DtoD (Device -> Device)"]
    assert mem["bytes"] == 8192 and mem["achieved_gbps"] == pytest.approx(8192 / 4e3)  # a DtoD copy: read + written
    ops = _by_name(a.ops)
    assert ops["outer"]["cpu_self_us"] == pytest.approx(120 - 20 - 10 - 60)
    assert ops["outer"]["gpu_total_us"] == pytest.approx(10 + 5 + 4)
    assert ops["aten::mm"]["gpu_self_us"] == pytest.approx(10) and ops["aten::mm"]["kernels"] == 1
    cuda = [m for m in a.memory if m["device"] == "cuda:0"][0]
    assert cuda["peak_allocated_bytes"] == 3000 and cuda["peak_reserved_bytes"] == 8192
    # the peak's event (60 us, thread 1) lies inside aten::copy_ [50, 110) under the range outer [0, 120)
    assert (cuda["peak_at_us"], cuda["peak_op"], cuda["peak_phase"], cuda["peak_module"]) == (60, "aten::copy_",
                                                                                             "outer", None)
    assert (a.summary["peak_allocated_op"], a.summary["peak_allocated_phase"]) == ("aten::copy_", "outer")


def test_base_trace_hand_computed(tmp_path):
    a = _analyze(tmp_path, base_trace())
    check_base_metrics(a)
    assert a.summary["parser_backend"] == "msgspec" and a.notes == []


def test_legacy_schema_gives_the_same_numbers(tmp_path):
    check_base_metrics(_analyze(tmp_path, legacy(base_trace())))


def test_plain_json_and_array_format(tmp_path):
    check_base_metrics(_analyze(tmp_path, base_trace(), name="t.json"))
    arr = base_trace()["traceEvents"]
    a = _analyze(tmp_path, arr, name="arr.json")
    assert a.summary["gpu_busy_us"] == pytest.approx(19)
    assert "no deviceProperties" in " ".join(a.notes)
    assert _by_name(a.kernels)["gemm_kernel"]["theoretical_occupancy_pct"] is None


@pytest.mark.parametrize("field,value", [("warpSize", -1), ("numSms", 0), ("numSms", -5),
                                         ("maxThreadsPerMultiprocessor", 16), ("regsPerMultiprocessor", 0),
                                         ("sharedMemPerMultiprocessor", 0)])
def test_device_properties_that_cannot_be_leave_occupancy_unknown(tmp_path, field, value):
    """A device with no SMs, a warp of no (or fewer than no) threads, fewer threads an SM than a warp, or no
    registers or shared memory: occupancy is unknown (it divided by zero on some of these), the rest as usual."""
    t = base_trace()
    t["deviceProperties"][0][field] = value
    a = _analyze(tmp_path, t, name="odd-device.json")
    assert all(k["theoretical_occupancy_pct"] is None for k in a.kernels if k["kind"] == "kernel")
    assert a.summary["gpu_busy_us"] == pytest.approx(19)


def test_nanosecond_resolution_timestamps(tmp_path):
    t = base_trace()
    for e in t["traceEvents"]:
        if "ts" in e:
            e["ts"] = e["ts"] + 5029796331095.163  # Kineto's us with ns decimals
    a = _analyze(tmp_path, t)
    assert a.summary["gpu_busy_us"] == pytest.approx(19, abs=1e-3)
    assert a.summary["idle_host_wait_us"] == pytest.approx(55, abs=1e-3)


def test_schema_drift_is_absorbed(tmp_path):
    t = base_trace()
    t["traceEvents"].append({"ph": "X", "cat": "cpu_op", "name": "odd", "pid": 1, "tid": 2, "ts": 1, "dur": 1,
                             "args": ["not", "an", "object"]})
    a = _analyze(tmp_path, t)
    assert a.summary["parser_backend"] == "msgspec" and a.summary["lenient_events"] == 1
    assert a.summary["gpu_busy_us"] == pytest.approx(19)
    check_base_metrics(_analyze(tmp_path, t, backend="json"))


def test_rocm_trace(tmp_path):
    t = base_trace()
    t["roctracer_version"] = 4
    for e in t["traceEvents"]:
        if e.get("cat") == "cuda_runtime":
            e["name"] = {"cudaLaunchKernel": "hipLaunchKernel", "cuLaunchKernel": "hipModuleLaunchKernel",
                         "cuLaunchKernelEx": "hipExtModuleLaunchKernel", "cudaMemcpyAsync": "hipMemcpyAsync"}[e["name"]]
    t["deviceProperties"][0]["name"] = "AMD Instinct MI300X"
    a = _analyze(tmp_path, t)
    assert a.summary["platform"] == "rocm" and a.launch["count"] == 3
    assert a.summary["idle_host_wait_us"] == pytest.approx(55)
    assert a.summary["peak_bandwidth_gbps"] == 5300
    # the occupancy model is NVIDIA's: unknown on ROCm, with the reason, never a CUDA figure
    assert all(k["theoretical_occupancy_pct"] is None for k in a.kernels if k["kind"] == "kernel")
    assert any("occupancy model is NVIDIA's" in n for n in a.notes)


def test_xpu_trace(tmp_path):
    """An Intel GPU trace as Kineto writes it (runtime calls in ``xpu_runtime``: Unified Runtime's
    urEnqueueKernelLaunch, urEnqueueUSMMemcpy, urEnqueueMemBufferWrite): launches linked and counted like
    CUDA's, platform ``xpu``, no NVIDIA occupancy figure, and no datasheet peak guessed for the device."""
    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("cat") == "cuda_runtime":
            e["cat"] = "xpu_runtime"
            e["name"] = {"cudaLaunchKernel": "urEnqueueKernelLaunch", "cuLaunchKernel": "urEnqueueKernelLaunch",
                         "cuLaunchKernelEx": "urEnqueueKernelLaunchCustomExp",
                         "cudaMemcpyAsync": "urEnqueueMemBufferWrite"}[e["name"]]
        elif e.get("cat") == "gpu_memcpy":
            e["name"] = "Memcpy M2D"
    t["deviceProperties"][0]["name"] = "Intel(R) Data Center GPU Max 1550"
    a = _analyze(tmp_path, t)
    assert a.summary["platform"] == "xpu" and a.launch["count"] == 3 and a.launch["unlinked_kernels"] == 0
    assert a.launch["by_api"] == {"urEnqueueKernelLaunch": 2, "urEnqueueKernelLaunchCustomExp": 1}
    assert a.summary["idle_host_wait_us"] == pytest.approx(55)  # as for the CUDA form of this trace
    assert all(k["theoretical_occupancy_pct"] is None for k in a.kernels if k["kind"] == "kernel")
    assert a.summary["peak_bandwidth_gbps"] is None
    from bambaprof.diagnose.rules import host_bound

    found = host_bound(a)  # the GPU waits on the host for most of its window here
    assert found is not None and "CUDA" not in found.suggestion and "torch.compile" in found.suggestion


def test_cuda_graph_launch_counts_once(tmp_path):
    t = base_trace()
    t["traceEvents"].append({"ph": "X", "cat": "cuda_runtime", "name": "cudaGraphLaunch", "pid": 1, "tid": 1,
                             "ts": 200, "dur": 10, "args": {"correlation": 50}})
    for i, ts in enumerate((215, 220, 226)):
        t["traceEvents"].append({"ph": "X", "cat": "kernel", "name": f"graph_k{i}", "pid": 0, "tid": 7, "ts": ts,
                                 "dur": 4, "args": {"device": 0, "stream": 7, "correlation": 50}})
    a = _analyze(tmp_path, t)
    assert a.launch["graph_kernels"] == 3
    assert a.launch["count"] == 4  # three plain kernels + the graph's first
    assert a.launch["max_us"] == pytest.approx(25)


def test_several_devices_and_a_rank(tmp_path):
    t = base_trace()
    t["distributedInfo"] = {"backend": "nccl", "rank": 3, "world_size": 8}
    dev1 = copy.deepcopy(t["deviceProperties"][0])
    dev1["id"] = 1
    t["deviceProperties"].append(dev1)
    t["traceEvents"].append({"ph": "X", "cat": "kernel", "name": "other_gpu", "pid": 1, "tid": 7, "ts": 30,
                             "dur": 50, "args": {"device": 1, "stream": 7, "correlation": 99}})
    a = _analyze(tmp_path, t)
    assert a.summary["rank"] == 3
    assert {d["device"]: d["busy_us"] for d in a.devices} == {0: pytest.approx(19), 1: pytest.approx(50)}
    assert a.summary["gpu_busy_us"] == pytest.approx(69)
    assert "1 kernels have no linked launch call" in a.notes


def test_cpu_only_trace(tmp_path):
    t = base_trace()
    t["traceEvents"] = [e for e in t["traceEvents"] if e.get("cat") in ("cpu_op", "user_annotation")]
    a = _analyze(tmp_path, t)
    assert a.kernels == [] and a.summary["gpu_busy_us"] == 0 and a.summary["gpu_busy_pct"] is None
    assert any("no GPU activity" in n for n in a.notes)
    assert _by_name(a.ops)["outer"]["cpu_self_us"] == pytest.approx(30)


def test_no_shapes_means_unknown_bytes(tmp_path):
    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("cat") == "cpu_op":
            for key in ("Input Dims", "Input type", "Concrete Inputs"):
                e["args"].pop(key, None)
    a = _analyze(tmp_path, t)
    k = _by_name(a.kernels)
    assert k["gemm_kernel"]["bytes"] is None and k["gemm_kernel"]["achieved_gbps"] is None
    assert k["gemm_kernel"]["pct_of_peak_bw"] is None
    assert any("record_shapes" in n for n in a.notes)


def test_inductor_metadata_wins_over_the_shape_model(tmp_path):
    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("name") == "aten::add":
            e["args"]["kernel_num_gb"] = 0.00005  # 50000 bytes
            e["args"]["kernel_flop"] = 1000
    add = _by_name(_analyze(tmp_path, t).kernels)["triton_poi_fused_add"]
    assert add["bytes"] == pytest.approx(50000) and add["bytes_source"] == "metadata"
    assert add["achieved_gbps"] == pytest.approx(10.0)


def test_user_peak_bandwidth(tmp_path):
    a = _analyze(tmp_path, base_trace(), peak_gbps=100.0)
    gemm = _by_name(a.kernels)["gemm_kernel"]
    assert gemm["peak_source"] == "user" and gemm["pct_of_peak_bw"] == pytest.approx(11.4688)


def test_unknown_device_has_no_peak(tmp_path):
    t = base_trace()
    t["deviceProperties"][0]["name"] = "Mystery Accelerator 9000"
    a = _analyze(tmp_path, t)
    assert a.summary["peak_bandwidth_gbps"] is None
    assert _by_name(a.kernels)["gemm_kernel"]["pct_of_peak_bw"] is None


def test_select_rows():
    rows = [{"name": "a", "total_us": 1.0}, {"name": "b", "total_us": None}, {"name": "c", "total_us": 3.0}]
    assert [r["name"] for r in select_rows(rows, "total_us")] == ["c", "a", "b"]
    assert [r["name"] for r in select_rows(rows, "name", top=2)] == ["a", "b"]
    assert [r["name"] for r in select_rows(rows, pattern="^[ab]$")] == ["a", "b"]


def test_run_directory_with_telemetry(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write(run / "trace.json.gz", base_trace())
    (run / "manifest.json").write_text(json.dumps({"schema_version": 1, "files": {"trace": "trace.json.gz"},
                                                   "device": {"peak_bandwidth_gbps": 4000.0,
                                                              "peak_bandwidth_source": "measured"}}))
    telemetry = {"schema": 1, "clock": "trace_us",
                 "nvml": {"t_us": [-50, 10, 60, 500], "power_w": [100.0, 300.0, 500.0, 900.0],
                          "sm_clock_mhz": [1980, 1980, 1800, 345]},
                 "gpm": {"t_us": [50, 60], "span_us": [20, 100_000], "dram_bw_util_pct": [40.0, 90.0],
                         "sm_occupancy_pct": [None, 5.0]}}
    write(run / "telemetry.json.gz", telemetry)
    a = analyze(run)
    assert a.summary["run_dir"] == str(run)
    assert a.summary["peak_bandwidth_gbps"] == 4000.0 and a.summary["peak_bandwidth_source"] == "measured"
    assert a.telemetry["nvml.power_w"] == {"mean": 400.0, "max": 500.0, "samples": 2}
    # the second GPM interval (100 ms) reaches far past the trace: it does not describe the window
    assert a.telemetry["gpm.dram_bw_util_pct"] == {"mean": 40.0, "max": 40.0, "samples": 1}
    assert a.telemetry["gpm.sm_occupancy_pct"] == {"mean": None, "max": None, "samples": 0}
    # without spans (older run directories) the configured interval is the span: 100 ms, too long here
    del telemetry["gpm"]["span_us"]
    write(run / "telemetry.json.gz", {**telemetry, "gpm_interval_ms": 100.0})
    assert analyze(run).telemetry["gpm.dram_bw_util_pct"]["samples"] == 0


def test_trace_loader_columns(tmp_path):
    tr = load_trace(write(tmp_path / "t.json.gz", base_trace()))
    assert len(tr.gpu) == 4 and len(tr.runtime) == 4 and len(tr.ops) == 4 and len(tr.memory) == 2
    assert tr.devices[0].num_sms == 132 and tr.rank is None


@pytest.mark.parametrize("category, platform", [("privateuse1_runtime", "privateuse1"), ("mtia_runtime", "mtia"),
                                                ("gcu_runtime", "gcu"), ("privateuse1_driver", "privateuse1")])
def test_an_out_of_tree_backend_trace(tmp_path, category, platform):
    """A trace of a PyTorch backend outside the tree (PrivateUse1: NPUs and other accelerators whose profiler
    plugin writes ``privateuse1_runtime`` calls; Meta's MTIA, ``mtia_runtime``; a Kineto fork's ``gcu_runtime``),
    the launch calls named as such a runtime names them: linked to their kernels by correlation as CUDA's are,
    platform named after the device, no NVIDIA occupancy figure, and no CUDA graphs or torch.cuda advice."""
    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("cat") == "cuda_runtime":
            e["cat"] = category
            e["name"] = "Launch" if "Launch" in e["name"] else "MemcpyAsync"
    del t["deviceProperties"]
    a = _analyze(tmp_path, t)
    assert a.summary["platform"] == platform and a.launch["unlinked_kernels"] == 0
    assert a.summary["idle_host_wait_us"] == pytest.approx(55)  # as for the CUDA form of this trace
    assert all(k["theoretical_occupancy_pct"] is None for k in a.kernels if k["kind"] == "kernel")
    from bambaprof.diagnose.rules import host_bound

    found = host_bound(a)
    assert found is not None and "CUDA" not in found.suggestion and "device's backend" in found.suggestion


def test_another_runtime_beside_cuda_s_leaves_the_trace_cuda(tmp_path):
    """Calls of a category ending in _runtime beside CUDA's (Glow's host runtime) are runtime calls, and the trace
    stays CUDA's: the platform is another backend's only where all its runtime calls are."""
    t = base_trace()
    t["traceEvents"].append({"ph": "X", "cat": "glow_runtime", "name": "glow::run", "pid": 1, "tid": 1, "ts": 1.0,
                             "dur": 2.0, "args": {}})
    a = _analyze(tmp_path, t)
    assert a.summary["platform"] == "cuda" and a.launch["unlinked_kernels"] == 0
