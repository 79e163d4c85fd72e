"""bambaprof compare: zero deltas for identical inputs, a planted slowdown trips the gate."""

import copy
import json

import pytest

from bambaprof.analysis.compare import bootstrap_ratio_interval, compare, regression
from bambaprof.cli import main
from bambaprof.errors import UsageError
from tests.analysis.synth import base_trace, write


def slowed(trace, factor=1.2):
    t = copy.deepcopy(trace)
    for e in t["traceEvents"]:
        if e.get("cat") in ("kernel", "gpu_memcpy"):
            e["dur"] = e["dur"] * factor
    return t


def make_run(tmp_path, name, trace, iterations):
    run = tmp_path / name
    run.mkdir()
    write(run / "trace.json.gz", trace)
    med = sorted(iterations)[len(iterations) // 2]
    (run / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "run_id": name, "status": "ok", "files": {"trace": "trace.json.gz"},
        "timings": {"iteration_ms": iterations, "latency_ms": {"median": med},
                    "throughput_tokens_per_s": 1000.0 / med},
        "memory": {"peak_allocated_bytes": 1e9}, "energy": {"joules_per_token": 0.5}}))
    return run


def test_identical_inputs_give_zero_deltas(tmp_path, capsys):
    a = write(tmp_path / "a.json.gz", base_trace())
    comp = compare([a], [a])
    assert all(r["delta"] == 0 for r in comp.summary)
    assert all(r["delta_us"] == 0 and r["status"] == "same" for r in comp.kernels)
    assert main(["compare", str(a), str(a), "--fail-on-regression", "10"]) == 0


def test_planted_20_percent_slowdown_trips_the_gate(tmp_path, capsys):
    a = write(tmp_path / "a.json.gz", base_trace())
    b = write(tmp_path / "b.json.gz", slowed(base_trace()))
    comp = compare([a], [b])
    gpu = comp.metric("gpu_time")
    assert gpu["ratio"] == pytest.approx(1.2) and gpu["worse_pct"] == pytest.approx(20)
    # by impact: the two fused adds (5 + 6 us) grow by 2.2 us, the GEMM (10 us) by 2.0 us
    assert [r["name"] for r in comp.kernels[:2]] == ["triton_poi_fused_add", "gemm_kernel"]
    assert comp.kernels[1]["delta_us"] == pytest.approx(2.0)
    assert regression(comp, "gpu_time", 10).startswith("regression: GPU time")
    assert regression(comp, "gpu_time", 25) is None
    code = main(["compare", str(a), str(b), "--fail-on-regression", "10"])
    err = capsys.readouterr().err
    assert code == 1 and "regression: GPU time" in err and "+20.0%" in err
    assert main(["compare", str(b), str(a), "--fail-on-regression", "10"]) == 0  # faster is fine


def test_run_groups_with_noise_estimate(tmp_path, capsys):
    base = [make_run(tmp_path, f"base{i}", base_trace(), [10.0 + 0.1 * j + i * 0.05 for j in range(10)])
            for i in range(3)]
    cand = [make_run(tmp_path, f"cand{i}", slowed(base_trace()), [12.0 + 0.1 * j + i * 0.05 for j in range(10)])
            for i in range(3)]
    comp = compare(base, cand)
    lat = comp.metric("latency")
    assert lat["ratio"] == pytest.approx(1.2, rel=0.01) and lat["significant"] is True
    assert 15 < comp.metric("throughput")["worse_pct"] < 17  # medians 10.55 -> 12.55 ms
    argv = ["compare", *sum((["--baseline", str(p)] for p in base), []), *sum((["--candidate", str(p)] for p in cand), []),
            "--metric", "latency", "--fail-on-regression", "10", "--format", "json"]
    assert main(argv) == 1
    same = compare(base, base)
    assert same.metric("latency")["significant"] is False


def test_added_and_removed_kernels(tmp_path):
    t = base_trace()
    t2 = copy.deepcopy(t)
    for e in t2["traceEvents"]:
        if e.get("name") == "gemm_kernel":
            e["name"] = "new_gemm_kernel"
    comp = compare([write(tmp_path / "a.json.gz", t)], [write(tmp_path / "b.json.gz", t2)])
    status = {r["name"]: r["status"] for r in comp.kernels}
    assert status["gemm_kernel"] == "removed" and status["new_gemm_kernel"] == "added"


