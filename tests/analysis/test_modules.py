"""Modules: GPU time attributed to the innermost nn.Module call around each launch (``with_stack`` traces)."""

import gzip
import json
from pathlib import Path

import pytest
import torch

from bambaprof.analysis import analyze, load_trace
from bambaprof.analysis.modules import NO_MODULE, fold_instances
from bambaprof.analysis.phases import NOT_PHASES, UNATTRIBUTED
from tests.analysis.synth import base_trace, write


def _frame(name, ts, dur, tid=1):
    return {"ph": "X", "cat": "python_function", "name": name, "pid": 1, "tid": tid, "ts": ts, "dur": dur,
            "args": {"Python parent id": None, "Python id": 1}}


def _with_modules(trace):
    """The synthetic trace's launches under modules: mm (launch at 5) in Net_0/Linear_0, the two adds (25, 26)
    in Net_0/Block_0/Linear_1, the memcpy (100) in Net_0 only."""
    trace["traceEvents"] += [
        _frame("nn.Module: Net_0", 0, 120), _frame("torch/nn/modules/module.py(1750): _call_impl", 0, 120),
        _frame("nn.Module: Linear_0", 0, 21), _frame("nn.Module: Block_0", 22, 13),
        _frame("nn.Module: Linear_1", 24, 6), _frame("<built-in method mm>", 4, 2),
    ]
    return trace


