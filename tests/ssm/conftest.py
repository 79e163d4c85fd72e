"""Fixtures of the SSM tests."""

import dataclasses

import pytest

from bambaprof.ssm.kernels import ssd as kernels


@pytest.fixture(params=["chunks", "chains"])
def scan_form(request, monkeypatch):
    """Each forward test runs both scan forms: a program per chunk (``_chunk_scan``) and a program per chain
    (``_chain_scan``, forced at any size)."""
    per_sm = None if request.param == "chunks" else 0
    monkeypatch.setattr(kernels, "_CONFIGS", {k: dataclasses.replace(v, chain_per_sm=per_sm)
                                              for k, v in kernels._CONFIGS.items()})
    return request.param
