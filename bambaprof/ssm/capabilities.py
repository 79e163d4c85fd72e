"""What this machine can run: CUDA, Triton, and the Triton interpreter.

Triton reads ``TRITON_INTERPRET`` when it is first imported, so the
interpreter must be chosen before any Triton kernel module is imported.
:func:`enable_triton_interpreter_if_no_gpu` does that for the command line.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from typing import Optional

import torch

from .contract import NEEDS_CUDA, NEEDS_TRITON, Variant


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA (or ROCm) GPU."""
    return torch.cuda.is_available()


def resolve_device(device: Optional[str], label: str = "device") -> str:
    """The device a command or function runs on: ``auto`` (or ``None``) is CUDA when a GPU is visible, else the
    CPU; ``cpu``, ``cuda`` and ``cuda:N`` are taken as they are when they exist here. Anything else, or a GPU
    that is not visible, is a :class:`~bambaprof.errors.UsageError` naming it as ``label``."""
    from ..errors import UsageError

    if device is None or device == "auto":
        return "cuda" if cuda_available() else "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", device) if isinstance(device, str) else None
    if device == "cpu":
        return device
    if match is None:
        raise UsageError(f"{label} {device!r} is not a device here: give auto, cpu, cuda or cuda:N")
    if not cuda_available():
        raise UsageError(f"{label} {device}: no CUDA GPU is visible")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise UsageError(f"{label} {device}: {torch.cuda.device_count()} CUDA GPU(s) visible")
    return device


def triton_installed() -> bool:
    """True when the ``triton`` package can be imported (without importing it)."""
    return "triton" in sys.modules or importlib.util.find_spec("triton") is not None


def triton_interpreter_on() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


def enable_triton_interpreter_if_no_gpu() -> bool:
    """Switch the Triton interpreter on when there is no GPU and the user set nothing.

    Only possible before Triton is imported; an explicit ``TRITON_INTERPRET``
    (even ``0``) is left alone. Returns whether the interpreter is now on.
    """
    if "TRITON_INTERPRET" not in os.environ and "triton" not in sys.modules and not cuda_available():
        os.environ["TRITON_INTERPRET"] = "1"
    return triton_interpreter_on()


@dataclass(frozen=True)
class Runnable:
    """Whether a variant can run here, on which device, and why not when it cannot."""

    ok: bool
    device: Optional[str]
    how: str


def runnable(variant: Variant, device: Optional[str] = None) -> Runnable:
    """Decide whether ``variant`` can run on ``device`` (default: CUDA if present, else CPU)."""
    dev = device or ("cuda" if cuda_available() else "cpu")
    on_gpu = dev.startswith("cuda")
    if on_gpu and not cuda_available():
        return Runnable(False, dev, "no CUDA GPU visible")
    if NEEDS_CUDA in variant.needs and not on_gpu:
        return Runnable(False, dev, "needs a CUDA GPU")
    if NEEDS_TRITON in variant.needs:
        if not triton_installed():
            return Runnable(False, dev, "needs the triton package")
        if not on_gpu:
            if triton_interpreter_on():
                return Runnable(True, dev, "Triton interpreter (slow)")
            return Runnable(False, dev, "needs a CUDA GPU, or TRITON_INTERPRET=1 on CPU")
        return Runnable(True, dev, "Triton on GPU")
    return Runnable(True, dev, "PyTorch on GPU" if on_gpu else "PyTorch on CPU")


def needs_text(variant: Variant) -> str:
    """Human text for a variant's requirements."""
    parts = []
    if NEEDS_CUDA in variant.needs:
        parts.append("CUDA")
    if NEEDS_TRITON in variant.needs:
        parts.append("Triton (CUDA GPU, or TRITON_INTERPRET=1 on CPU)")
    return ", ".join(parts) or "PyTorch only"


def check_triton_device(variant_name: str, t: torch.Tensor) -> None:
    """Raise a one-line error when a Triton kernel cannot run on ``t``'s device."""
    from ..errors import BambaprofError

    if t.device.type == "cpu" and not triton_interpreter_on():
        raise BambaprofError(
            f"variant {variant_name!r} runs Triton kernels: use a CUDA tensor, or set "
            "TRITON_INTERPRET=1 before Triton is imported to run them on the CPU"
        )
