"""How much memory a device has free, and telling an allocation that failed from other errors.

Commands that build inputs from the user's sizes (``check``, ``bench ssd``, ``accuracy``) check a lower bound of
their bytes against :func:`available_bytes` before allocating, and report what still fails to allocate as out of
memory (:func:`is_out_of_memory`) rather than as a crash: torch raises ``torch.OutOfMemoryError`` on a GPU but a
plain ``RuntimeError`` from its CPU allocator, and a size past 64 bits fails even earlier, while the Python
sizes are unpacked.
"""

from __future__ import annotations

import os
from typing import Optional

from .errors import BambaprofError

#: What torch's allocators say when a request cannot be met: the CPU allocator ("DefaultCPUAllocator: can't
#: allocate memory"), CUDA's caching allocator ("CUDA out of memory"), and a size that cannot be a size at all.
_ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "overflow when unpacking long",
                        "storage size calculation overflowed")


class TooLarge(BambaprofError):
    """Inputs or a configuration whose lower bound of bytes exceeds the memory available (exit code 1)."""


def available_bytes(device: str) -> Optional[int]:
    """Memory free for new work (bytes): the GPU's free memory (CUDA), else the system's ``MemAvailable``
    (Linux); ``None`` when it cannot be known."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def require_bytes(need: int, device: str, what: str) -> None:
    """Raise :class:`TooLarge` when ``need`` bytes (a lower bound for ``what``) exceed what ``device`` has
    free; nothing when they fit or the free memory cannot be known."""
    have = available_bytes(device)
    if have is not None and need > have:
        raise TooLarge(f"{what} need at least {gigabytes(need)} and {device} has {gigabytes(have)} available")


def gigabytes(n: int) -> str:
    """``n`` bytes as decimal GB for a message (``1.5 GB``, ``582,400.0 GB``; past a petabyte in scientific
    notation, ``5.8e+17 GB``)."""
    return f"{n / 1e9:,.1f} GB" if n < 10 ** 15 else f"{n / 1e9:.2g} GB"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (or a size no allocation can take) rather than a bug."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    if not isinstance(exc, (RuntimeError, TypeError, ValueError)):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _ALLOCATION_FAILURES)