def test_bootstrap_interval():
    assert bootstrap_ratio_interval([1.0], [2.0]) is None
    lo, hi = bootstrap_ratio_interval([1.0, 1.01, 0.99, 1.0], [2.0, 2.02, 1.98, 2.0])
    assert 1.9 < lo <= 2.0 <= hi < 2.1


def test_usage_errors(tmp_path, capsys):
    a = write(tmp_path / "a.json.gz", base_trace())
    for argv, msg in [([str(a)], "takes two inputs"), ([str(a), str(a), "--metric", "latency", "--fail-on-regression", "5"],
                                                       "not available for these inputs"),
                      ([str(a), str(a), "--baseline", str(a)], "not both"), ([], "needs a baseline")]:
        code = main(["compare", *argv])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err


def test_formats(tmp_path, capsys):
    a = write(tmp_path / "a.json.gz", base_trace())
    b = write(tmp_path / "b.json.gz", slowed(base_trace()))
    for fmt, probe in (("table", "Kernels per profiled step, by impact"), ("csv", "name,kind,status"),
                       ("html", "<!DOCTYPE html>")):
        assert main(["compare", str(a), str(b), "--format", fmt]) == 0
        assert probe in capsys.readouterr().out


def test_ops_are_matched_too(tmp_path):
    a = write(tmp_path / "a.json.gz", base_trace())
    b = write(tmp_path / "b.json.gz", slowed(base_trace()))
    ops = {r["name"]: r for r in compare([a], [b]).ops}
    assert ops["aten::mm"]["status"] == "matched"
    assert ops["aten::mm"]["gpu_delta_us"] == pytest.approx(2.0)  # its GEMM: 10 -> 12 us
    assert ops["outer"]["cpu_delta_us"] == 0


def _with_steps(trace, n):
    """The trace with ``n`` ProfilerStep ranges, its kernels repeated in each."""
    t = copy.deepcopy(trace)
    events = t["traceEvents"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy")]
    for step in range(1, n):
        for e in gpu:
            c = copy.deepcopy(e)
            c["ts"] = e["ts"] + 1000 * step
            events.append(c)
    for step in range(n):
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": 1, "tid": 1,
                       "ts": 1000 * step, "dur": 999, "args": {}})
    return t


def test_kernel_times_and_counts_are_per_profiled_step(tmp_path):
    one = write(tmp_path / "one.json.gz", _with_steps(base_trace(), 1))
    two = write(tmp_path / "two.json.gz", _with_steps(base_trace(), 2))
    comp = compare([one], [two])
    gpu = comp.metric("gpu_time")
    assert gpu["ratio"] == pytest.approx(1.0)  # the same work per step, though one trace holds twice as much
    assert all(r["status"] == "same" and r["count_baseline"] == r["count_candidate"] for r in comp.kernels)
    assert any("per profiled step (baseline: 1 step(s), candidate: 2)" in n for n in comp.notes)
    assert not any("set one step against a whole trace" in w for w in comp.warnings)  # one step is a whole trace
    none = write(tmp_path / "none.json.gz", base_trace())  # no ProfilerStep range: whole-trace totals
    (warning,) = [w for w in compare([two], [none]).warnings if "whole trace" in w]
    assert warning.startswith("the baseline's inputs mark profiled steps (ProfilerStep ranges) and the candidate's none")
    assert any("the candidate's inputs mark profiled steps" in w for w in compare([none], [two]).warnings)


def _cpu_steps(durations):
    """A CPU-only trace: ProfilerStep ranges of the given durations (us), an aten op in each."""
    events, ts = [], 0.0
    for i, dur in enumerate(durations):
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{i}", "pid": 1, "tid": 1,
                       "ts": ts, "dur": dur, "args": {}})
        events.append({"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": ts + 1,
                       "dur": dur - 2, "args": {}})
        ts += dur + 5
    return {"traceEvents": events}


