"""Theoretical occupancy, its limiting resource, and waves, from a kernel's launch configuration.

Definitions (those of NVIDIA's occupancy calculator and Nsight Compute):

- *theoretical occupancy* = active warps per SM / maximum warps per SM, where
  active blocks per SM = the smallest of four limits:
  ``warps`` (max threads per SM / threads per block), ``registers`` (the register
  file of each of the 4 SM sub-partitions, registers allocated per warp in units
  of 256), ``shared_memory`` (shared memory per SM / (the block's shared memory +
  the 1 KiB the runtime reserves per block on CC >= 8.0, rounded to 128 B)),
  and ``blocks`` (the architecture's block slots per SM);
- *waves per SM* = grid blocks / (active blocks per SM x SMs); the *tail
  efficiency* = waves / ceil(waves): the fraction of the last round of block
  slots that does work (1.0 when the grid fills whole waves);
- *small grid*: fewer blocks than SMs, so some SMs have nothing to do.

Kineto's ``est. achieved occupancy %`` is this theoretical occupancy further
capped by the grid size. Neither is measured: achieved occupancy comes from
Nsight Compute or NVML GPM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .trace import DeviceProps

#: Resident blocks per SM by compute capability (CUDA programming guide, table of
#: technical specifications).
MAX_BLOCKS_PER_SM = {
    (5, 0): 32, (5, 2): 32, (5, 3): 32, (6, 0): 32, (6, 1): 32, (6, 2): 32, (7, 0): 32, (7, 2): 32, (7, 5): 16,
    (8, 0): 32, (8, 6): 16, (8, 7): 16, (8, 9): 24, (9, 0): 32, (10, 0): 32, (10, 3): 32, (12, 0): 24,
}
REG_ALLOC_UNIT = 256  # registers, allocated per warp
SUB_PARTITIONS = 4
LIMITS = ("warps", "registers", "shared_memory", "blocks")


@dataclass(frozen=True)
class Occupancy:
    """Theoretical occupancy of one launch configuration on one device (fractions in [0, 1])."""

    blocks_per_sm: int
    warps_per_sm: int
    theoretical: float
    limiter: str  # one of LIMITS; several joined by '+' when tied
    waves_per_sm: float
    tail_efficiency: float
    small_grid: bool


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def theoretical_occupancy(
    dev: DeviceProps, grid: tuple, block: tuple, registers: int, shared_memory: int
) -> Optional[Occupancy]:
    """Occupancy of a launch of ``grid`` x ``block`` threads using ``registers`` per thread and
    ``shared_memory`` bytes per block (static + dynamic). ``None`` when something needed is unknown."""
    cc = (dev.compute_major, dev.compute_minor)
    max_blocks = MAX_BLOCKS_PER_SM.get(cc)
    device = (dev.num_sms, dev.max_threads_per_sm, dev.regs_per_sm, dev.smem_per_sm, dev.warp_size)
    if max_blocks is None or min(device) <= 0 or min(registers, shared_memory) < 0 or min(block) <= 0 \
            or min(grid) <= 0:
        return None  # unknown, or a device that cannot be (no SMs, a warp of no threads: an odd trace)
    threads = block[0] * block[1] * block[2]
    warp = dev.warp_size
    warps_per_block = -(-threads // warp)
    max_warps = dev.max_threads_per_sm // warp
    if max_warps <= 0:
        return None
    limits = {"warps": max_warps // warps_per_block, "blocks": max_blocks}
    if registers > 0:
        regs_per_warp = _round_up(registers * warp, REG_ALLOC_UNIT)
        if dev.regs_per_block > 0 and regs_per_warp * warps_per_block > dev.regs_per_block:
            limits["registers"] = 0
        else:
            warps_per_partition = (dev.regs_per_sm // SUB_PARTITIONS) // regs_per_warp
            limits["registers"] = (warps_per_partition * SUB_PARTITIONS) // warps_per_block
    else:
        limits["registers"] = max_blocks
    reserved = 1024 if dev.compute_major >= 8 else 0
    unit = 128 if dev.compute_major >= 8 else 256
    smem = _round_up(shared_memory + reserved, unit) if shared_memory + reserved > 0 else 0
    limits["shared_memory"] = dev.smem_per_sm // smem if smem > 0 else max_blocks
    blocks = min(limits.values())
    limiter = "+".join(k for k in LIMITS if limits[k] == blocks)
    grid_blocks = grid[0] * grid[1] * grid[2]
    if blocks <= 0:
        return Occupancy(0, 0, 0.0, limiter, math.inf, 0.0, grid_blocks < dev.num_sms)
    warps = blocks * warps_per_block
    waves = grid_blocks / (blocks * dev.num_sms)
    tail = waves / math.ceil(waves) if waves > 0 else 0.0
    return Occupancy(blocks, warps, warps / max_warps, limiter, waves, tail, grid_blocks < dev.num_sms)
