"""Forward work recomputed in the backward pass (activation checkpointing): the recomputed ops, the backward's
totals, and the checkpoint-headroom finding; on real CPU traces of a model trained with every block checkpointed
and without (tests/data/checkpoint/) and a synthetic GPU trace with hand-computed figures."""

import gzip
import json
from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.cli import main
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import H200, _kernel, _op, _rt, write

REAL = Path(__file__).resolve().parents[1] / "data" / "checkpoint"


def test_real_checkpointed_and_plain_training():
    """Checkpointed: each step recomputes every block's two linears and its GELU in the backward pass (8 blocks, 3
    steps: 48 and 24 calls); without checkpointing, nothing."""
    a = analyze(REAL / "checkpointed.json.gz")
    assert [(r["op"], r["calls"]) for r in a.checkpointing] == [("aten::linear", 48), ("aten::gelu", 24)]
    events = json.load(gzip.open(REAL / "checkpointed.json.gz"))["traceEvents"]
    nodes = [e for e in events if str(e.get("name")).startswith("autograd::engine::evaluate_function")]
    s = a.summary
    assert s["recompute_calls"] == 72 and s["recompute_gpu_us"] is None
    assert 0 < s["recompute_cpu_us"] < s["backward_cpu_us"] <= sum(e["dur"] for e in nodes) + 1e-6
    assert not can_judge(a, "checkpoint-headroom")  # a CPU-only profile: no device memory to judge
    plain = analyze(REAL / "plain.json.gz")
    assert plain.checkpointing == [] and plain.summary["recompute_calls"] == 0 and plain.summary["backward_cpu_us"] > 0


def test_a_gradient_penalty_is_no_recompute():
    """A backward with create_graph=True runs gradient ops that carry sequence numbers too; they repeat no forward
    call (their shapes, or views that do no work): nothing recomputed."""
    a = analyze(REAL / "gradient-penalty.json.gz")
    assert a.checkpointing == [] and a.summary["recompute_calls"] == 0 and a.summary["backward_cpu_us"] > 0


def _gpu(tmp_path, reserved=1e9):
    """A forward linear (seq 5) whose kernel takes 20 us; in the backward pass, on autograd's thread, a node (seq 6)
    recomputes a linear (seq 7, no Fwd thread id: a forward op) launching 30 us and runs a gradient mm (no sequence
    number) launching 20 us; the allocator reserved ``reserved`` bytes of the H200's 150 GB."""
    def seq(event, number, fwd=0, tid=1):
        event["args"].update({"Sequence number": number, "Fwd thread id": fwd})
        event["tid"] = tid
        return event

    backward_mm = _op("aten::mm", 120, 10, 3)
    backward_mm["tid"] = 2
    events = [seq(_op("aten::linear", 0, 10, 1), 5), _rt("cudaLaunchKernel", 1, 1, 10, 1), _kernel("gemm", 20, 20, 10, 1),
              seq(_op("autograd::engine::evaluate_function: AddmmBackward0", 100, 100, 9), 6, fwd=1, tid=2),
              seq(_op("aten::linear", 105, 10, 2), 7, tid=2), _kernel("gemm", 120, 30, 11, 2), backward_mm,
              _kernel("gemm", 150, 20, 12, 3),
              {"ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", "pid": 1, "tid": 1, "ts": 1,
               "args": {"Total Reserved": reserved, "Total Allocated": reserved / 2, "Bytes": 1000, "Device Id": 0,
                        "Device Type": 1}}]
    for corr, t in ((11, 106), (12, 121)):
        rt = _rt("cudaLaunchKernel", t, 1, corr)
        rt["tid"] = 2
        events.append(rt)
    return write(tmp_path / "g.json.gz", {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events})


def test_gpu_recompute_by_hand(tmp_path):
    a = analyze(_gpu(tmp_path))
    assert [(r["op"], r["calls"], r["gpu_us"]) for r in a.checkpointing] == [("aten::linear", 1, 30.0)]
    assert (a.summary["recompute_gpu_us"], a.summary["backward_gpu_us"]) == (30.0, 50.0)
    (f,) = [f for f in a.findings if f["id"] == "checkpoint-headroom"]
    assert f["time_us"] == 30.0 and "43% of kernel time and 60% of the backward pass's" in f["message"]
    assert "Checkpoint fewer blocks" in f["suggestion"] and can_judge(a, "checkpoint-headroom")


def test_no_headroom_no_finding(tmp_path):
    full = analyze(_gpu(tmp_path, reserved=100e9))  # 67% of the device's memory: checkpointing earns its keep
    assert full.summary["recompute_gpu_us"] == pytest.approx(30.0)
    assert not [f for f in full.findings if f["id"] == "checkpoint-headroom"]


def test_cli_table(capsys):
    assert main(["analyze", str(REAL / "checkpointed.json.gz"), "--table", "checkpoint"]) == 0
    assert "aten::gelu" in capsys.readouterr().out


def test_real_h100_checkpointed_training_leaves_headroom():
    """The real H100 trace (torch 2.11, benchmarks/checkpoint_traces.py): 8 checkpointed blocks recompute 72 forward
    ops on the GPU in the backward pass while the allocator reserved about 80 MB of the device's 85 GB: the finding,
    judged on real memory figures (the CPU fixtures have none)."""
    a = analyze(REAL / "h100-checkpointed.json.gz")
    s = a.summary
    assert s["recompute_calls"] == 72 and 0 < s["recompute_gpu_us"] < s["backward_gpu_us"] < s["kernel_us"]
    assert s["peak_reserved_bytes"] < 0.01 * s["device_memory_bytes"]
    (f,) = [f for f in a.findings if f["id"] == "checkpoint-headroom"]
    assert f["time_us"] == pytest.approx(s["recompute_gpu_us"])
    assert "aten::linear x48" in f["message"] and "aten::gelu x24" in f["message"]
