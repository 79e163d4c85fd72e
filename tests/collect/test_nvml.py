"""The NVML sampler's logic, on a fake backend."""

import time

import pytest

from bambaprof.collect.nvml import NvmlSampler, to_trace_clock, window_stats
from tests.collect.fake_nvml import FakeBackend


def test_samples_at_interval_with_gpm_at_100ms_or_slower():
    backend = FakeBackend()
    s = NvmlSampler(backend, interval_s=0.01, gpm_interval_s=0.02).start()
    time.sleep(0.45)
    s.stop()
    n = len(s.nvml["t_ns"])
    assert 10 <= n <= 60  # ~45 at 10 ms; a loaded 2-core CI machine delays some
    assert s.gpm_interval_s == 0.1  # clamped: GPM at most every 100 ms
    assert 2 <= len(s.gpm["t_ns"]) <= 5
    assert s.gpm["dram_bw_util_pct"][0] == 55.0 and s.gpm["tensor_util_pct"][0] is None
    assert all(b > a for a, b in zip(s.nvml["t_ns"], s.nvml["t_ns"][1:]))
    assert s.nvml["power_w"][0] == 300.0
    assert backend.freed  # GPM samples are released
    assert s.errors == []


def test_without_gpm_support_only_nvml_is_sampled():
    s = NvmlSampler(FakeBackend(gpm=False), interval_s=0.01).start()
    time.sleep(0.15)
    s.stop()
    assert s.nvml["t_ns"] and not s.gpm["t_ns"]
    assert s.columns()["gpm"] is None


def test_repeated_read_failures_stop_the_sampler_with_one_error():
    s = NvmlSampler(FakeBackend(fail_reads_after=3), interval_s=0.005).start()
    time.sleep(0.2)
    assert not s._thread.is_alive()
    s.stop()
    assert len(s.nvml["t_ns"]) == 3 and s.errors == ["NVML read failed: GPU is lost"]


def test_columns_are_on_the_trace_clock():
    s = NvmlSampler(FakeBackend(gpm=False), interval_s=0.01)
    s.nvml["t_ns"] = [1_000_000, 2_000_000]
    s.nvml["power_w"] = [100.0, 200.0]
    cols = s.columns(offset_us=5_000.0)
    assert cols["nvml"]["t_us"] == [6_000.0, 7_000.0] and cols["clock"] == "trace_us"
    assert to_trace_clock([0], 1.5) == [1.5]


def test_window_stats():
    cols = {"t_ns": [0, 10, 20, 30], "power_w": [1.0, 2.0, None, 4.0]}
    assert window_stats(cols, "power_w", 5, 30) == {"mean": 3.0, "max": 4.0, "samples": 2}
    assert window_stats(cols, "power_w", 100, 200) == {"mean": None, "max": None, "samples": 0}


def test_interval_samples_count_only_when_their_whole_interval_is_inside():
    gpm = {"t_ns": [50, 150, 251], "span_ns": [100, 100, 101], "sm_occupancy_pct": [10.0, 20.0, 30.0]}
    assert window_stats(gpm, "sm_occupancy_pct", 0, 100)["mean"] == 10.0
    assert window_stats(gpm, "sm_occupancy_pct", 10, 400) == {"mean": 25.0, "max": 30.0, "samples": 2}
    assert window_stats(gpm, "sm_occupancy_pct", 200, 302)["samples"] == 1  # 201 .. 302
    assert window_stats(gpm, "sm_occupancy_pct", 200, 301)["samples"] == 0
    assert window_stats(gpm, "sm_occupancy_pct", 0, 90)["samples"] == 0  # shorter than an interval


def test_gpm_columns_carry_each_interval_length():
    s = NvmlSampler(FakeBackend(), interval_s=0.01, gpm_interval_s=0.1).start()
    time.sleep(0.35)
    s.stop()
    assert len(s.gpm["span_ns"]) == len(s.gpm["t_ns"]) >= 2
    assert all(span >= 0.1e9 for span in s.gpm["span_ns"])
    cols = s.columns()
    assert cols["gpm"]["span_us"] == [v / 1e3 for v in s.gpm["span_ns"]] and "span_ns" not in cols["gpm"]


