"""Peak DRAM bandwidth and peak FLOP rates of a device, with where each number comes from.

Bandwidth, in order of preference: a value the user gives (``--peak-bandwidth``), one the run directory
measured or derived from NVML (memory bus width x max memory clock) or an Nsight Systems export records (its
``memoryBandwidth``, the same product), or the vendor datasheet's value for the device. FLOP rates come from
the datasheet (dense, no structured sparsity), per dtype class: ``fp32`` (CUDA/vector cores), ``tf32``,
``bf16`` (= fp16 tensor/matrix cores) and ``fp8``. A device is identified by its name
(``deviceProperties.name``, or NVML's), or, when the trace gives no name, by its properties (compute
capability, SM/CU count, memory size). Where none applies the peak is unknown and no percentage, floor or
bound that needs it is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ..errors import UsageError

GB = 1e9


@dataclass(frozen=True)
class DeviceSpec:
    """A GPU's datasheet: DRAM bandwidth (GB/s, 1e9 bytes/s) and dense peak TFLOP/s per dtype class,
    the document they come from, and how to recognise it from ``deviceProperties`` when it has no name
    (compute capability, SMs or CUs, memory in GB, each ``None`` when not used)."""

    key: str
    gbps: float
    tflops: Dict[str, float]
    source: str
    compute: Optional[Tuple[int, int]] = None
    sms: Optional[int] = None
    memory_gb: Optional[Tuple[float, float]] = None  # a range: totalGlobalMem / 1e9 falls inside

    def matches_properties(self, major: int, minor: int, sms: int, memory_gb: float) -> bool:
        if self.compute is None or self.sms is None or (major, minor) != self.compute or sms != self.sms:
            return False
        return self.memory_gb is None or self.memory_gb[0] <= memory_gb <= self.memory_gb[1]


_H100_SXM = {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp8": 1978.9}

#: Datasheets, most specific names first (a name matches when it contains the key).
DATASHEETS = (
    DeviceSpec("GH200", 4000.0, _H100_SXM, "NVIDIA GH200 Grace Hopper Superchip datasheet (HBM3 96 GB)"),
    DeviceSpec("H200", 4800.0, _H100_SXM, "NVIDIA H200 Tensor Core GPU datasheet (SXM)", (9, 0), 132, (130, 160)),
    DeviceSpec("H100 NVL", 3900.0, {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp8": 1670.5},
               "NVIDIA H100 Tensor Core GPU datasheet (H100 NVL)"),
    DeviceSpec("H100 PCIe", 2000.0, {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0, "fp8": 1513.0},
               "NVIDIA H100 Tensor Core GPU datasheet (H100 PCIe)", (9, 0), 114, None),
    DeviceSpec("H100", 3350.0, _H100_SXM, "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM)", (9, 0), 132, (75, 90)),
    DeviceSpec("H800", 3350.0, _H100_SXM, "NVIDIA H800 Tensor Core GPU datasheet (SXM)"),
    DeviceSpec("B200", 8000.0, {"fp32": 75.0, "tf32": 1100.0, "bf16": 2250.0, "fp8": 4500.0},
               "NVIDIA HGX B200 datasheet (per GPU, dense)", (10, 0), 148, None),
    DeviceSpec("A100-SXM4-80GB", 2039.0, {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
               "NVIDIA A100 Tensor Core GPU datasheet (80GB SXM)", (8, 0), 108, (75, 90)),
    DeviceSpec("A100 80GB PCIe", 1935.0, {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
               "NVIDIA A100 Tensor Core GPU datasheet (80GB PCIe)"),
    DeviceSpec("A100", 1555.0, {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
               "NVIDIA A100 Tensor Core GPU datasheet (40GB)", (8, 0), 108, (35, 45)),
    DeviceSpec("L40S", 864.0, {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp8": 733.0},
               "NVIDIA L40S datasheet", (8, 9), 142, None),
    DeviceSpec("L40", 864.0, {"fp32": 90.5, "tf32": 90.5, "bf16": 181.0, "fp8": 362.0}, "NVIDIA L40 datasheet"),
    DeviceSpec("A10G", 600.0, {}, "AWS EC2 G5 (NVIDIA A10G): bandwidth only"),
    DeviceSpec("L4", 300.0, {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp8": 242.5}, "NVIDIA L4 datasheet",
               (8, 9), 58, None),
    DeviceSpec("V100", 900.0, {"fp32": 15.7, "bf16": 125.0}, "NVIDIA V100 Tensor Core GPU datasheet (SXM2; fp16 "
               "tensor cores, no bf16)", (7, 0), 80, None),
    DeviceSpec("MI300X", 5300.0, {"fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp8": 2614.9},
               "AMD Instinct MI300X data sheet", None, 304, None),
    DeviceSpec("MI250X", 3276.8, {"fp32": 95.7, "bf16": 383.0},
               "AMD Instinct MI250X data sheet (both GCDs; a trace device is one GCD: half)", None, None, None),
    DeviceSpec("MI210", 1638.4, {"fp32": 45.3, "bf16": 181.0}, "AMD Instinct MI210 data sheet", None, 104, None),
)


@dataclass(frozen=True)
class PeakBandwidth:
    """``gbps``: GB/s (1e9 bytes/s); ``source``: ``user``, ``measured``, ``nvml``, ``Nsight Systems`` or
    ``datasheet``."""

    gbps: float
    source: str


@dataclass(frozen=True)
class PeakCompute:
    """Dense peak TFLOP/s per dtype class (``fp32``, ``tf32``, ``bf16``, ``fp8``) and their source."""

    tflops: Dict[str, float] = field(default_factory=dict)
    source: str = ""

    def for_dtype(self, dtype: Optional[str]) -> Optional[float]:
        """The peak TFLOP/s a kernel computing in ``dtype`` can reach: fp16/bf16 at the tensor-core rate,
        float32 at the TF32 rate where the device has one (cuBLAS may use it; the floor stays a lower
        bound), float64 unknown; an unknown dtype at the highest 16-bit rate (again a lower bound)."""
        if dtype in ("bf16", "fp16", None):
            return self.tflops.get("bf16")
        if dtype == "fp32":
            return self.tflops.get("tf32") or self.tflops.get("fp32")
        if dtype == "fp8":
            return self.tflops.get("fp8") or self.tflops.get("bf16")
        return None


def datasheet(device_name: Optional[str], major: int = -1, minor: int = -1, sms: int = -1,
              memory_bytes: int = -1) -> Optional[DeviceSpec]:
    """The datasheet of a device by its name; by its properties only when the trace gives no name (a name that
    matches no datasheet is an unknown device: its properties could be another part's)."""
    if device_name and device_name.strip().lower() != "unknown":
        return next((spec for spec in DATASHEETS if spec.key in device_name), None)
    for spec in DATASHEETS:
        if spec.compute is None and spec.sms is not None and sms == spec.sms and spec.key.startswith("MI"):
            return spec  # AMD: compute units identify the part
        if spec.matches_properties(major, minor, sms, memory_bytes / GB if memory_bytes > 0 else -1):
            return spec
    return None


def datasheet_peak(device_name: str) -> Optional[PeakBandwidth]:
    spec = datasheet(device_name)
    return PeakBandwidth(spec.gbps, "datasheet") if spec else None


def usable_gbps(value: Any) -> bool:
    """Whether ``value`` can stand as a bandwidth (GB/s): a finite number above 0."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def choose_peak(
    device_name: Optional[str], user_gbps: Optional[float] = None, run_peak: Optional[PeakBandwidth] = None,
    spec: Optional[DeviceSpec] = None,
) -> Optional[PeakBandwidth]:
    """The best-known peak bandwidth for a device (see the module docstring); a ``user_gbps`` that is not a finite
    number above 0 is a :class:`~bambaprof.errors.UsageError`."""
    if user_gbps is not None:
        if not usable_gbps(user_gbps):
            raise UsageError(f"the peak bandwidth must be a finite number of GB/s above 0, not {user_gbps}")
        return PeakBandwidth(float(user_gbps), "user")
    if run_peak is not None:
        return run_peak
    spec = spec or datasheet(device_name)
    return PeakBandwidth(spec.gbps, "datasheet") if spec else None


def compute_peaks(spec: Optional[DeviceSpec]) -> Optional[PeakCompute]:
    """The datasheet FLOP rates of ``spec`` (``None`` when unknown)."""
    if spec is None or not spec.tflops:
        return None
    return PeakCompute(dict(spec.tflops), f"datasheet: {spec.source}")
