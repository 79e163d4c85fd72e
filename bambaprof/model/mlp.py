"""The gated MLP (SwiGLU) of each decoder layer."""

from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from .norm import fused_gemv, launches_eagerly
from .stacked import register_stacked, stacked_views

#: The checkpoint names of the two projections ``gate_up_proj`` stacks, in its row order.
STACKED = ("gate_proj", "up_proj")


class GatedMLP(nn.Module):
    """``down(silu(gate(x)) * up(x))``.

    The gate and up projections' weights are stacked in one ``(2 * intermediate, hidden)`` matrix
    (``gate_up_proj``, gate rows first), so they take one GEMM (one GEMV a decode token: one launch and one
    ``F.linear``'s host time fewer), as the Foundation Model Stack's fused gated unit does. The state dict
    still names them apart (``gate_proj.weight``, ``up_proj.weight``, as Hugging Face's checkpoints do), and
    loading one merges them (:mod:`.stacked`)."""

    #: an eager batch-1 decode token takes the activation and ``down_proj`` in one launch
    #: (:func:`~bambaprof.ssm.kernels.gemv.silu_mul_linear`); the ``triton`` variant's model sets it
    fused = False

    def __init__(self, hidden_size: int, intermediate_size: int) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(hidden_size, 2 * intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)
        register_stacked(self, "gate_up_proj", STACKED, (intermediate_size, intermediate_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_from(self.gate_up_proj(x))

    def down_from(self, gate_up: torch.Tensor) -> torch.Tensor:
        """``down(silu(gate) * up)`` from the stacked projection's output ``(..., 2 * intermediate)``: one launch
        for one eager row where :attr:`fused`, else the activation, the product and the linear apart."""
        if self.fused and self.down_proj.bias is None and launches_eagerly(gate_up):
            gemv = fused_gemv()
            if gemv.applies(gate_up, self.down_proj.weight, max_rows=gemv.ACTIVATION_MAX_ROWS):
                return gemv.silu_mul_linear(gate_up, self.down_proj.weight)
        gate, up = gate_up.chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)

    def stacked_weights(self) -> List[torch.Tensor]:
        """Views of the gate and up projections' weights, each ``(intermediate, hidden)``."""
        return stacked_views(self.gate_up_proj.weight, [self.gate_up_proj.out_features // 2] * 2)
