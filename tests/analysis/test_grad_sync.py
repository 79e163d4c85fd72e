"""Gradient reductions by micro-batch under gradient accumulation: DDP's forwards cut the trace into micro-batches,
the reductions in the backward pass (not a forward's, as SyncBatchNorm's) are counted where no optimizer step
followed, with their time (GPU: the collective kernels they launched; host: the backend's own ranges); on real
CPU traces of two gloo ranks (tests/data/grad-sync/) and synthetic GPU traces with hand-computed figures."""

from pathlib import Path

from bambaprof.analysis.analysis import analyze
from tests.analysis.synth import H200, _kernel, _op, _rt, write

DATA = Path(__file__).resolve().parents[1] / "data" / "grad-sync"


def test_real_gloo_ranks_with_and_without_no_sync():
    """benchmarks/grad_sync_traces.py (torch 2.13, two gloo ranks, 3 micro-batches a step, 2 profiled steps):
    without no_sync each of the 6 micro-batches all-reduces and 4 of them for nothing (medium on both ranks); with
    it, only the 2 that end a step."""
    for rank in (0, 1):
        a = analyze(DATA / "sync" / f"rank{rank}.json.gz")
        s = a.summary
        assert (s["wrapped_forwards"], s["grad_sync_steps"], s["grad_sync_microbatches"], s["grad_sync_unneeded"],
                s["grad_sync_wrapper"]) == (6, 2, 6, 4, "DistributedDataParallel")
        assert 0 < s["grad_sync_unneeded_us"] < s["span_us"]
        (f,) = [f for f in a.findings if f["id"] == "grad-sync-per-microbatch"]
        assert f["severity"] == "medium" and f["time_us"] is None and "in the context manager model.no_sync()" in f["suggestion"]
        assert "in 6 micro-batches for 2 optimizer steps (3.0 forwards a step): 4 of" in f["message"]
        b = analyze(DATA / "no-sync" / f"rank{rank}.json.gz")
        assert (b.summary["grad_sync_microbatches"], b.summary["grad_sync_unneeded"]) == (2, 0)
        assert not any(f["id"] == "grad-sync-per-microbatch" for f in b.findings)


def _gpu_doc(steps_at=(2,), forward_reduction=True, c10d=True):
    """Three DDP micro-batches of 1000 us ([0, 1000), ...), one optimizer step in each micro-batch of ``steps_at``;
    each backward's AccumulateGrad node [b+400, b+600) holds a reduction [b+450, b+470) launching a 200 us NCCL
    kernel at b+500; the first forward also all-reduces (SyncBatchNorm) a 50 us kernel; a compute kernel a micro-batch
    keeps the GPU window open."""
    events, corr = [], 1
    name = "c10d::allreduce_" if c10d else "nccl:all_reduce"
    for i in range(3):
        b = 1000 * i
        events += [_op("DistributedDataParallel.forward", b, 300, -1, cat="user_annotation"),
                   _op("aten::mm", b + 10, 20, corr), _rt("cudaLaunchKernel", b + 12, 4, corr, corr),
                   _kernel("gemm", b + 100, 100, corr, corr),
                   _op("autograd::engine::evaluate_function: torch::autograd::AccumulateGrad", b + 400, 200, -1),
                   _op(name, b + 450, 20, corr + 1), _rt("cudaLaunchKernel", b + 452, 4, corr + 1, corr + 1),
                   _kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", b + 500, 200,
                           corr + 1, corr + 1, stream=20)]
        if i in steps_at:
            events.append(_op("Optimizer.step#SGD.step", b + 800, 100, -1, cat="user_annotation"))
        corr += 2
    if forward_reduction:
        events += [_op(name, 100, 10, 99), _rt("cudaLaunchKernel", 101, 2, 99, 99),
                   _kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(x)", 250, 50, 99, 99, stream=20)]
    return {"schemaVersion": 1, "deviceProperties": [H200], "traceEvents": events}


def test_gpu_reductions_by_micro_batch(tmp_path):
    """Micro-batches 0 and 1 reduce with no step after them: their backward kernels, 400 us, are at stake; the
    forward's all-reduce (SyncBatchNorm) is no gradient's; older traces name the backend's range instead of c10d's."""
    for c10d in (True, False):
        a = analyze(write(tmp_path / f"t{c10d}.json.gz", _gpu_doc(c10d=c10d)))
        s = a.summary
        assert (s["wrapped_forwards"], s["grad_sync_steps"], s["grad_sync_microbatches"], s["grad_sync_unneeded"],
                s["grad_sync_unneeded_us"]) == (3, 1, 3, 2, 400.0), c10d
        (f,) = [f for f in a.findings if f["id"] == "grad-sync-per-microbatch"]
        assert f["time_us"] == 400.0 and "3.0 forwards a step" in f["message"]
    doc = _gpu_doc()  # no kernel carries its call: each kernel by its own start (the forward's one in batch 0 too)
    for e in doc["traceEvents"]:
        if e.get("cat") == "kernel" and e["name"].startswith("nccl"):
            e["args"]["External id"], e["args"]["correlation"] = -1, 10_000 + int(e["ts"])
    assert analyze(write(tmp_path / "x.json.gz", doc)).summary["grad_sync_unneeded_us"] == 450.0
    doc = _gpu_doc()  # one rank: NCCL launches no kernel, so the reductions cost nothing known
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not e["name"].startswith("nccl")]
    s = analyze(write(tmp_path / "y.json.gz", doc)).summary
    assert s["grad_sync_unneeded"] == 2 and s["grad_sync_unneeded_us"] is None


def test_not_judged_without_a_step_or_a_wrapper(tmp_path):
    """No optimizer step in the trace (one outside torch.optim records none): counted, never a finding. A step after
    every micro-batch: nothing unneeded. No DDP forward: zero counts."""
    a = analyze(write(tmp_path / "n.json.gz", _gpu_doc(steps_at=())))
    assert a.summary["grad_sync_unneeded"] == 3 and not any(f["id"] == "grad-sync-per-microbatch" for f in a.findings)
    a = analyze(write(tmp_path / "e.json.gz", _gpu_doc(steps_at=(0, 1, 2))))
    assert (a.summary["grad_sync_unneeded"], a.summary["grad_sync_unneeded_us"]) == (0, 0.0)
    doc = _gpu_doc()
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e["name"] != "DistributedDataParallel.forward"]
    s = analyze(write(tmp_path / "w.json.gz", doc)).summary
    assert (s["wrapped_forwards"], s["grad_sync_microbatches"], s["grad_sync_wrapper"]) == (0, 0, None)


def test_real_h100_one_nccl_rank():
    """DDP on one H100 over NCCL (torch 2.11, benchmarks/grad_sync_traces.py --backend nccl --world 1): the calls are
    counted (6 micro-batches, 4 of them reducing for nothing), but one rank's NCCL launches no kernel, so their time
    is unknown and nothing is claimed."""
    a = analyze(DATA / "h100-one-rank" / "sync.json.gz")
    s = a.summary
    assert (s["grad_sync_microbatches"], s["grad_sync_unneeded"], s["grad_sync_unneeded_us"]) == (6, 4, None)
    assert not any(f["id"] == "grad-sync-per-microbatch" for f in a.findings)
