"""Measured figures that findings quote in their advice, each with the run it comes from.

A suggestion such as "a fused core takes half of mamba_ssm's time" is only as good as the measurement behind it.
Each figure here names the committed result file (under ``benchmarks/results/`` in the repository) whose rows give
it, the device and the date, and ``tests/diagnose/test_measured.py`` recomputes it from that file, so a new record
that is committed without updating the advice fails the tests instead of leaving a stale number in every report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class KernelTimeRatio:
    """The GPU kernel time of one core (or scan) over another's, side by side in one run (``bambaprof bench ssd``).

    ``low`` and ``high`` are the smallest and largest ratio over ``shapes`` (batch x length, Bamba-9B mixer heads:
    h=128, p=64, n=128, chunk 256, bf16), rounded to two places as quoted; ``rows`` are the bench rows' ``variant``
    names (numerator, denominator) in ``source``."""

    low: float
    high: float
    device: str
    date: str
    source: str
    rows: Tuple[str, str]
    shapes: Tuple[Tuple[int, int], ...]

    @property
    def card(self) -> str:
        """The device without its vendor: ``H200``."""
        return self.device.removeprefix("NVIDIA ")

    @property
    def quoted(self) -> str:
        """The range as advice quotes it: ``0.43x to 0.52x``."""
        return f"{self.low:.2f}x to {self.high:.2f}x"


#: The five Bamba-9B shapes of issue #17's record (batch, length).
RECORD_SHAPES = ((1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192))

#: bambaprof's fused ``triton`` core (prep + chunk scan, two launches) against mamba_ssm's five kernels
#: (``mamba_chunk_scan_combined``, 2.2.4), initial states, the chunk scan ``auto``.
TRITON_CORE_VS_MAMBA_SSM = KernelTimeRatio(
    low=0.43, high=0.52, device="NVIDIA H200", date="2026-12-06",
    source="benchmarks/results/h200-bench-ssd-record-39.json", rows=("triton", "mamba_ssm"), shapes=RECORD_SHAPES)

#: bambaprof's core with the Gluon chunk scan (``gluon_ordered``, TMA and wgmma) against the same core with the Triton
#: scan (``_chunk_scan``), side by side in one run (``bench ssd --scan triton --scan gluon_ordered``).
GLUON_SCAN_VS_TRITON_SCAN = KernelTimeRatio(
    low=0.76, high=0.80, device="NVIDIA H100 80GB HBM3", date="2026-12-07",
    source="benchmarks/results/h100-bench-ssd-scans-43.json", rows=("triton[gluon_ordered]", "triton[triton]"),
    shapes=RECORD_SHAPES)
