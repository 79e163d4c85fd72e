"""Host-side arithmetic of kernel launches (grid sizes, block sizes, the register cap option) in plain Python.

Recent Triton makes ``triton.cdiv`` and ``triton.next_power_of_2`` constexpr functions, usable inside
kernels; called from Python they cost about 2 us each (measured with Triton 3.9 on the CI-class CPU), and a
forward or a decode step computes several of them per launch. These are the same integers at a small
fraction of the cost.
"""

from __future__ import annotations

from typing import Dict, Optional


def cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ``b``: the number of blocks of ``b`` that cover ``a``."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two at least ``n`` (1 for ``n <= 1``)."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def register_cap(registers: Optional[int]) -> Dict[str, int]:
    """The launch (or compile) option capping a kernel's registers a thread: ``maxnreg``, none for 0 or None."""
    return {"maxnreg": registers} if registers else {}