def test_bad_interval():
    with pytest.raises(ValueError):
        NvmlSampler(FakeBackend(), interval_s=0)


def test_process_sampler_samples_in_a_child_process():
    import functools
    import os

    from bambaprof.collect.nvml import ProcessSampler

    s = ProcessSampler(functools.partial(FakeBackend, watts=123.0), interval_s=0.01).start()
    assert s._proc.pid != os.getpid()
    time.sleep(0.3)
    s.stop()
    assert len(s.nvml["t_ns"]) >= 5 and set(s.nvml["power_w"]) == {123.0}
    assert s.gpm_available and s.gpm["t_ns"]
    # the child's monotonic clock is this process's
    assert abs(s.nvml["t_ns"][-1] - time.monotonic_ns()) < 2e9


def test_process_sampler_reports_an_unavailable_backend():
    import functools

    from bambaprof.collect.nvml import NvmlUnavailable, ProcessSampler

    with pytest.raises(NvmlUnavailable, match="Driver Not Loaded"):
        ProcessSampler(functools.partial(FakeBackend, fail_open=True)).start()


def test_nvml_follows_cuda_visible_devices(monkeypatch):
    from bambaprof.collect.nvml import PynvmlBackend, visible_device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert visible_device() == "1" and PynvmlBackend().device == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8c3a")
    assert PynvmlBackend().device == "GPU-8c3a"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert PynvmlBackend().device == "0" and PynvmlBackend(3).device == "3"