def test_kernels_go_to_the_innermost_module_of_their_launch(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", _with_modules(base_trace())))
    by_path = {m["module"]: m for m in a.modules}
    assert set(by_path) == {"Net_0/Linear_0", "Net_0/Block_0/Linear_1", "Net_0", "Net_0/Block_0"}
    # host side: Net_0 120 us less its children Linear_0 (21) and Block_0 (13); Block_0 13 less Linear_1 (6)
    # (pytest 9.2's approx takes no tuples inside a mapping: the calls and the times are compared apart)
    assert {p: m["calls"] for p, m in by_path.items()} == dict.fromkeys(by_path, 1)
    assert {p: m["cpu_self_us"] for p, m in by_path.items()} == pytest.approx(
        {"Net_0": 86.0, "Net_0/Linear_0": 21.0, "Net_0/Block_0": 7.0, "Net_0/Block_0/Linear_1": 6.0})
    assert by_path["Net_0/Block_0"]["gpu_us"] == 0 and by_path["Net_0/Block_0"]["count"] == 0  # launched nothing
    assert by_path["Net_0/Linear_0"]["gpu_us"] == pytest.approx(10) and by_path["Net_0/Linear_0"]["count"] == 1
    assert by_path["Net_0/Block_0/Linear_1"]["gpu_us"] == pytest.approx(11)  # add_0 (5) + add_1 (6)
    assert by_path["Net_0"]["gpu_us"] == pytest.approx(4) and by_path["Net_0"]["bytes"] == 8192  # the DtoD copy: read and written
    assert by_path["Net_0/Linear_0"]["floor_us"] == pytest.approx(114688 / 4.8e6)
    assert by_path["Net_0/Block_0/Linear_1"]["depth"] == 2
    kinds = {m["module"]: m["gpu_us"] for m in a.module_kinds}
    assert kinds == pytest.approx({"Net/Linear": 10, "Net/Block/Linear": 11, "Net": 4, "Net/Block": 0})
    assert {k["name"]: k["module"] for k in a.kernels}["gemm_kernel"] == "Net/Linear"
    assert a.summary["module_coverage_pct"] == pytest.approx(100)
    assert a.summary["peak_allocated_module"] == "Net_0"  # the memory peak (60 us) is under Net_0 only
    # the GPU's wait on the host (45 to 100 us) was spent in Net_0 on the launching thread
    assert [s["cpu_module"] for s in a.stretches] == ["Net_0"]
    host = next(f for f in a.findings if f["id"] == "host-bound")
    assert "under aten::copy_ (in Net);" in host["message"] and host["evidence"][0]["module"] == "Net_0"
    # the other Python frames stay unread; the phases are unchanged by modules
    assert a.phases == analyze(write(tmp_path / "plain.json.gz", base_trace())).phases


def test_work_outside_every_module_is_shown_not_dropped(tmp_path):
    trace = base_trace()
    trace["traceEvents"].append(_frame("nn.Module: Linear_0", 0, 21))
    a = analyze(write(tmp_path / "t.json.gz", trace))
    by_path = {m["module"]: m["gpu_us"] for m in a.modules}
    assert by_path == pytest.approx({"Linear_0": 10, NO_MODULE: 15})
    assert {m["module"]: m["calls"] for m in a.modules} == {"Linear_0": 1, NO_MODULE: None}
    assert a.summary["module_coverage_pct"] == pytest.approx(100 * 10 / 25)


def test_module_calls_on_another_thread_do_not_claim_launches(tmp_path):
    trace = base_trace()
    trace["traceEvents"].append(_frame("nn.Module: Linear_0", 0, 200, tid=2))
    a = analyze(write(tmp_path / "t.json.gz", trace))
    assert [(m["module"], m["gpu_us"]) for m in a.modules] == [(NO_MODULE, 25), ("Linear_0", 0)]
    assert a.summary["module_coverage_pct"] == 0


def test_a_trace_without_module_calls_has_no_module_tables(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", base_trace()))
    assert a.modules == [] and a.module_kinds == [] and a.summary["module_coverage_pct"] is None
    assert all(k["module"] is None for k in a.kernels)


def test_module_calls_with_unusable_times_are_counted_and_left_out(tmp_path):
    trace = _with_modules(base_trace())
    trace["traceEvents"] += [_frame("nn.Module: Bad_0", "soon", 3), _frame("nn.Module: Bad_1", 5, -1)]
    t = load_trace(write(tmp_path / "t.json.gz", trace))
    assert "Bad_0" not in t.modules.name and "Bad_1" not in t.modules.name and len(t.modules) == 4
    assert sum(n for what, n in t.skipped.items() if what.startswith("nn.Module events")) == 2
    assert "python_function" in t.unread  # the other Python frames


def test_instance_numbers_fold():
    assert fold_instances("Model_0/DecoderLayer_12/Linear_7") == "Model/DecoderLayer/Linear"
    assert fold_instances("layer_norm/Conv1d_0") == "layer_norm/Conv1d"  # only a trailing _<n> is an instance


def test_the_profilers_module_calls_are_read(tmp_path):
    """The installed torch's own ``with_stack`` output: every nn.Module call, nested as the model is."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 8)))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_stack=True) as prof:
        model(torch.randn(2, 8))
    path = tmp_path / "cpu.json"
    prof.export_chrome_trace(str(path))
    t = load_trace(path)
    assert sorted(t.modules.name) == ["Linear_0", "Linear_1", "ReLU_0", "Sequential_0", "Sequential_1"]
    outer = t.modules.name.index("Sequential_0")
    inner = t.modules.name.index("Linear_1")
    assert t.modules.ts[outer] <= t.modules.ts[inner]
    assert t.modules.ts[inner] + t.modules.dur[inner] <= t.modules.ts[outer] + t.modules.dur[outer]
    assert json.loads(path.read_text())  # a plain Chrome trace, read as any other


EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "bamba-9b-default-none-generate-b1-L512-2614aab1"


def _as_module(path: str) -> str:
    """A phase path as the module path of the same calls: ``layer.3/mixer/ssd`` -> ``DecoderLayer_3/mixer_3/ssd_3``."""
    parts = path.split("/")
    layer = next((p.split(".")[1] for p in parts if p.startswith("layer.")), "0")
    return "/".join("DecoderLayer_" + layer if p.startswith("layer.") else f"{p}_{layer}" for p in parts)


def test_module_calls_in_place_of_ranges_give_the_phase_tables(tmp_path):
    """A real H200 trace (4-layer generate, 2,432 kernels) with its profiler ranges turned into nn.Module calls of
    the same times: every module row is the phase row of the same calls, to the activity."""
    src = json.loads(gzip.decompress((EXAMPLE / "rank0.pt.trace.json.gz").read_bytes()))
    ranged = analyze(EXAMPLE)
    phases = ranged.phases
    events, stack = [], []
    for e in sorted(src["traceEvents"], key=lambda e: (e.get("ts", 0), -e.get("dur", 0))):
        if e.get("cat") != "user_annotation" or NOT_PHASES.match(e["name"]):
            events.append(e)
            continue
        while stack and stack[-1][1] < e["ts"]:
            stack.pop()
        layer = next((n.split(".")[1] for n, _ in stack if n.startswith("layer.")), None)
        name = e["name"]
        if name.startswith("layer."):
            label = "DecoderLayer_" + name.split(".")[1]
        else:
            label = f"{name}_{layer or '0'}"
        stack.append((name, e["ts"] + e["dur"]))
        events.append({**e, "cat": "python_function", "name": "nn.Module: " + label, "args": {}})
    a = analyze(write(tmp_path / "modules.json.gz", {**src, "traceEvents": events}))
    assert [p["phase"] for p in a.phases] == [UNATTRIBUTED]  # the ranges are gone
    by_module = {m["module"]: m for m in a.modules if m["count"]}  # modules that launched GPU work
    assert len(by_module) == len(phases) > 30
    for p in phases:
        m = by_module[NO_MODULE if p["phase"] == UNATTRIBUTED else _as_module(p["phase"])]
        assert (m["gpu_us"], m["count"], m["bytes"]) == pytest.approx((p["gpu_us"], p["count"], p["bytes"]))
    assert a.summary["module_coverage_pct"] == pytest.approx(ranged.summary["phase_coverage_pct"])


def test_a_cpu_only_trace_gets_the_host_time_of_its_modules(tmp_path):
    """The installed torch on the CPU: no GPU work, but every module call's host self time, by path."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(64, 64)))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_stack=True) as prof:
        for _ in range(3):
            model(torch.randn(16, 64))
    path = tmp_path / "cpu.json"
    prof.export_chrome_trace(str(path))
    a = analyze(path)
    rows = {m["module"]: m for m in a.modules}
    assert set(rows) == {"Sequential_0", "Sequential_0/Linear_0", "Sequential_0/Sequential_1",
                         "Sequential_0/Sequential_1/ReLU_0", "Sequential_0/Sequential_1/Linear_1"}
    assert all(m["calls"] == 3 and m["gpu_us"] == 0 and m["cpu_self_us"] > 0 for m in rows.values())
    t = load_trace(path)
    outer = [i for i, n in enumerate(t.modules.name) if n == "Sequential_0"]
    assert sum(m["cpu_self_us"] for m in rows.values()) == pytest.approx(sum(t.modules.dur[i] for i in outer))
    assert [m["module"] for m in a.module_kinds][:1] and a.summary["module_calls"] == 15


def _with_backward(trace):
    """A backward pass on the autograd thread (tid 2): the node of aten::mm's autograd (its sequence number 7)
    launches ``gemm_bwd`` (20 us) at 210 us."""
    for e in trace["traceEvents"]:
        if e.get("name") == "aten::mm":
            e["args"].update({"Sequence number": 7, "Fwd thread id": 0})
    node = {"Sequence number": 7, "Fwd thread id": 1}
    trace["traceEvents"] += [
        {"ph": "X", "cat": "cpu_op", "name": "autograd::engine::evaluate_function: MmBackward0", "pid": 1, "tid": 2,
         "ts": 200, "dur": 60, "args": {"External id": 300, **node}},
        {"ph": "X", "cat": "cpu_op", "name": "MmBackward0", "pid": 1, "tid": 2, "ts": 201, "dur": 58,
         "args": {"External id": 301, **node}},
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 2, "ts": 205, "dur": 20,
         "args": {"External id": 302, "Sequence number": 7, "Fwd thread id": 0}},  # an op inside the node
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 2, "ts": 210, "dur": 4,
         "args": {"correlation": 50, "External id": 302}},
        {"ph": "X", "cat": "kernel", "name": "gemm_bwd", "pid": 0, "tid": 7, "ts": 215, "dur": 20,
         "args": {"External id": 302, "device": 0, "stream": 7, "correlation": 50, "grid": [2, 1, 1],
                  "block": [128, 1, 1]}},
    ]
    return trace


