"""RMS normalisations of the Bamba decoder (computed in float32, returned in the input dtype)."""

from __future__ import annotations

import os
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def launches_eagerly(x: torch.Tensor) -> bool:
    """Whether bambaprof's Triton kernels launch for ``x`` here and now: not while a compiler traces (compiled
    code keeps torch's ops, which inductor fuses), on a GPU or under the interpreter."""
    return not torch.compiler.is_compiling() and (x.is_cuda or _interpreting())


class RMSNorm(nn.Module):
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last dimension."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        #: one Triton launch instead of eight torch ops when eager (the ``triton`` variant's model sets it;
        #: compiled code keeps the torch form, which inductor fuses by itself)
        self.fused = False

    def launches_fused(self, x: torch.Tensor) -> bool:
        """Whether this norm of ``x`` takes the fused Triton launch (eager, on a GPU or the interpreter)."""
        return self.fused and launches_eagerly(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.launches_fused(x):
            return fused_kernels().rmsnorm(x, self.weight, self.eps, torch.promote_types(self.weight.dtype, x.dtype))
        dtype = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)

    def add_forward(self, x: torch.Tensor, delta: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """A residual add and this norm: ``(norm(s), s)`` with ``s = x + delta`` (``delta`` None: ``s = x``).
        One launch where the norm is fused (:func:`~bambaprof.ssm.kernels.mixer.add_rmsnorm`), the same
        values as the add and the norm apart."""
        if delta is None:
            return self(x), x
        if self.launches_fused(x):
            return fused_kernels().add_rmsnorm(x, delta, self.weight, self.eps)
        s = x + delta
        return self(s), s

    def add_linear(self, x: torch.Tensor, delta: Optional[torch.Tensor],
                   linear: nn.Linear) -> Tuple[torch.Tensor, torch.Tensor]:
        """A residual add, this norm and ``linear`` after it in one launch: ``(linear(norm(s)), s)`` with ``s = x
        + delta`` (``delta`` None: ``s = x``; :func:`~bambaprof.ssm.kernels.gemv.rmsnorm_linear`). Only where
        :func:`fuses_into` says it applies."""
        return fused_gemv().rmsnorm_linear(x, delta, self.weight, self.eps, linear.weight)


_kernel_modules = None


def _kernels():
    """:mod:`bambaprof.ssm.kernels`' ``mixer``, ``gemv`` and ``sample`` modules: imported on first use (they
    need Triton), then kept (this is on every eager launch's path; a global and a ``from`` import, which
    dynamo traces, where ``importlib`` would break a ``fullgraph`` compile)."""
    global _kernel_modules
    if _kernel_modules is None:
        from ..ssm.kernels import gemv, mixer, sample

        _kernel_modules = (mixer, gemv, sample)
    return _kernel_modules


def fused_kernels():
    """:mod:`bambaprof.ssm.kernels.mixer`: the fused mixer and norm kernels."""
    return _kernels()[0]


def fused_gemv():
    """:mod:`bambaprof.ssm.kernels.gemv`: the decode GEMVs with the norm or the activation before them in the
    same launch."""
    return _kernels()[1]


def fused_sample():
    """:mod:`bambaprof.ssm.kernels.sample`: greedy sampling in one launch."""
    return _kernels()[2]


def fuses_into(norm: "RMSNorm", x: torch.Tensor, linear: nn.Linear, *others: Optional[torch.Tensor]) -> bool:
    """Whether ``linear(norm(x [+ delta]))`` takes one launch (:func:`~bambaprof.ssm.kernels.gemv.rmsnorm_linear`):
    the norm is fused and launches eagerly here, the linear has no bias, and the rows fit the kernel
    (:func:`~bambaprof.ssm.kernels.gemv.applies`: at most
    :data:`~bambaprof.ssm.kernels.gemv.NORM_MAX_ROWS` rows, one 16-bit dtype, the norm's weight included)."""
    if not (norm.launches_fused(x) and linear.bias is None and x.shape[-1] == linear.in_features):
        return False
    gemv = fused_gemv()
    return gemv.applies(x, linear.weight, norm.weight, *others, max_rows=gemv.NORM_MAX_ROWS)


class RMSNormGated(RMSNorm):
    """The Mamba2 output norm: ``RMSNorm(x * silu(gate))`` (gate applied before normalising)."""

    def forward(self, x: torch.Tensor, gate: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        dtype = x.dtype
        h = x.float()
        if gate is not None:
            h = h * F.silu(gate.float())
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)