def test_a_run_on_another_gpu_samples_that_gpu(monkeypatch):
    """``--device cuda:1`` must sample NVML's device for torch's index 1 (through CUDA_VISIBLE_DEVICES), not
    the first visible GPU: clocks, power, energy and GPM of the wrong GPU would be reported as the run's."""
    from bambaprof.bench import ssd as bench
    from bambaprof.collect import measure, nvml
    from bambaprof.collect.nvml import NvmlUnavailable, nvml_device

    monkeypatch.setattr(nvml, "torch_device_uuid", lambda index: None)  # torch without a UUID: by index
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [nvml_device(d) for d in ("cuda", "cuda:0", "cuda:1", "cuda:3")] == ["0", "0", "1", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, GPU-8c3a")
    assert [nvml_device(d) for d in ("cuda", "cuda:1")] == ["2", "GPU-8c3a"]
    assert nvml_device("cuda:5") == "5"  # past the list: torch would refuse the device itself

    opened = []

    class Recorder:
        def __init__(self, device=None):
            self.device = device

        def open(self):
            opened.append(self.device)
            raise NvmlUnavailable("recorded")

        def close(self):
            pass

    monkeypatch.setattr(measure, "PynvmlBackend", Recorder)
    telemetry = measure.Telemetry("cuda:1")
    assert opened == ["GPU-8c3a"] and telemetry.sampler is None and "recorded" in telemetry.notice

    factories = []

    class FakeSampler:
        def __init__(self, factory, *a, **k):
            factories.append(factory)

        def start(self):
            raise NvmlUnavailable("not here")

    monkeypatch.setattr(nvml, "ProcessSampler", FakeSampler)
    assert bench._start_clock_sampler("cuda:1") is None and factories[0]().device == "GPU-8c3a"


def test_nvml_device_goes_by_uuid_where_nvml_knows_it(monkeypatch):
    """Torch may number GPUs fastest first while NVML goes by PCI bus: where torch reports a device's UUID and
    NVML opens it, that UUID names the device, whatever the index or ``CUDA_VISIBLE_DEVICES`` say; a UUID NVML
    does not know (a MIG instance) falls back to the index."""
    from bambaprof.collect import nvml

    uuids = {0: "GPU-bbbb", 1: "GPU-aaaa"}
    monkeypatch.setattr(nvml, "torch_device_uuid", uuids.get)
    monkeypatch.setattr(nvml, "nvml_knows", lambda identity: identity == "GPU-aaaa")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert nvml.nvml_device("cuda:1") == "GPU-aaaa"
    assert nvml.nvml_device("cuda:0") == "0"  # NVML does not know GPU-bbbb
    assert nvml.nvml_device("cuda:7") == "7"  # no such device: no UUID


def test_torch_device_uuid_off_cuda_is_unknown():
    import torch

    from bambaprof.collect.nvml import torch_device_uuid

    if not torch.cuda.is_available():
        assert torch_device_uuid(0) is None
    assert torch_device_uuid(10_000) is None


@pytest.mark.gpu
def test_nvml_device_is_the_gpu_torch_runs_on():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from bambaprof.collect.nvml import NvmlUnavailable, PynvmlBackend, nvml_device

    identity = nvml_device("cuda")
    backend = PynvmlBackend(identity)
    try:
        backend.open()
    except NvmlUnavailable as exc:
        pytest.skip(f"NVML unavailable: {exc}")
    try:
        info = backend.device_info()
    finally:
        backend.close()
    assert identity.startswith("GPU-") and info["uuid"] == identity
    assert info["name"] == torch.cuda.get_device_name(0)
    assert info["pcie_link_generation"] in (3, 4, 5, 6) and info["pcie_link_width"] in (1, 2, 4, 8, 16)
    assert info["pcie_gbps"] > 0


def test_pcie_link_rate():
    from bambaprof.collect.nvml import pcie_gbps

    assert round(pcie_gbps(5, 16), 1) == 63.0 and round(pcie_gbps(4, 16), 1) == 31.5
    assert round(pcie_gbps(3, 8), 2) == 7.88 and pcie_gbps(1, 1) == 0.25
    for generation, width in ((7, 16), (None, 16), (5, None), (5, 0), ("5", 16)):
        assert pcie_gbps(generation, width) is None


def test_device_info_reads_the_pcie_link_and_survives_its_absence():
    """NVML's answers, from a stand-in module: the link the device and slot can train to, and its rate; a driver
    without the calls (or a device without PCIe) leaves them unknown."""
    from types import SimpleNamespace

    from bambaprof.collect.nvml import PynvmlBackend
    from bambaprof.run.manifest import NvmlDevice

    class NVMLError(Exception):
        pass

    def module(with_link):
        def missing(*_):
            raise NVMLError("Not Supported")

        return SimpleNamespace(
            NVMLError=NVMLError, NVML_CLOCK_MEM=2, nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
            nvmlSystemGetDriverVersion=lambda: "580.159.04", nvmlDeviceGetMemoryBusWidth=lambda h: 5120,
            nvmlDeviceGetMaxClockInfo=lambda h, clock: 2619, nvmlDeviceGetEnforcedPowerLimit=lambda h: 700000,
            nvmlDeviceGetUUID=lambda h: "GPU-1", nvmlDeviceGetIndex=lambda h: 0,
            nvmlDeviceGetMaxPcieLinkGeneration=(lambda h: 5) if with_link else missing,
            nvmlDeviceGetMaxPcieLinkWidth=(lambda h: 16) if with_link else missing)

    backend = PynvmlBackend(0)
    backend._nv, backend._h = module(True), object()
    info = backend.device_info()
    assert (info["pcie_link_generation"], info["pcie_link_width"], round(info["pcie_gbps"], 1)) == (5, 16, 63.0)
    assert NvmlDevice(**info).pcie_link_width == 16  # the run record takes them as they are
    backend._nv = module(False)
    info = backend.device_info()
    assert (info["pcie_link_generation"], info["pcie_link_width"], info["pcie_gbps"]) == (None, None, None)
    old = module(True)
    del old.nvmlDeviceGetMaxPcieLinkGeneration  # a binding without the call
    backend._nv = old
    assert backend.device_info()["pcie_link_generation"] is None and backend.device_info()["name"]