def test_backward_work_goes_to_the_module_of_its_forward_op(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", _with_backward(_with_modules(base_trace()))))
    by_path = {m["module"]: m for m in a.modules}
    assert by_path["Net_0/Linear_0 (backward)"]["gpu_us"] == pytest.approx(20)
    assert by_path["Net_0/Linear_0"]["gpu_us"] == pytest.approx(10)  # the forward GEMM, as before
    assert by_path["Net_0/Linear_0 (backward)"]["calls"] is None  # no module call of its own
    kinds = {m["module"]: m["gpu_us"] for m in a.module_kinds}
    assert kinds["Net/Linear (backward)"] == pytest.approx(20)
    assert {k["name"]: k["module"] for k in a.kernels}["gemm_bwd"] == "Net/Linear (backward)"
    phases = {p["phase"]: p["gpu_us"] for p in a.phases}  # profiler ranges too: the forward op was under outer
    assert phases["outer (backward)"] == pytest.approx(20)


def test_backward_nodes_of_an_ambiguous_sequence_number_stay_unattributed(tmp_path):
    trace = _with_backward(_with_modules(base_trace()))
    trace["traceEvents"].append({"ph": "X", "cat": "cpu_op", "name": "aten::add", "pid": 1, "tid": 3, "ts": 50,
                                 "dur": 2, "args": {"External id": 400, "Sequence number": 7}})  # another thread's 7
    a = analyze(write(tmp_path / "t.json.gz", trace))
    by_path = {m["module"]: m["gpu_us"] for m in a.modules}
    assert "Net_0/Linear_0 (backward)" not in by_path and by_path[NO_MODULE] == pytest.approx(20)


TINY = Path(__file__).resolve().parents[1] / "data" / "cpu-tiny-default-prefill-with-stack.json.gz"


def test_a_real_with_stack_trace_of_the_tiny_model():
    """bambaprof profile --with-stack on the CPU (torch 2.13): the tiny model's module tree, two steps."""
    a = analyze(TINY)
    paths = {m["module"]: m for m in a.modules}
    layers = sorted(p for p in paths if p.count("/") == 1 and "/DecoderLayer_" in p)
    assert layers == ["BambaForCausalLM_0/DecoderLayer_0", "BambaForCausalLM_0/DecoderLayer_1",
                      "BambaForCausalLM_0/DecoderLayer_2"]
    assert "BambaForCausalLM_0/DecoderLayer_1/Attention_0" in paths  # the hybrid's attention layer
    assert {"BambaForCausalLM_0/DecoderLayer_0/Mamba2Mixer_0",
            "BambaForCausalLM_0/DecoderLayer_2/Mamba2Mixer_1"} <= set(paths)
    assert all(m["calls"] == 2 for m in a.modules)  # every module ran once in each of the two profiled steps
    kinds = {m["module"]: m["calls"] for m in a.module_kinds}
    assert kinds["BambaForCausalLM/DecoderLayer/Mamba2Mixer"] == 4 and kinds["BambaForCausalLM/DecoderLayer"] == 6
    t = load_trace(TINY)
    top = [i for i, n in enumerate(t.modules.name) if n == "BambaForCausalLM_0"]
    assert sum(m["cpu_self_us"] for m in a.modules) == pytest.approx(sum(t.modules.dur[i] for i in top), rel=1e-6)
    assert a.summary["module_calls"] == len(t.modules) and a.summary["module_coverage_pct"] is None  # no GPU


TRAIN = Path(__file__).resolve().parents[1] / "data" / "h200-train-with-stack.json.gz"


def test_a_real_training_step_on_the_h200():
    """benchmarks/modules_train.py on the H200 (torch 2.11, with_stack): two steps of a two-block MLP, forward
    under nn.Module calls and block.<i> ranges, backward on autograd's thread: the backward work goes to the
    module and the range of its forward op."""
    a = analyze(TRAIN)
    kinds = {m["module"]: m for m in a.module_kinds}
    assert kinds["Net/Block/Linear"]["count"] == 12 and kinds["Net/Block/Linear (backward)"]["count"] == 36
    assert kinds["Net/Block/Linear (backward)"]["gpu_us"] > 2 * kinds["Net/Block/Linear"]["gpu_us"]  # dX and dW
    assert kinds["Net/Block/Linear"]["calls"] == 8 and kinds["Net/Block/Linear (backward)"]["calls"] is None
    assert a.summary["module_coverage_pct"] > 90  # the rest: the loss, the optimizer, gradients' accumulation
    phases = {p["phase"]: p for p in a.phases}
    assert phases["block.0 (backward)"]["count"] == 22 and phases["block.1 (backward)"]["count"] == 26
    assert phases["block.0"]["count"] == phases["block.1"]["count"] == 12
