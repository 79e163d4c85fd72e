"""Autograd in a trace: forward ops that created autograd nodes, the backward pass's ops, and the
grad-enabled-inference finding; on real CPU traces of one forward run with gradients, under no_grad and under
inference_mode (tests/data/grad-mode/), and real H100 training and inference traces."""

import gzip
import json
from pathlib import Path

from bambaprof.analysis.analysis import analyze
from bambaprof.diagnose.rules import can_judge
from tests.analysis.synth import _kernel, write

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_forward_with_gradients_and_without():
    """With gradients: 288 of 864 ops ran with them on (linear, t, addmm, layer_norm ... 48 each over three
    forwards), creating 192 nodes (4 a block: addmm, t, layer_norm, gelu; 16 blocks, three forwards); no backward:
    grad-enabled-inference, medium (a CPU-only profile). Under no_grad and inference_mode: none."""
    grad = analyze(DATA / "grad-mode" / "grad.json.gz")
    events = json.load(gzip.open(DATA / "grad-mode" / "grad.json.gz"))["traceEvents"]
    carried = [e for e in events if e.get("cat") == "cpu_op" and "Sequence number" in e.get("args", {})]
    s = grad.summary
    assert (s["autograd_forward_ops"], s["autograd_forward_nodes"], s["autograd_backward_ops"]) == \
        (len(carried), 4 * 16 * 3, 0)
    assert s["autograd_cpu_ops"] == sum(e.get("cat") == "cpu_op" for e in events)
    assert s["autograd_forward_op_names"].startswith("aten::linear x48")
    (f,) = [f for f in grad.findings if f["id"] == "grad-enabled-inference"]
    assert f["severity"] == "medium" and f["time_us"] is None and "torch.inference_mode()" in f["suggestion"]
    assert "The forward created about 192 autograd nodes" in f["message"]
    for mode in ("no-grad", "inference-mode"):
        a = analyze(DATA / "grad-mode" / f"{mode}.json.gz")
        assert a.summary["autograd_forward_ops"] == 0 and can_judge(a, "grad-enabled-inference")
        assert not [f for f in a.findings if f["id"] == "grad-enabled-inference"]


def test_gradients_on_but_nothing_requiring_them_is_no_finding():
    """The H100 activities workload (a matmul, relu, add of plain tensors, gradients on): 35 ops carry a sequence
    number, all the same one: no node was created, nothing to save, no finding."""
    a = analyze(DATA / "activities" / "cpu.json.gz")
    assert (a.summary["autograd_forward_ops"], a.summary["autograd_forward_nodes"]) == (35, 1)
    assert not [f for f in a.findings if f["id"] == "grad-enabled-inference"]


def test_training_is_not_inference():
    """The H100 training loop (Adam, four layers): forward ops carry sequence numbers, and its backward ran."""
    a = analyze(DATA / "syncs" / "item-each-step.json.gz")
    assert a.summary["autograd_forward_ops"] > 0 and a.summary["autograd_backward_ops"] > 0
    assert not [f for f in a.findings if f["id"] == "grad-enabled-inference"]


def test_no_ops_cannot_judge(tmp_path):
    a = analyze(write(tmp_path / "k.json.gz", {"schemaVersion": 1, "traceEvents": [_kernel("k", 0, 5, 1, -1)]}))
    assert a.summary["autograd_forward_ops"] is None and not can_judge(a, "grad-enabled-inference")
