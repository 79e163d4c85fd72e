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
    limits["registers"] = _register_blocks(dev, warps_per_block, registers) if registers > 0 else max_blocks
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


@dataclass(frozen=True)
class OneMoreBlock:
    """What one more resident block an SM would take: the most registers a thread (``None``: the registers allow it
    already) and the most shared memory a block in bytes, static + dynamic (``None``: likewise) at which at least
    one more block fits; ``blocks_per_sm`` and the theoretical occupancy (a fraction) at those budgets (the
    register file's allocation units may fit more than one block more)."""

    blocks_per_sm: int
    theoretical: float
    max_registers: Optional[int]
    max_shared_memory: Optional[int]


def one_more_block(dev: DeviceProps, block: tuple, registers: int, shared_memory: int) -> Optional[OneMoreBlock]:
    """The register and shared-memory budgets at which a launch of ``block`` threads fits one more block an SM
    than it does with ``registers`` a thread and ``shared_memory`` bytes a block (see :func:`theoretical_occupancy`
    for the rules: registers allocated per warp in units of 256 from each sub-partition's file, 1 KiB reserved a
    block, shared memory in units of 128 B). ``None`` where the occupancy is unknown, where the warp or block-slot
    limit stops one more block whatever the resources, or where no register count of at least one would do."""
    occ = theoretical_occupancy(dev, (1, 1, 1), block, registers, shared_memory)
    if occ is None or occ.blocks_per_sm <= 0:
        return None
    want = occ.blocks_per_sm + 1
    threads = block[0] * block[1] * block[2]
    warps_per_block = -(-threads // dev.warp_size)
    max_warps = dev.max_threads_per_sm // dev.warp_size
    if max_warps // warps_per_block < want or MAX_BLOCKS_PER_SM[(dev.compute_major, dev.compute_minor)] < want:
        return None
    max_registers = None
    if registers > 0:
        regs = registers
        while regs > 0 and _register_blocks(dev, warps_per_block, regs) < want:
            regs -= 1
        if regs <= 0:
            return None
        max_registers = regs if regs < registers else None
    reserved = 1024 if dev.compute_major >= 8 else 0
    unit = 128 if dev.compute_major >= 8 else 256
    budget = (dev.smem_per_sm // want) // unit * unit - reserved
    if budget < 0:
        return None
    max_shared_memory = budget if shared_memory > budget else None
    # at the budgets the register file's granularity may fit more than one block more
    fits = theoretical_occupancy(dev, (1, 1, 1), block, max_registers or registers,
                                 max_shared_memory if max_shared_memory is not None else shared_memory)
    if fits is None or fits.blocks_per_sm < want:
        return None
    return OneMoreBlock(fits.blocks_per_sm, fits.theoretical, max_registers, max_shared_memory)


def _register_blocks(dev: DeviceProps, warps_per_block: int, registers: int) -> int:
    """Blocks an SM the register file holds at ``registers`` a thread."""
    regs_per_warp = _round_up(registers * dev.warp_size, REG_ALLOC_UNIT)
    if dev.regs_per_block > 0 and regs_per_warp * warps_per_block > dev.regs_per_block:
        return 0
    return ((dev.regs_per_sm // SUB_PARTITIONS) // regs_per_warp * SUB_PARTITIONS) // warps_per_block