def test_cpu_only_traces_compare_and_gate_on_step_time(tmp_path, capsys):
    """A CPU-only trace has no GPU time (unknown, not 0): its summary compares the host's time per profiled step,
    each step of a side's one trace, and the gate can watch it."""
    base = write(tmp_path / "base.json.gz", _cpu_steps([1000, 1010, 990, 1005]))
    slow = write(tmp_path / "slow.json.gz", _cpu_steps([1300, 1310, 1290, 1305]))
    comp = compare([base], [slow])
    assert comp.metric("gpu_time") is None
    step = comp.metric("step_time")
    assert step["baseline"] == pytest.approx(1002.5) and step["candidate"] == pytest.approx(1302.5)
    assert step["samples"] == [4, 4] and step["significant"] is True
    assert "step time" in regression(comp, "step_time", 10)
    assert regression(comp, "step_time", 40) is None
    with pytest.raises(UsageError, match="metrics both sides have: step_time"):
        regression(comp, "gpu_time", 10)
    assert main(["compare", str(base), str(slow), "--fail-on-regression", "10", "--metric", "step_time"]) == 1
    assert "regression: step time 1002 -> 1302 us" in capsys.readouterr().err
    page = tmp_path / "c.html"
    assert main(["compare", str(base), str(slow), "--format", "html", "-o", str(page)]) == 0
    html = page.read_text()
    assert "CPU ops per profiled step" in html and ">aten::mm<" in html and "Kernels per profiled step" not in html
    mm = next(r for r in comp.ops if r["name"] == "aten::mm")  # no GPU recorded: its GPU time is unknown, not 0
    assert mm["gpu_total_us_baseline"] is None and mm["gpu_delta_us"] is None and mm["cpu_delta_us"] > 0
    assert main(["compare", str(base), str(slow)]) == 0
    text = capsys.readouterr().out
    assert "CPU delta us" in text and "GPU base us" not in text
    with_gpu = compare([write(tmp_path / "gpu.json.gz", base_trace())], [slow])  # one side has a GPU
    assert all(r["gpu_delta_us"] is None and r["gpu_total_us_candidate"] is None for r in with_gpu.ops)
    assert any(r["gpu_total_us_baseline"] for r in with_gpu.ops)
    many = compare([base, base], [slow, base])  # several inputs a side: each input's median step
    assert many.metric("step_time")["samples"] == [2, 2]
    from bambaprof.analysis import analyze

    a = analyze(base)
    assert a.summary["step_us"] == pytest.approx(1002.5) and [r["step"] for r in a.steps] == [
        "ProfilerStep#0", "ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3"]
    assert main(["analyze", str(base), "--table", "steps"]) == 0
    out = capsys.readouterr().out
    assert "ProfilerStep#3" in out and "1,005.0" in out
    assert main(["analyze", str(write(tmp_path / "plain.json.gz", base_trace())), "--table", "steps"]) == 0
    assert "no profiled steps in this trace" in capsys.readouterr().out
    assert a.steps[1]["start_us"] == pytest.approx(1005) and analyze(write(tmp_path / "none.json.gz", base_trace())
                                                                     ).summary["step_us"] is None


def test_different_workloads_and_noisy_baselines_are_flagged(tmp_path, capsys):
    a = make_run(tmp_path, "a", base_trace(), [2.5, 2.5, 2.6, 2.4, 360.0, 2.5, 2.5, 300.0, 2.6, 2.5])
    b = make_run(tmp_path, "b", base_trace(), [2.5] * 10)
    for run, workload, p10, p90 in ((a, "mixer", 2.4, 300.0), (b, "generate", 2.5, 2.5)):
        m = json.loads((run / "manifest.json").read_text())
        m["config"] = {"workload": workload, "batch": 1, "seq_len": 512, "preset": "tiny"}
        m["timings"]["latency_ms"].update({"p10": p10, "p90": p90, "n": 10})
        (run / "manifest.json").write_text(json.dumps(m))
    comp = compare([a], [b])
    assert any(w.startswith("the sides ran different things: baseline mixer b1 L512") for w in comp.warnings)
    assert any(w.startswith(f"baseline {a} is noisy: latency p90/p10 = 125.00") for w in comp.warnings)
    assert main(["compare", str(a), str(b)]) == 0
    err = capsys.readouterr().err
    assert "warning: the sides ran different things" in err
    assert main(["compare", str(a), str(b), "--format", "html"]) == 0
    assert 'class="warning">warning: the sides ran different things' in capsys.readouterr().out
    quiet = compare([b], [b])
    assert quiet.warnings == []


