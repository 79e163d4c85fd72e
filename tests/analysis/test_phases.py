"""Phases: GPU time attributed to the innermost profiler range around each launch."""

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.phases import UNATTRIBUTED, fold_layers
from tests.analysis.synth import _op, base_trace, write


def _ranged(trace):
    trace["traceEvents"] += [
        _op("layer.0", 0, 24, 200, cat="user_annotation"), _op("in_proj", 1, 20, 201, cat="user_annotation"),
        _op("layer.1", 24, 30, 202, cat="user_annotation"), _op("in_proj", 24, 6, 203, cat="user_annotation"),
        _op("ProfilerStep#3", 0, 200, 204, cat="user_annotation"),  # a step, not a phase
    ]
    return trace


def test_kernels_go_to_the_innermost_range_of_their_launch(tmp_path):
    a = analyze(write(tmp_path / "t.json.gz", _ranged(base_trace())))
    by_path = {p["phase"]: p for p in a.phases}
    assert set(by_path) == {"outer/layer.0/in_proj", "outer/layer.1/in_proj", "outer"}
    assert by_path["outer/layer.0/in_proj"]["gpu_us"] == pytest.approx(10) and by_path["outer/layer.0/in_proj"]["count"] == 1
    assert by_path["outer/layer.1/in_proj"]["gpu_us"] == pytest.approx(11)  # add_0 (5) + add_1 (6)
    assert by_path["outer"]["gpu_us"] == pytest.approx(4)  # the memcpy launched at 100, under outer only
    assert by_path["outer/layer.0/in_proj"]["bytes"] == 114688 and by_path["outer"]["bytes"] == 8192
    kinds = {p["phase"]: p for p in a.phase_kinds}
    assert kinds["outer/layer.*/in_proj"]["gpu_us"] == pytest.approx(21) and kinds["outer/layer.*/in_proj"]["count"] == 3
    assert sum(p["gpu_us"] for p in a.phases) == pytest.approx(a.summary["kernel_us"] + a.summary["memcpy_us"])
    assert a.summary["phase_coverage_pct"] == pytest.approx(100)
    floor = by_path["outer/layer.0/in_proj"]
    assert floor["floor_us"] == pytest.approx(114688 / 4.8e6) and floor["excess_us"] == pytest.approx(10 - 114688 / 4.8e6)


def test_time_outside_every_range_is_shown_not_dropped(tmp_path):
    trace = base_trace()
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("name") != "outer"]
    trace["traceEvents"].append(_op("in_proj", 1, 20, 201, cat="user_annotation"))
    a = analyze(write(tmp_path / "t.json.gz", trace))
    by_path = {p["phase"]: p for p in a.phases}
    assert by_path["in_proj"]["gpu_us"] == pytest.approx(10)
    assert by_path[UNATTRIBUTED]["gpu_us"] == pytest.approx(15)  # the two adds and the memcpy
    assert a.summary["phase_coverage_pct"] == pytest.approx(100 * 10 / 25)


def test_a_trace_without_ranges_has_one_unattributed_phase(tmp_path):
    trace = base_trace()
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("cat") != "user_annotation"]
    a = analyze(write(tmp_path / "t.json.gz", trace))
    assert [p["phase"] for p in a.phases] == [UNATTRIBUTED] and a.summary["phase_coverage_pct"] == 0


def test_gpu_activity_alone_has_unknown_phase_coverage(tmp_path):
    """Kernels with neither their launch calls nor their ops (the host side not recorded): under which range each
    ran is unknown, so the coverage is too (not 0%); their time still shows, unattributed. Linked by their ops'
    External id alone (runtime calls dropped), they still get phases."""
    trace = _ranged(base_trace())
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy")]
    a = analyze(write(tmp_path / "gpu.json.gz", trace))
    assert [p["phase"] for p in a.phases] == [UNATTRIBUTED] and a.summary["phase_coverage_pct"] is None
    assert any(n.startswith("no runtime or driver calls") and n.endswith("and phases too") for n in a.notes)
    ops_only = _ranged(base_trace())
    ops_only["traceEvents"] = [e for e in ops_only["traceEvents"] if e.get("cat") != "cuda_runtime"]
    b = analyze(write(tmp_path / "ops.json.gz", ops_only))
    assert b.summary["phase_coverage_pct"] is not None and b.summary["sync_count"] is None
    assert any(n.endswith("synchronisations are unknown") and "its CPU ops are there" in n for n in b.notes)


def test_layers_fold():
    assert fold_layers("layer.12/mixer/ssd") == "layer.*/mixer/ssd" and fold_layers("player.1") == "player.1"


def test_a_path_through_thousands_of_nested_ranges_is_cut_in_the_middle(tmp_path):
    """A hostile trace: 2,000 ranges nested around one launch. The path keeps the outermost and innermost
    MAX_PATH_RANGES / 2 names with "…" between (it was 2,000 names long, and each kernel's lookup walked them all:
    20,000 nested ranges over 20,000 kernels took 45 s, now 1.7 s)."""
    from bambaprof.analysis.phases import MAX_PATH_RANGES

    trace = _ranged(base_trace())
    trace["traceEvents"] += [_op(f"n{i}", 1.0 + i * 1e-4, 19.8 - i * 2e-4, 300 + i, cat="user_annotation")
                             for i in range(2000)]
    a = analyze(write(tmp_path / "t.json.gz", trace))
    deep = next(p for p in a.phases if "…" in p["phase"])
    names = deep["phase"].split("/")
    half = MAX_PATH_RANGES // 2
    assert names[:3] == ["outer", "layer.0", "in_proj"] and names[half] == "…" and len(names) == MAX_PATH_RANGES + 1
    assert names[-1] == "n1999" and deep["gpu_us"] == pytest.approx(10)  # the gemm, under the innermost range
