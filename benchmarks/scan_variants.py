"""The ``triton`` variant with one chunk scan forced, as variants that ``bambaprof bench ssd`` can time side by
side in its interleaved rounds (GPU machine):

    bambaprof bench ssd --variant triton --variant benchmarks.scan_variants:LATE \\
        --variant benchmarks.scan_variants:SLIM --shape 1x2048

``TRITON_SCAN`` runs ``_chunk_scan``, ``LATE`` the Gluon form ``gluon_late``, ``SLIM`` ``gluon_slim`` (each where it
serves the inputs, as ``BAMBAPROF_SSD_SCAN`` would), so that ``auto``'s choice at a size can be checked against
the forms it chooses between in one run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bambaprof.ssm import Variant, get_variant
from bambaprof.ssm.kernels import ssd


def with_scan(scan: str) -> Variant:
    """The ``triton`` variant running the chunk scan ``scan`` (``triton`` or a form of ``ssd_sm90.FORMS``)."""
    base = get_variant("triton")
    config = dataclasses.replace(ssd.LaunchConfig(), scan_kernel=scan)

    def forward(*args: Any, **kwargs: Any) -> Any:
        saved, ssd.config_override = ssd.config_override, config
        try:
            return base.forward(*args, **kwargs)
        finally:
            ssd.config_override = saved

    return dataclasses.replace(base, name=f"triton_{scan}", forward=forward, step=None,
                               summary=f"the triton variant with the chunk scan {scan}", origin="benchmarks")


TRITON_SCAN = with_scan("triton")
LATE = with_scan("gluon_late")
SLIM = with_scan("gluon_slim")
