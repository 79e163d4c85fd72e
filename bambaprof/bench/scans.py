"""The ``triton`` variant with its chunk scan named, so that ``bambaprof bench ssd --scan`` times the scans side by
side, in one process and the same interleaved rounds (``BAMBAPROF_SSD_SCAN`` picks one scan a process).

A scan is ``auto`` (the default rule, :func:`bambaprof.ssm.kernels.ssd.auto_scan`), ``triton`` (``_chunk_scan``
everywhere) or a form of the Hopper Gluon scan (:data:`bambaprof.ssm.kernels.ssd_sm90.FORMS`, where it serves the
inputs: a Hopper GPU and bf16; elsewhere ``_chunk_scan`` runs, as with ``BAMBAPROF_SSD_SCAN``), optionally with the
kernels' own chunk after a colon (``gluon_late:128``: the model's chunk of 256 tiled by chunks of 128).
"""

from __future__ import annotations

import dataclasses
from typing import Any, List, Sequence

from ..errors import UsageError
from ..ssm import Variant

#: The variant whose chunk scan ``--scan`` picks.
SCANNED_VARIANT = "triton"


def parse_scans(names: Sequence[str]) -> List[str]:
    """``names`` (``NAME`` or ``NAME:CHUNK``, what ``BAMBAPROF_SSD_SCAN`` takes) normalised and checked by
    ``ssd.parse_scan``, repeats dropped in order; raises :class:`UsageError` naming the scans for one that is not
    a scan, or whose kernel chunk is not a positive multiple of 16."""
    from ..ssm.kernels.ssd import parse_scan

    scans: List[str] = []
    for name in names:
        try:
            scan = parse_scan(name, f"--scan {name!r}")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if scan not in scans:
            scans.append(scan)
    return scans


def scan_variant(base: Variant, scan: str) -> Variant:
    """``base`` (the ``triton`` variant) running the chunk-scan setting ``scan`` (normalised by
    :func:`parse_scans`), named ``triton[scan]``: its forward sets
    ``ssd.scan_override`` for the call and restores what was set before (the launch options of the inputs' dtype
    are kept, and the rest of the variant, its fused mixer kernels and decode step included, is ``base``'s)."""
    from ..ssm.kernels import ssd

    forward = base.forward

    def with_scan(*args: Any, **kwargs: Any) -> Any:
        saved, ssd.scan_override = ssd.scan_override, scan
        try:
            return forward(*args, **kwargs)
        finally:
            ssd.scan_override = saved

    return dataclasses.replace(base, name=f"{base.name}[{scan}]", forward=with_scan,
                               summary=f"{base.summary} (chunk scan: {scan})".strip())