def _with_host(run, before, after):
    m = json.loads((run / "manifest.json").read_text())
    m["host"] = {"cpu_model": "Intel(R) Xeon(R) Processor", "logical_cpus": 16, "probe_before_us": before,
                 "probe_after_us": after}
    (run / "manifest.json").write_text(json.dumps(m))


def test_hosts_running_python_at_different_speeds_are_flagged(tmp_path):
    fast = make_run(tmp_path, "fast", base_trace(), [1.6] * 10)
    slow = make_run(tmp_path, "slow", base_trace(), [2.8] * 10)
    steady = make_run(tmp_path, "steady", base_trace(), [1.6] * 10)
    changed = make_run(tmp_path, "changed", base_trace(), [2.2] * 10)
    _with_host(fast, 1700.0, 1750.0)
    _with_host(slow, 3300.0, 3200.0)
    _with_host(steady, 1800.0, 1900.0)
    _with_host(changed, 1500.0, 2000.0)  # 1.33x within the run; its mean (1750 us) is the baseline's speed
    (warning,) = [w for w in compare([fast], [slow]).warnings if "speed" in w]
    assert warning == ("the hosts ran Python at different speeds: a fixed loop took 1.73 ms (baseline) -- 3.25 ms "
                       "(candidate), 1.88x; host-bound timings (eager decoding, small shapes) move with the host, "
                       "not only with the code")
    assert not [w for w in compare([fast], [steady]).warnings if "speed" in w]
    (within,) = [w for w in compare([fast], [changed]).warnings if "speed" in w]
    assert within == (f"candidate {changed}: the host's speed changed during the measurement (a fixed loop took "
                      "1.50 ms before, 2.00 ms after); its host-bound timings are not steady")
    bare = make_run(tmp_path, "bare", base_trace(), [1.6] * 10)  # a run from before the probe: nothing said
    assert not [w for w in compare([bare], [slow]).warnings if "speed" in w]


def test_runs_on_different_software_are_flagged(tmp_path):
    a = make_run(tmp_path, "a", base_trace(), [2.5] * 10)
    b = make_run(tmp_path, "b", base_trace(), [2.5] * 10)
    for run, torch_version, shortcut, scan, tf32 in ((a, "2.11.0", "off", "triton", "off"),
                                                    (b, "2.13.0", "on", "gluon_async", "on")):
        m = json.loads((run / "manifest.json").read_text())
        m["versions"] = {"torch": torch_version, "triton": "3.6.0", "launch_shortcut": shortcut, "ssd_scan": scan,
                         "matmul_tf32": tf32}
        (run / "manifest.json").write_text(json.dumps(m))
    (warning,) = [w for w in compare([a], [b]).warnings if "software" in w]
    assert warning == ("the sides ran different software (baseline -- candidate): torch 2.11.0 -- 2.13.0; "
                       "launch shortcut off -- on; ssd scan triton -- gluon_async; matmul tf32 off -- on")
    assert not any("software" in w for w in compare([a], [a]).warnings)


def test_empty_tables_are_not_printed(tmp_path, capsys):
    t = base_trace()
    t["traceEvents"] = [e for e in t["traceEvents"] if e.get("cat") not in ("kernel", "gpu_memcpy")]
    cpu = write(tmp_path / "cpu.json.gz", t)
    assert main(["compare", str(cpu), str(cpu)]) == 0
    out = capsys.readouterr().out
    assert "Kernels per profiled step" not in out and "CPU ops per profiled step" in out


def _with_clock(run, mean_mhz, reasons=()):
    m = json.loads((run / "manifest.json").read_text())
    m["telemetry"] = {"available": True, "summary": {"nvml": {
        "sm_clock_mhz": {"mean": mean_mhz, "max": 1980.0, "samples": 40}, "clock_event_reasons_seen": list(reasons)}}}
    (run / "manifest.json").write_text(json.dumps(m))


