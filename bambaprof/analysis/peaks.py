"""Peak DRAM bandwidth of a device, with where the number comes from.

In order of preference: a value the user gives (``--peak-bandwidth``), one the
run directory measured or derived from NVML (memory bus width x max memory
clock), or the vendor datasheet value for the device name. If none applies the
peak is unknown and no percentage of peak is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: Vendor datasheet DRAM bandwidth, GB/s (1e9 bytes/s); most specific names first.
DATASHEET_GBPS = (
    ("H200", 4800.0),
    ("H100 NVL", 3900.0),
    ("H100 PCIe", 2000.0),
    ("H100", 3350.0),
    ("H800", 3350.0),
    ("GH200", 4000.0),
    ("B200", 8000.0),
    ("A100-SXM4-80GB", 2039.0),
    ("A100 80GB PCIe", 1935.0),
    ("A100", 1555.0),
    ("L40S", 864.0),
    ("L40", 864.0),
    ("A10G", 600.0),
    ("L4", 300.0),
    ("V100", 900.0),
    ("MI300X", 5300.0),
    ("MI250X", 3277.0),
)


@dataclass(frozen=True)
class PeakBandwidth:
    """``gbps``: GB/s (1e9 bytes/s); ``source``: ``user``, ``measured``, ``nvml`` or ``datasheet``."""

    gbps: float
    source: str


def datasheet_peak(device_name: str) -> Optional[PeakBandwidth]:
    for key, gbps in DATASHEET_GBPS:
        if key in device_name:
            return PeakBandwidth(gbps, "datasheet")
    return None


def choose_peak(
    device_name: Optional[str], user_gbps: Optional[float] = None, run_peak: Optional[PeakBandwidth] = None
) -> Optional[PeakBandwidth]:
    """The best-known peak for ``device_name`` (see the module docstring)."""
    if user_gbps is not None:
        return PeakBandwidth(float(user_gbps), "user")
    if run_peak is not None:
        return run_peak
    return datasheet_peak(device_name) if device_name else None
