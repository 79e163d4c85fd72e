"""``bambaprof.record``: a user's own model profiled step by step into a run directory."""

import functools
import json
import time

import pytest
import torch

import bambaprof
from bambaprof.errors import UsageError
from bambaprof.run import read_manifest
from tests.collect.fake_nvml import FakeBackend


class TwoLayers(torch.nn.Module):
    """Not one of bambaprof's models: a user's module."""

    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(32, 128)
        self.down = torch.nn.Linear(128, 32)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


def test_a_user_module_is_recorded_and_analysed(tmp_path):
    model, x = TwoLayers(), torch.randn(16, 32)
    with bambaprof.record("my model", out=tmp_path, tokens_per_step=16, device="cpu") as run:
        assert run.path is None  # not there before the block ends
        for _ in range(8):
            model(x)
            run.step()
    assert run.path is not None and run.path.parent == tmp_path and run.path.name.startswith("my_model-")
    m = read_manifest(run.path)
    assert m.kind == "record" and m.name == "my model" and m.status == "ok" and m.config is None
    assert m.timings.profiled_steps == [1, 2] and len(m.timings.warmup_ms) == 1
    assert len(m.timings.iteration_ms) == 5 and all(t > 0 for t in m.timings.iteration_ms)  # steps 3..7
    assert m.timings.latency_ms.n == 5 and m.timings.throughput_tokens_per_s > 0
    assert m.telemetry.available is False and m.telemetry.notice == "telemetry unavailable: the run is on the CPU"
    assert m.device.kind == "cpu" and m.files.trace == "rank0.pt.trace.json.gz" and m.profile.clock_offset_us is not None
    assert m.host.probe_before_us > 0 and m.host.probe_after_us > 0 and m.host.logical_cpus > 0  # the host's speed
    a = bambaprof.analyze(run.path)
    names = {o["name"] for o in a.ops}
    assert {"aten::linear", "aten::gelu"} <= names and "ProfilerStep#1" not in names  # a step, not an op
    ranges = {n for n, c in zip(*(lambda t: (t.ops.name, t.ops.cat))(bambaprof.load_trace(run.path)))
              if c == "user_annotation"}
    assert {"ProfilerStep#1", "ProfilerStep#2"} <= ranges  # each profiled step is marked as torch marks steps
    assert a.manifest.name == "my model"
    # the readers treat it like any run: compare and report
    assert bambaprof.compare(run.path, run.path).metric("latency")["ratio"] == 1.0
    out = bambaprof.report([run.path], tmp_path / "r.html")
    assert "my model" in out.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_body_raising_leaves_a_failed_run_and_the_exception_propagates(tmp_path):
    with pytest.raises(ValueError, match="planted"):
        with bambaprof.record("broken", out=tmp_path, device="cpu") as run:
            for _ in range(4):
                torch.ones(8).sum()
                run.step()
            raise ValueError("planted")
    m = read_manifest(run.path)
    assert m.status == "failed" and m.error == "ValueError: planted" and m.files.trace is None
    assert not (run.path / "rank0.pt.trace.json.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == [run.path.name]


def test_an_interrupt_leaves_no_directory(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with bambaprof.record("stopped", out=tmp_path, device="cpu") as run:
            run.step()
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [] and run.path is None


def test_when_every_step_is_profiled_the_timings_say_so(tmp_path):
    with bambaprof.record("short", out=tmp_path, warmup=0, profile_steps=2, device="cpu") as run:
        for _ in range(2):
            torch.ones(64).cumsum(0)
            run.step()
    m = read_manifest(run.path)
    assert len(m.timings.iteration_ms) == 2 and m.timings.profiled_steps == [0, 1]
    assert any("ran under the profiler" in w for w in m.warnings)


def test_telemetry_through_a_fake_nvml_backend(tmp_path):
    with bambaprof.record("nvml", out=tmp_path, tokens_per_step=4, sample_interval_ms=2, device="cpu",
                          backend_factory=functools.partial(FakeBackend, watts=200.0)) as run:
        for _ in range(30):
            torch.randn(64, 64) @ torch.randn(64, 64)
            time.sleep(0.003)  # the 27 measured steps span ~80 ms: samples every 2 ms surely fall inside
            run.step()
    m = read_manifest(run.path)
    assert m.telemetry.available and m.files.telemetry == "bambaprof/telemetry.json.gz"
    assert m.energy is not None and m.energy.joules > 0 and m.energy.iterations == 27  # after the 2 profiled
    assert m.telemetry.summary.nvml.power_w.samples >= 1
    assert json.loads(__import__("gzip").open(run.path / "bambaprof/telemetry.json.gz").read())["clock"] == "trace_us"


@pytest.mark.parametrize("kwargs,message", [
    (dict(name=" "), "non-empty name"), (dict(name="x", warmup=-1), "not negative"),
    (dict(name="x", profile_steps=1.5), "must be whole numbers"),
    (dict(name="x", tokens_per_step=0), "tokens_per_step must be a positive, finite number"),
    (dict(name="x", tokens_per_step=float("nan")), "not nan"),
    (dict(name="x", device="nosuch"), "device 'nosuch' is not a device here"),
    (dict(name="x", device="cuda:x"), "is not a device here"),
    (dict(name="x", sample_interval_ms=0), "sample_interval_ms must be positive and finite"),
    (dict(name="x", gpm_interval_ms="fast"), "gpm_interval_ms must be a number"),
])
def test_bad_arguments_are_usage_errors(tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        bambaprof.record(out=tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_any_name_makes_a_plain_directory_and_a_run_without_steps_says_so(tmp_path):
    for name in ("../../up", "a/b", "x" * 5000):
        with bambaprof.record(name, out=tmp_path, warmup=0, profile_steps=0) as run:
            run.step()
        assert run.path.parent == tmp_path and not run.path.name.startswith(".")
        assert len(run.path.name) < 120 and run.manifest.name == name  # the manifest keeps the whole name
    with bambaprof.record("nothing", out=tmp_path) as run:
        pass
    with pytest.raises(bambaprof.BambaprofError, match="the run recorded no trace .no step ran under the profiler"):
        bambaprof.analyze(run.path)


@pytest.mark.gpu
def test_record_on_cuda_times_steps_with_events_and_samples_nvml(tmp_path):
    model = TwoLayers().cuda().to(torch.bfloat16)
    x = torch.randn(4096, 32, device="cuda", dtype=torch.bfloat16)
    with bambaprof.record("cuda-model", out=tmp_path, tokens_per_step=4096) as run:
        for _ in range(3):  # warm-up and the two profiled steps
            model(x)
            run.step()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2:  # measured steps: long enough for GPM's 100 ms and the energy counter
            for _ in range(50):
                model(x)
            run.step()
    m = read_manifest(run.path)
    assert m.status == "ok" and m.device.kind == "cuda" and m.memory.peak_allocated_bytes > 0
    # the same shapes every measured step: the caching allocator asked the driver for nothing
    assert (m.memory.device_allocs_measured, m.memory.device_frees_measured, m.memory.alloc_retries_measured) == (0, 0, 0)
    assert m.timings.latency_ms.n >= 3 and m.timings.latency_ms.median > 0
    assert m.telemetry.available, m.telemetry.notice
    assert m.energy is not None and m.energy.joules > 0 and m.energy.joules_per_token > 0, m.warnings
    assert m.telemetry.summary.nvml.power_w.samples >= 10  # 1.2 s of measured steps, sampled every 20 ms
    assert m.telemetry.summary.gpm is None or m.telemetry.summary.gpm.sm_occupancy_pct.samples >= 5
    a = bambaprof.analyze(run.path)
    assert a.summary["kernel_count"] > 0 and a.summary["gpu_busy_us"] > 0
