"""Test set-up: the Triton interpreter on CPU-only machines, the ``gpu`` marker, and the ``scan_env`` fixture."""

import os

import torch

# Triton reads TRITON_INTERPRET when first imported: decide before any test imports it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def scan_env(monkeypatch):
    """``set_to(value)``: ``BAMBAPROF_SSD_SCAN`` set to ``value`` (None: unset) and read afresh by the kernels'
    launch options (``ssd.scan_kernel_from_env`` reads it once a process), and read afresh after the test."""
    from bambaprof.ssm.kernels import ssd

    def set_to(value):
        if value is None:
            monkeypatch.delenv(ssd.SCAN_ENV, raising=False)
        else:
            monkeypatch.setenv(ssd.SCAN_ENV, value)
        ssd.scan_kernel_from_env.cache_clear()

    yield set_to
    ssd.scan_kernel_from_env.cache_clear()
