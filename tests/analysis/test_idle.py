"""The GPU's idle time by cause, each instant once: hand-computed intervals, and the real H100 traces."""

from pathlib import Path

import numpy as np
import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.idle import idle_by_cause

DATA = Path(__file__).resolve().parents[1] / "data"


def _a(*pairs):
    return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float)


def test_each_idle_instant_goes_to_the_first_cause_holding_it():
    gs, ge = _a((0, 10), (40, 50), (80, 100))  # idle: [10, 40) and [50, 80): 60 us
    loader, allocs, syncs = _a((5, 30)), _a((20, 45), (60, 65)), _a((25, 70))
    out = idle_by_cause(gs, ge, [("data loader", *loader), ("allocation calls", *allocs), ("synchronisations", *syncs)])
    # loader [10, 30) = 20; allocations [30, 40) + [60, 65) = 15; syncs [50, 60) + [65, 70) = 15; the rest 10
    assert out == {"data loader": 20.0, "allocation calls": 15.0, "synchronisations": 15.0, "the rest": 10.0,
                   "idle": 60.0}
    assert sum(v for k, v in out.items() if k != "idle") == out["idle"]


def test_unknown_causes_and_no_gpu():
    gs, ge = _a((0, 10), (40, 50))
    out = idle_by_cause(gs, ge, [("data loader", None, None), ("allocation calls", *_a((100, 200)))])
    assert out == {"data loader": None, "allocation calls": 0.0, "the rest": 30.0, "idle": 30.0}  # outside: nothing
    assert idle_by_cause(np.zeros(0), np.zeros(0), []) is None


def test_real_traces():
    """The H100 DataLoader loop: 87% of the idle time inside the fetches; empty_cache() after each step: 47% inside
    the allocation calls; a trace without CPU ops cannot show the DataLoader's ranges."""
    loader = analyze(DATA / "data-loading" / "workers0.json.gz").summary["idle_by_cause"]
    assert loader["data loader"] == pytest.approx(69749.1, abs=0.1) and loader["idle"] == pytest.approx(80110.2, abs=0.1)
    allocs = analyze(DATA / "allocations" / "empty-cache.json.gz").summary["idle_by_cause"]
    assert allocs["allocation calls"] == pytest.approx(1096.8, abs=0.1) and allocs["data loader"] == 0.0
    cuda = analyze(DATA / "activities" / "cuda.json.gz").summary
    assert cuda["idle_by_cause"]["data loader"] is None and cuda["idle_by_cause"]["idle"] == cuda["gpu_idle_us"]
    assert analyze(DATA / "activities" / "cpu.json.gz").summary["idle_by_cause"] is None


def test_the_idle_table(capsys):
    from bambaprof.cli import main

    assert main(["analyze", str(DATA / "data-loading" / "workers0.json.gz"), "--table", "idle", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "cause,gpu_idle_us,share_pct" and rows[3].startswith("data loader,69749.1")
    assert [r.split(",")[0] for r in rows[1:]] == ["compilation", "CUDA graph recording", "data loader",
                                                  "allocation calls", "synchronisations", "the rest"]
    assert main(["analyze", str(DATA / "activities" / "cpu.json.gz"), "--table", "idle"]) == 0
    assert "no GPU idle time to split" in capsys.readouterr().out