def test_gpus_at_different_clocks_are_flagged(tmp_path):
    full = make_run(tmp_path, "full", base_trace(), [1.6] * 10)
    capped = make_run(tmp_path, "capped", base_trace(), [1.9] * 10)
    near = make_run(tmp_path, "near", base_trace(), [1.6] * 10)
    _with_clock(full, 1980.0)
    _with_clock(capped, 1650.0, reasons=[0x4])  # the software power cap held the clock down
    _with_clock(near, 1900.0)  # 4% lower: within CLOCK_RATIO
    warnings = [w for w in compare([full], [capped]).warnings if "clock" in w]
    assert warnings == [
        "the GPUs ran at different clocks: SM clock 1,980 MHz (baseline) -- 1,650 MHz (candidate), 0.83x (NVML, "
        "means over the measured windows); compute-bound kernel times move with the clock, not only with the code",
        f"candidate {capped}: NVML reported the clocks held down during the measured window: software power cap; "
        "SM clock 1,650 MHz on average (max 1,980); the timings are slower than the device's rated clocks."]
    assert not [w for w in compare([full], [near]).warnings if "clock" in w]
    bare = make_run(tmp_path, "bare", base_trace(), [1.6] * 10)  # no telemetry (a CPU run, or NVML absent)
    assert not [w for w in compare([bare], [capped]).warnings if "different clocks" in w]
    nonsense = make_run(tmp_path, "nonsense", base_trace(), [1.6] * 10)
    _with_clock(nonsense, -5.0)  # a mean no clock can have is unknown, not a 400x gap
    assert not [w for w in compare([nonsense], [full]).warnings if "different clocks" in w]


def test_a_side_cut_short_is_flagged(tmp_path):
    """A trace cut short (read up to its last whole event) leaves out what ran after the cut: compare says
    which side it is, since its totals would look like an improvement."""
    a = write(tmp_path / "a.json", base_trace(), gz=False)
    text = a.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(text[:text.index(b'"gpu_memcpy"')])
    comp = compare([a], [cut])
    flagged = [w for w in comp.warnings if "cut short" in w]
    assert len(flagged) == 1 and flagged[0].startswith("candidate") and str(cut) in flagged[0]
    assert not [w for w in compare([a], [a]).warnings if "cut short" in w]


