"""Waiting for data: the DataLoader's fetch ranges, the GPU idle inside them, and the data-loading finding; on
synthetic traces with hand-computed figures."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.compare import compare, regression
from bambaprof.analysis.data_loading import LOADER_RANGE
from tests.analysis.synth import _op, base_trace, write

SINGLE = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"
WORKERS = "enumerate(DataLoader)#_MultiProcessingDataLoaderIter.__next__"


def _loading(tmp_path, name=SINGLE, spans=((50, 40), (95, 5)), gpu=True):
    """base_trace (GPU busy [30, 45) and [106, 110)) plus DataLoader fetches ``spans`` (start, duration) on the
    training thread; without ``gpu``, the GPU's activities and the launch calls removed (a CPU-only trace)."""
    t = base_trace()
    t["traceEvents"] += [_op(name, ts, dur, -1, cat="user_annotation") for ts, dur in spans]
    if not gpu:
        t["traceEvents"] = [e for e in t["traceEvents"] if e.get("cat") not in ("kernel", "gpu_memcpy", "cuda_runtime",
                                                                                 "ac2g")]
    return write(tmp_path / "t.json.gz", t)


def test_the_ranges_dataloader_and_datapipe_record():
    assert LOADER_RANGE.match(SINGLE).group(1) == "_SingleProcessDataLoaderIter"
    assert LOADER_RANGE.match("enumerate(DataPipe)#_IterDataPipeSerializationWrapper.__next__")
    for other in ("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__iter__", "DataLoader", "ProfilerStep#3",
                  "xenumerate(DataLoader)#A.__next__"):
        assert not LOADER_RANGE.match(other), other


def test_gpu_idle_inside_the_fetches(tmp_path):
    a = analyze(_loading(tmp_path))
    s = a.summary
    # fetches [50, 90) and [95, 100): the GPU is idle from 45 to 106, so all 45 us of them
    assert (s["data_loader_fetches"], s["data_loader_us"], s["data_loader_gpu_idle_us"]) == (2, 45.0, 45.0)
    assert s["data_loader_iterators"] == "_SingleProcessDataLoaderIter"
    f = next(f for f in a.findings if f["id"] == "data-loading")
    assert f["time_us"] == pytest.approx(45.0) and f["severity"] == "high"  # 56% of the 80 us window
    assert "2 DataLoader fetches (_SingleProcessDataLoaderIter) took 45.0 us, 22.5 us each" in f["message"]
    assert "num_workers=0" in f["suggestion"]
    host = next(f for f in a.findings if f["id"] == "host-bound")
    assert host["suggestion"].startswith("First feed the GPU: 45.0 us of the 55.0 us wait was inside the DataLoader")
    assert "For the rest: Capture the steps in CUDA graphs" in host["suggestion"]


def test_workers_that_do_not_keep_up_and_fetches_while_the_gpu_works(tmp_path):
    a = analyze(_loading(tmp_path, WORKERS))
    assert "workers do not keep up" in next(f for f in a.findings if f["id"] == "data-loading")["suggestion"]
    busy = analyze(_loading(tmp_path, spans=((31, 10),)))  # inside [30, 45): the GPU had work
    assert busy.summary["data_loader_gpu_idle_us"] == 0.0
    assert not any(f["id"] == "data-loading" for f in busy.findings)


def test_a_cpu_only_trace_is_judged_by_the_host_share(tmp_path):
    a = analyze(_loading(tmp_path, gpu=False))
    s = a.summary
    assert s["data_loader_gpu_idle_us"] is None and s["data_loader_us"] == 45.0
    f = next(f for f in a.findings if f["id"] == "data-loading")
    assert f["time_us"] is None and "2 DataLoader fetches" in f["message"] and "of the trace's" in f["message"]


def test_none_and_unknown(tmp_path):
    plain = analyze(write(tmp_path / "p.json.gz", base_trace()))
    assert (plain.summary["data_loader_fetches"], plain.summary["data_loader_gpu_idle_us"]) == (0, 0.0)
    gpu_only = base_trace()
    gpu_only["traceEvents"] = [e for e in gpu_only["traceEvents"] if e.get("cat") not in ("cuda_runtime", "cpu_op",
                                                                                          "user_annotation")]
    a = analyze(write(tmp_path / "g.json.gz", gpu_only))
    assert a.summary["data_loader_fetches"] is None  # no CPU ops: the ranges could not show


REAL = Path(__file__).resolve().parents[1] / "data" / "data-loading"


def test_real_training_loops_fed_by_a_dataloader():
    """benchmarks/data_loading_traces.py on an H100: with no workers the GPU sat idle 69.7 ms of its 80.5 ms window
    inside the fetches; two workers cut it to 42.5 ms of 52.4 ms and are still behind; compare keeps the finding."""
    alone, workers = analyze(REAL / "workers0.json.gz"), analyze(REAL / "workers2.json.gz")
    s = alone.summary
    assert (s["data_loader_fetches"], s["data_loader_iterators"]) == (3, "_SingleProcessDataLoaderIter")
    assert s["data_loader_gpu_idle_us"] == pytest.approx(69749.1, abs=0.1)
    f = next(f for f in alone.findings if f["id"] == "data-loading")
    assert f["severity"] == "high" and "num_workers=0" in f["suggestion"]
    assert workers.summary["data_loader_iterators"] == "_MultiProcessingDataLoaderIter"
    assert workers.summary["data_loader_gpu_idle_us"] == pytest.approx(42485.6, abs=0.1)
    f = next(f for f in workers.findings if f["id"] == "data-loading")
    assert "workers do not keep up" in f["suggestion"]
    comp = compare([str(REAL / "workers0.json.gz")], [str(REAL / "workers2.json.gz")])
    kept = next(r for r in comp.findings if r["finding"] == "data-loading")
    assert kept["status"] == "kept" and kept["at_stake_candidate_us"] < kept["at_stake_baseline_us"]
    row = comp.metric("data_wait")  # per profiled step: 3 each
    assert row["baseline"] == pytest.approx(69749.1 / 3, abs=0.1) and row["candidate"] == pytest.approx(42485.6 / 3, abs=0.1)
    assert regression(comp, "data_wait", 5.0) is None  # less waiting: no regression
    assert regression(compare([str(REAL / "workers2.json.gz")], [str(REAL / "workers0.json.gz")]), "data_wait",
                      5.0).startswith("regression: GPU idle waiting for the DataLoader")
