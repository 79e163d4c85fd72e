"""The ``triton`` variant with its chunk scan named, so that ``bambaprof bench ssd --scan`` times the scans side by
side, in one process and the same interleaved rounds (``BAMBAPROF_SSD_SCAN`` picks one scan a process).

A scan is ``auto`` (the default rule, :func:`bambaprof.ssm.kernels.ssd.auto_scan`), ``triton`` (``_chunk_scan``
everywhere) or a form of the Hopper Gluon scan (:data:`bambaprof.ssm.kernels.ssd_sm90.FORMS`, where it serves the
inputs: a Hopper GPU and bf16; elsewhere ``_chunk_scan`` runs, as with ``BAMBAPROF_SSD_SCAN``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, List, Sequence

from ..errors import UsageError
from ..ssm import Variant

#: The variant whose chunk scan ``--scan`` picks.
SCANNED_VARIANT = "triton"


def parse_scans(names: Sequence[str]) -> List[str]:
    """``names`` normalised (case, spaces) and checked against ``ssd.scan_names()`` (what ``BAMBAPROF_SSD_SCAN``
    takes), repeats dropped in order; raises :class:`UsageError` naming the scans for one that is not."""
    from ..ssm.kernels.ssd import scan_names

    known = scan_names()
    scans: List[str] = []
    for name in names:
        scan = name.strip().lower()
        if scan not in known:
            raise UsageError(f"--scan {name!r} is not a chunk scan (choose from {', '.join(known)})")
        if scan not in scans:
            scans.append(scan)
    return scans


def scan_variant(base: Variant, scan: str) -> Variant:
    """``base`` (the ``triton`` variant) running the chunk scan ``scan``, named ``triton[scan]``: its forward sets
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
