"""Test set-up: the Triton interpreter on CPU-only machines, and the ``gpu`` marker."""

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
