"""Run directories from the runner: contents, failures, resume, interruptions, telemetry."""

import functools
import gzip
import json
import sys
import types

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.trace import load_trace
from bambaprof.collect import run_matrix, run_one
from bambaprof.run import RunConfig, read_manifest, summary_rows
from bambaprof.run import RunConfig as Cfg
from bambaprof.ssm import Variant
from bambaprof.ssm.chunked import chunked_forward, chunked_step
from tests.collect.fake_nvml import FakeBackend, NanBackend

QUICK = dict(warmup=1, iters=3, profile_warmup=0, profile_active=1, seq_len=32)


def test_run_id_is_readable_and_stable():
    cfg = Cfg(variant="pkg.mod:attr", workload="prefill", batch=2, seq_len=100)
    rid = cfg.run_id()
    assert rid.startswith("tiny-pkg.mod_attr-none-prefill-b2-L100-") and len(rid.split("-")[-1]) == 8
    assert rid == Cfg(variant="pkg.mod:attr", workload="prefill", batch=2, seq_len=100).run_id()
    assert rid != Cfg(variant="pkg.mod:attr", workload="prefill", batch=2, seq_len=100, seed=1).run_id()


@pytest.mark.parametrize("workload", ["mixer", "prefill", "generate"])
def test_run_directory_is_complete_and_analysable(tmp_path, workload):
    cfg = RunConfig(workload=workload, new_tokens=4, **QUICK)
    rec = run_one(cfg, tmp_path, command="test")
    assert rec.status == "ok", rec.error
    m = read_manifest(rec.path)
    assert m.schema_version == 2 and m.kind == "profile" and m.name == rec.run_id and m.run_id == rec.path.name == cfg.run_id()
    assert m.config.workload == workload and m.model["num_hidden_layers"] == 3
    assert len(m.timings.iteration_ms) == 3 and m.timings.latency_ms.median > 0
    assert m.timings.throughput_tokens_per_s > 0
    assert m.host.probe_before_us > 0 and m.host.probe_after_us > 0 and m.host.logical_cpus > 0  # the host's speed
    assert m.telemetry.to_dict() == {"available": False, "notice": "telemetry unavailable: the run is on the CPU",
                              "gpm": False, "summary": {"nvml": None, "gpm": None}}
    files = m.files.to_dict()
    assert files.pop("log") in (None, "bambaprof/log.txt")  # what the libraries printed (Kineto's session lines)
    assert files == {"trace": "rank0.pt.trace.json.gz", "telemetry": None, "launch_map": None,
                     "inductor_kernels": None}
    # trace tools read every *.json / *.gz of the folder as a trace: only the trace is there, with a rank
    assert sorted(p.name for p in rec.path.iterdir()) == ["bambaprof", "rank0.pt.trace.json.gz"]
    with gzip.open(rec.path / "rank0.pt.trace.json.gz") as fh:
        assert json.load(fh)["distributedInfo"]["rank"] == 0
    assert m.profile.clock_offset_us is not None
    assert m.versions.torch and m.command == "test"
    if workload == "generate":
        assert m.timings.ttft_ms.n == 3 and m.timings.inter_token_ms.n == 3 * 3
    a = analyze(rec.path)
    assert a.summary["run_dir"] == str(rec.path) and a.summary["events"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_telemetry_with_a_fake_nvml_backend(tmp_path):
    # analyze summarises the samples inside the trace's span: one tiny prefill lasts ~5 ms on the CPU,
    # about one sampling interval, so profile enough iterations (~50 ms) that samples surely fall inside
    cfg = RunConfig(workload="prefill", sample_interval_ms=2, **{**QUICK, "iters": 20, "profile_active": 10})
    rec = run_one(cfg, tmp_path, backend_factory=functools.partial(FakeBackend, watts=250.0))
    m = rec.manifest
    assert m.telemetry.available and m.telemetry.gpm
    assert m.files.telemetry == "bambaprof/telemetry.json.gz"
    assert m.device.peak_bandwidth_source == "nvml"
    assert m.energy.joules > 0 and m.energy.joules_per_token > 0
    with gzip.open(rec.path / "bambaprof/telemetry.json.gz", "rt") as fh:
        tel = json.load(fh)
    assert tel["clock"] == "trace_us" and len(tel["nvml"]["t_us"]) == len(tel["nvml"]["power_w"]) > 0
    # the samples sit on the trace's clock: within the run's span on it
    a = analyze(rec.path)
    assert a.telemetry["nvml.power_w"]["samples"] >= 1 and a.telemetry["nvml.power_w"]["mean"] == 250.0


def test_what_a_short_window_cannot_measure_is_unknown(tmp_path):
    # 3 iterations of a tiny prefill: milliseconds, shorter than one GPM interval (100 ms), and an energy
    # counter that has not moved; both are unknown (null) with a warning, never 0
    rec = run_one(RunConfig(workload="prefill", telemetry_window_ms=0, **QUICK), tmp_path,
                  backend_factory=functools.partial(FakeBackend, frozen_energy=True))
    m = rec.manifest
    assert rec.status == "ok" and m.energy is None
    assert m.telemetry.summary.gpm.dram_bw_util_pct.to_dict() == {"mean": None, "max": None, "samples": 0}
    assert any("energy counter did not advance" in w for w in m.warnings)
    assert any("no whole GPM interval" in w for w in m.warnings)
    assert summary_rows([rec])[0]["joules_per_token"] is None


def test_the_telemetry_window_is_extended_by_untimed_iterations(tmp_path):
    rec = run_one(RunConfig(workload="mixer", telemetry_window_ms=600, **QUICK), tmp_path,
                  backend_factory=FakeBackend)
    m = rec.manifest
    assert len(m.timings.iteration_ms) == 3  # the timing statistics keep the measured iterations only
    assert m.energy.window_ms >= 600 and m.energy.iterations > 3
    assert m.energy.joules_per_token == pytest.approx(
        m.energy.joules / (m.energy.iterations * QUICK["seq_len"]))
    assert m.telemetry.summary.gpm.dram_bw_util_pct.samples >= 2
    assert not any("GPM" in w or "energy" in w for w in m.warnings)


def test_nvml_unavailable_is_a_notice_not_a_failure(tmp_path):
    rec = run_one(RunConfig(**QUICK), tmp_path, backend_factory=functools.partial(FakeBackend, fail_open=True))
    assert rec.status == "ok"
    assert rec.manifest.telemetry.notice == "telemetry unavailable: NVML cannot be used: Driver Not Loaded"


def _broken_module(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    mod = types.ModuleType("broken_ssd_mod")
    mod.V = Variant(name="broken", forward=boom, step=chunked_step)
    mod.OK = Variant(name="fine", forward=chunked_forward, step=chunked_step)
    monkeypatch.setitem(sys.modules, "broken_ssd_mod", mod)


def test_failed_configurations_are_recorded_and_others_go_on(tmp_path, monkeypatch):
    _broken_module(monkeypatch)
    cfgs = [RunConfig(variant="default", **QUICK), RunConfig(variant="broken_ssd_mod:V", **QUICK),
            RunConfig(variant="nope", **QUICK)]
    records = run_matrix(cfgs, tmp_path)
    assert [r.status for r in records] == ["ok", "failed", "failed"]
    assert records[1].error == "RuntimeError: CUDA out of memory (simulated)"
    assert "unknown variant 'nope'" in records[2].error
    m = read_manifest(records[1].path)
    assert m.status == "failed" and m.files.trace is None and m.files.telemetry is None
    assert not (records[1].path / "rank0.pt.trace.json.gz").exists()
    rows = summary_rows(records)
    assert rows[0]["vs_baseline"] == 1.0 and rows[1]["latency_ms"] is None


def test_resume_skips_completed_runs_and_retries_failed_ones(tmp_path, monkeypatch):
    _broken_module(monkeypatch)
    cfgs = [RunConfig(variant="default", **QUICK), RunConfig(variant="broken_ssd_mod:V", **QUICK)]
    first = run_matrix(cfgs, tmp_path)
    created = read_manifest(first[0].path).created
    again = run_matrix(cfgs, tmp_path, resume=True)
    assert [r.status for r in again] == ["skipped (done)", "failed"]
    assert read_manifest(first[0].path).created == created
    assert summary_rows(again)[0]["latency_ms"] == first[0].manifest.timings.latency_ms.median


def test_an_interrupted_run_leaves_no_directory(tmp_path, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    mod = types.ModuleType("interrupting_mod")
    mod.V = Variant(name="int", forward=interrupt, step=chunked_step)
    monkeypatch.setitem(sys.modules, "interrupting_mod", mod)
    with pytest.raises(KeyboardInterrupt):
        run_one(RunConfig(variant="interrupting_mod:V", **QUICK), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_cleaned_but_never_a_live_runs(tmp_path):
    import os
    import socket
    import subprocess

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / ".tmp-killed-run-abc123"
    killed.mkdir()
    (killed / ".owner").write_text(f"{socket.gethostname()} {dead.pid}\n")
    live = tmp_path / ".tmp-live-run-def456"  # another process writing into the same folder right now
    live.mkdir()
    (live / ".owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    old = tmp_path / ".tmp-old-format-0a0a0a"  # no owner file: stale once untouched for hours
    old.mkdir()
    os.utime(old, (0, 0))
    run_matrix([RunConfig(**QUICK)], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([RunConfig(**QUICK).run_id(), live.name])


def test_compiled_run_records_compilation(tmp_path):
    rec = run_one(RunConfig(compile="default", workload="mixer", **QUICK), tmp_path)
    assert rec.status == "ok", rec.error
    c = rec.manifest.compile
    assert c.mode == "default" and c.frames_compiled >= 1 and c.first_call_ms > 0
    assert c.compile_time_ms is not None and c.recompiles_during_measurement == 0


def test_nan_from_nvml_becomes_null(tmp_path):
    rec = run_one(RunConfig(workload="prefill", sample_interval_ms=5, **{**QUICK, "iters": 30}), tmp_path,
                  backend_factory=NanBackend)
    assert rec.status == "ok", rec.error
    with gzip.open(rec.path / "bambaprof/telemetry.json.gz", "rt") as fh:
        tel = json.load(fh)
    assert set(tel["nvml"]["power_w"]) == {None}


def test_analyze_on_a_failed_run_says_so(tmp_path, monkeypatch):
    from bambaprof.analysis.source import TraceError

    _broken_module(monkeypatch)
    rec = run_one(RunConfig(variant="broken_ssd_mod:V", **QUICK), tmp_path)
    with pytest.raises(TraceError, match="the run failed and has no trace .RuntimeError: CUDA out of memory"):
        analyze(rec.path)


def test_launch_map_step_profiles_the_same_workload(tmp_path):
    # on the CPU no run replays CUDA graphs, so the runner never calls it: exercise the step itself
    from bambaprof.collect.runner import _record_launch_map
    from bambaprof.model.config import preset

    cfg = RunConfig(workload="mixer", **QUICK)
    out = tmp_path / "launch-map.json.gz"
    warnings: list = []
    assert _record_launch_map(cfg, preset(cfg.preset, dtype=cfg.dtype), out, warnings) and not warnings
    trace = load_trace(out)
    assert "in_proj" in trace.ops.name and trace.ops.shapes_recorded


def test_a_failing_launch_map_is_a_warning(tmp_path):
    from bambaprof.collect.runner import _record_launch_map
    from bambaprof.model.config import preset

    cfg = RunConfig(workload="mixer", **{**QUICK, "variant": "nope"})
    out = tmp_path / "launch-map.json.gz"
    warnings: list = []
    assert not _record_launch_map(cfg, preset(cfg.preset, dtype=cfg.dtype), out, warnings)
    assert not out.exists() and warnings[0].startswith("no launch map (")