def test_modules_are_compared_per_step(tmp_path, capsys):
    from tests.analysis.test_modules import _with_modules

    a = write(tmp_path / "a.json.gz", _with_modules(base_trace()))
    b = write(tmp_path / "b.json.gz", slowed(_with_modules(base_trace())))
    modules = {r["module"]: r for r in compare([a], [b]).modules}
    assert modules["Net/Linear"]["delta_us"] == pytest.approx(2.0)  # its GEMM: 10 -> 12 us
    assert modules["Net/Block/Linear"]["delta_us"] == pytest.approx(2.2) and modules["Net"]["status"] == "changed"
    assert compare([write(tmp_path / "c.json.gz", base_trace())], [b]).modules[0]["status"] == "added"
    assert main(["compare", str(a), str(b), "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert "Modules per profiled step, by impact" in page and "Net/Block/Linear" in page
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    section = text.split("Modules (nn.Module calls, instance numbers folded) per profiled step, by impact\n")[1]
    assert [line.split()[0] for line in section.splitlines()[2:5]] == ["Net/Block/Linear", "Net/Linear", "Net"]
    assert "Phases (profiler ranges, layers summed) per profiled step" in text  # the range "outer"
    assert main(["compare", str(a), str(a)]) == 0
    assert "Modules (" not in capsys.readouterr().out  # nothing changed: no table


def test_ssd_steps_are_compared_whatever_their_implementation(tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    mamba = root / "tests" / "data" / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz"
    ours = root / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"
    steps = {r["step"]: r for r in compare([mamba], [ours]).ssd}
    assert steps["chunk scan"]["status"] == "changed" and steps["chunk scan"]["delta_us"] < 0
    assert steps["prep"]["status"] == "added" and steps["state passing"]["status"] == "removed"
    assert main(["compare", str(mamba), str(ours)]) == 0
    assert "SSD steps (kernels recognised by name) per profiled step, by impact" in capsys.readouterr().out
    assert main(["compare", str(mamba), str(ours), "--format", "html"]) == 0
    assert "SSD steps per profiled step, by impact" in capsys.readouterr().out


def test_the_gate_watches_a_part_of_the_run(tmp_path, capsys):
    """--metric phase:/module:/ssd:/kernel:GLOB gates on the GPU time per step of the matching rows."""
    from tests.analysis.test_modules import _with_modules

    a = write(tmp_path / "a.json.gz", _with_modules(base_trace()))
    slower_gemm = _with_modules(base_trace())
    for e in slower_gemm["traceEvents"]:
        if e.get("name") == "gemm_kernel":
            e["dur"] = 13.0  # 10 -> 13 us: +30%; the rest unchanged
    b = write(tmp_path / "b.json.gz", slower_gemm)
    comp = compare([a], [b])
    assert "+30.0%" in regression(comp, "kernel:gemm*", 20) and regression(comp, "kernel:gemm*", 40) is None
    assert regression(comp, "module:Net/Linear", 20).startswith("regression: GPU time of module Net/Linear")
    assert regression(comp, "module:Net/Block*", 1) is None  # the adds did not move
    assert regression(comp, "phase:outer", 10) is not None  # outer holds the GEMM: 25 -> 28 us, +12%
    for bad, says in (("kernel:nothing*", "no kernel of either side matches"), ("bogus", "unknown metric"),
                      ("phase:", "unknown metric")):
        with pytest.raises(UsageError, match=says):
            regression(comp, bad, 5)
    assert main(["compare", str(a), str(b), "--metric", "kernel:gemm*", "--fail-on-regression", "20"]) == 1
    assert "regression: GPU time of kernel gemm* (1 row(s)) 10 -> 13 us (+30.0%" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--metric", "ssd:*", "--fail-on-regression", "20"]) == 2
    assert "these inputs have no ssd table rows" in capsys.readouterr().err


def test_a_gate_that_matches_nothing_lists_names_with_line_breaks_escaped(tmp_path, capsys):
    """The one-line error of a part metric that matches nothing lists the kernels it could have meant, a name
    with a line break or an escape sequence written as its escapes, so that the list is not cut short."""
    t = base_trace()
    for e in t["traceEvents"]:
        if e.get("name") == "gemm_kernel":
            e["name"] = "gemm\nkernel\x1b[31m"
    a = write(tmp_path / "a.json.gz", t)
    assert main(["compare", str(a), str(a), "--metric", "kernel:nothing*", "--fail-on-regression", "5"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "\x1b" not in err  # one line, no raw escape character
    # the name as escapes, and the kernels sorted after it still listed
    assert "gemm\\nkernel\\x1b[31m, triton_poi_fused_add" in err


def test_findings_are_matched_across_sides_new_resolved_and_kept():
    """Each side's diagnosis, matched by id and, for findings raised per kernel, by kernel: one kernel's
    low-occupancy is not another's; the worst severity and the median time at stake of a side's inputs."""
    from types import SimpleNamespace

    from bambaprof.analysis.compare import Side, _finding_rows
    from bambaprof.render.html import render_comparison_page

    def an(*findings):
        return SimpleNamespace(findings=[{"id": i, "severity": sev, "message": f"{i} {sev}", "time_us": t,
                                          "evidence": [{"kernel": k}] if k else []} for i, sev, t, k in findings],
                               summary={"idle_host_wait_us": 0.0, "kernel_us": 1.0}, kernels=[], manifest=None)

    hostile = "<script>alert(1)</script>_kernel"
    base = Side("baseline", ["a", "b"], [an(("host-bound", "high", 100.0, None), ("low-occupancy", "low", 5.0, "k1")),
                                         an(("host-bound", "medium", 300.0, None))], [None, None])
    cand = Side("candidate", ["c"], [an(("low-occupancy", "medium", 9.0, hostile), ("low-occupancy", "low", 5.0, "k1"),
                                        ("host-bound", "low", float("nan"), None))], [None])
    rows = {(r["finding"], r["kernel"]): r for r in _finding_rows(base, cand)}
    assert [(r["finding"], r["status"]) for r in _finding_rows(base, cand)] == [
        ("low-occupancy", "new"), ("host-bound", "kept"), ("low-occupancy", "kept")]
    kept = rows[("host-bound", None)]
    assert kept["severity_baseline"] == "high" and kept["message"] == "host-bound low"  # the worst of each side
    assert kept["at_stake_baseline_us"] == pytest.approx(200.0) and kept["at_stake_candidate_us"] is None  # NaN: none
    assert (kept["inputs_baseline"], kept["inputs_candidate"]) == ("2/2", "1/1")
    assert rows[("low-occupancy", "k1")]["inputs_baseline"] == "1/2"
    gone = _finding_rows(cand, base)
    assert next(r for r in gone if r["kernel"] == hostile)["status"] == "resolved"
    comp = SimpleNamespace(baseline={"inputs": ["a"]}, candidate={"inputs": ["c"]}, summary=[], warnings=[], notes=[],
                           phases=[], modules=[], ssd=[], kernels=[], ops=[], findings=_finding_rows(base, cand))
    page = render_comparison_page(comp)
    assert "<h2>Findings" in page and hostile not in page and "&lt;script&gt;" in page


def test_the_gate_can_watch_for_new_findings(tmp_path, capsys):
    """--fail-on-new-finding SEVERITY: exit 1 on a candidate finding at that severity or worse that the baseline
    did not have (or had below it); a finding only resolved, or kept at its level, passes."""
    from types import SimpleNamespace

    from bambaprof.analysis.compare import new_finding

    def row(finding, base, cand, kernel=None):
        return {"finding": finding, "kernel": kernel, "severity_baseline": base, "severity_candidate": cand}

    comp = SimpleNamespace(findings=[row("host-bound", None, "medium"), row("low-occupancy", "low", "high", "k<1>"),
                                     row("far-from-roofline", "high", None), row("ssd-core", "medium", "medium")])
    assert new_finding(comp, "high") == "new finding in the candidate at high or worse: low-occupancy (k<1>), high (was low)"
    assert new_finding(comp, "medium").endswith("host-bound, medium; low-occupancy (k<1>), high (was low)")
    assert new_finding(SimpleNamespace(findings=comp.findings[2:]), "low") is None  # resolved or kept: no gate
    from pathlib import Path

    runs = Path(__file__).parents[2] / "traces" / "examples"
    triton, default = (str(next(runs.glob(f"bamba-9b-{v}-none-mixer-b1-L512-*"))) for v in ("triton", "default"))
    assert main(["compare", triton, default, "--fail-on-new-finding", "high"]) == 1
    assert "far-from-roofline, high" in capsys.readouterr().err
    assert main(["compare", default, triton, "--fail-on-new-finding", "high", "--format", "json", "-o",
                 str(tmp_path / "c.json")]) == 1
    payload = json.loads((tmp_path / "c.json").read_text())
    assert payload["regression"].startswith("new finding") and {r["status"] for r in payload["findings"]} == {
        "new", "resolved"}
    assert main(["compare", triton, triton, "--fail-on-new-finding", "low"]) == 0  # the same run: all kept
    assert main(["compare", triton, default, "--fail-on-new-finding", "severe"]) == 2


def test_a_side_without_the_host_judges_no_host_finding(tmp_path, capsys):
    """The real H200 mamba_ssm mixer against its own kernels alone (the host side not recorded): host-bound is
    `not judged`, not resolved; CPU ops and phases are not compared (not `removed`), a warning says why; the gate
    does not call a finding new that the baseline could not judge. A per-kernel finding about a kernel that no
    longer runs is resolved."""
    import gzip
    from pathlib import Path
    from types import SimpleNamespace

    from bambaprof.analysis.compare import NOT_JUDGED, new_finding
    from bambaprof.diagnose.rules import can_judge

    real = Path(__file__).resolve().parents[1] / "data" / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz"
    trace = json.loads(gzip.decompress(real.read_bytes()))
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e.get("cat") == "kernel" or e.get("ph") == "M"]
    gpu_only = write(tmp_path / "gpu-only.json.gz", trace)
    comp = compare([real], [gpu_only])
    status = {r["finding"]: r["status"] for r in comp.findings}
    assert status["host-bound"] == NOT_JUDGED and status["idle-unexplained"] == "new" and status["ssd-core"] == "kept"
    assert comp.ops == [] and comp.phases == [] and comp.modules == [] and comp.ssd
    assert any(w.startswith("the candidate's inputs hold no CPU ops or ranges beside their GPU work (GPU activity "
                            "alone)") and w.endswith("not judged for it") for w in comp.warnings)
    # which tables were left out, and the warning saying why, as a record (a gate on an empty table names it)
    assert set(comp.not_compared) == {"ops", "phases", "modules"}
    assert comp.not_compared["phases"] in comp.warnings and comp.to_dict()["not_compared"] == comp.not_compared
    from bambaprof.analysis.compare import part_metric
    from bambaprof.errors import UsageError

    with pytest.raises(UsageError, match="GPU activity alone"):
        part_metric(comp, "phase:*")
    back = compare([gpu_only], [real])
    assert {r["finding"]: r["status"] for r in back.findings}["host-bound"] == NOT_JUDGED
    assert new_finding(back, "high") is None  # host-bound (high) in the candidate: the baseline could not judge it
    assert main(["compare", str(gpu_only), str(real), "--fail-on-new-finding", "high"]) == 0
    assert "not judged" in capsys.readouterr().out
    gone = SimpleNamespace(summary={"kernel_us": 1.0}, kernels=[], manifest=None, ncu=None)
    assert can_judge(gone, "low-occupancy", "k") and not can_judge(gone, "warp-stalls", None)
    assert not can_judge(gone, "throttled") and can_judge(gone, "fusion-candidate")


def test_allocation_idle_gates_memory_calls_that_crept_into_the_steps(tmp_path):
    """A candidate that calls cudaFree/cudaMalloc in its steps (synthetic: the free begun as base_trace's kernels
    ran, then the GPU gap to 106) against one that does not: the GPU idle in those calls per step, none in the
    baseline, is a regression."""
    from tests.analysis.synth import _rt, base_trace, write

    clean = write(tmp_path / "clean.json.gz", base_trace())
    t = base_trace()
    t["traceEvents"] += [_rt("cudaFree", 42, 10, 90), _rt("cudaMalloc", 70, 10, 91)]
    churn = write(tmp_path / "churn.json.gz", t)
    comp = compare([str(clean)], [str(churn)])
    row = comp.metric("allocation_idle")
    assert row["baseline"] == 0.0 and row["candidate"] == pytest.approx(61.0)  # from 45 to the memcpy at 106
    assert regression(comp, "allocation_idle", 5.0) == ("regression: GPU idle in memory allocation calls 0 -> 61 us "
                                                        "(none in the baseline, threshold 5%)")
    assert regression(compare([str(churn)], [str(clean)]), "allocation_idle", 5.0) is None
    assert any(f["finding"] == "allocation-stall" and f["status"] == "new" for f in comp.findings)


def test_copy_time_compares_the_copies_on_the_device():
    """mamba_ssm's mixer eager against compiled (H200): inductor fused the 207 us of casts and layout copies away."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    eager, compiled = (str(data / f"h200-mamba-ssd-mixer-{m}-b1-L512.json.gz") for m in ("eager", "compiled-default"))
    comp = compare([eager], [compiled])
    row = comp.metric("copy_time")
    assert row["baseline"] == pytest.approx(207.008) and row["candidate"] == 0.0
    assert regression(comp, "copy_time", 5.0) is None  # fewer copies: no regression
    back = compare([compiled], [eager])  # none in the baseline: any copies are a regression, with no percentage
    assert regression(back, "copy_time", 5.0) == ("regression: copies on the device 0 -> 207 us (none in the "
                                                 "baseline, threshold 5%)")
    assert regression(compare([compiled], [compiled]), "copy_time", 5.0) is None  # none before, none now
    with pytest.raises(UsageError, match="'gpu_time' is unknown on a side, or zero in the baseline"):
        cpu = compare([eager], [compiled])
        cpu.metric("gpu_time")["candidate"] = None
        regression(cpu, "gpu_time", 5.0)
