"""A fake NVML backend: deterministic readings, GPM, energy, and scripted failures."""

import itertools
import time


class FakeBackend:
    def __init__(self, gpm=True, fail_open=False, fail_reads_after=None, watts=300.0, frozen_energy=False):
        self.gpm = gpm
        self.frozen_energy = frozen_energy
        self.fail_open = fail_open
        self.fail_reads_after = fail_reads_after
        self.watts = watts
        self.reads = 0
        self.samples = itertools.count()
        self.freed = []
        self.start = time.monotonic()
        self.opened = self.closed = False

    def open(self):
        from bambaprof.collect.nvml import NvmlUnavailable

        if self.fail_open:
            raise NvmlUnavailable("NVML cannot be used: Driver Not Loaded")
        self.opened = True

    def close(self):
        self.closed = True

    def device_info(self):
        return {"name": "Fake H200", "driver": "580.0", "memory_bus_width_bits": 6144, "max_memory_clock_mhz": 3201,
                "power_limit_w": 700.0, "peak_bandwidth_gbps": 6144 / 8 * 3201e6 * 2 / 1e9}

    def read(self):
        self.reads += 1
        if self.fail_read_now():
            raise RuntimeError("NVML read failed: GPU is lost")
        return {"gpu_util_pct": 90, "mem_util_pct": 40, "mem_used_bytes": 10**9, "power_w": self.watts,
                "sm_clock_mhz": 1980, "mem_clock_mhz": 3201, "temperature_c": 50, "clock_event_reasons": 0}

    def fail_read_now(self):
        return self.fail_reads_after is not None and self.reads > self.fail_reads_after

    def energy_mj(self):
        """A device-wide counter, as NVML's: `watts` since this backend was made, in mJ (or a counter that
        has not updated yet, as NVML's does over a window of a few milliseconds)."""
        if self.frozen_energy:
            return 1_000_000.0
        return 1_000_000.0 + self.watts * (time.monotonic() - self.start) * 1e3

    def gpm_supported(self):
        return self.gpm

    def gpm_sample(self):
        return next(self.samples)

    def gpm_free(self, sample):
        self.freed.append(sample)

    def gpm_metrics(self, first, second):
        assert second == first + 1
        return {"dram_bw_util_pct": 55.0, "sm_occupancy_pct": 30.0, "sm_util_pct": 80.0, "tensor_util_pct": None}


class NanBackend(FakeBackend):
    """NVML returning NaN and infinity, as drivers sometimes do."""

    def read(self):
        values = super().read()
        values["power_w"] = float("nan")
        return values

    def gpm_metrics(self, first, second):
        return {"dram_bw_util_pct": float("nan"), "sm_occupancy_pct": 1.0, "sm_util_pct": 1.0,
                "tensor_util_pct": float("inf")}
