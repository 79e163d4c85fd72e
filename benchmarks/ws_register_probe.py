"""What a producer warp costs the Gluon chunk scan in registers (offline, no GPU: Triton's compiler for sm_90 and
``cuobjdump`` from its CUDA tools, as :func:`bambaprof.ssm.kernels.aot.resource_usage` uses them).

``gluon_slim`` keeps three programs of 4 warps an SM at 168 registers a thread; its stall profile puts about 11% of
its samples at the barrier before each TMA refill, which a producer warp (``gl.warp_specialize``) would take off the
compute warps. This compiles a minimal warp-specialized kernel (a default partition of 4 warps holding a 64 x 128
fp32 accumulator, one worker warp at 24 registers, the two handing off through mbarriers) at several register caps
and prints, for each, the warps the kernel launches with, its registers a thread, and whether the PTX re-balances
them between partitions (``setmaxnreg``). With Triton 3.6 the one worker warp makes a program of 8 warps (warps go
by warpgroups), every thread gets the cap, and no ``setmaxnreg`` is emitted: three programs an SM then leave 85
registers a thread (65,536 / 768), two leave 128, where the scan's compute warps need 168 to 179.

    TRITON_INTERPRET=0 python benchmarks/ws_register_probe.py [CAP ...]   (default: 85 128 168)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier

from bambaprof.ssm.kernels.aot import _tools


@gluon.jit
def _consumer(bars, out_ptr, n):
    layout: gl.constexpr = gl.BlockedLayout([1, 16], [4, 8], [4, 1], [1, 0])
    acc = gl.zeros([64, 128], gl.float32, layout)
    for i in range(n):
        mbarrier.wait(bars.index(0), i & 1)
        acc = acc * 1.5 + i
        mbarrier.arrive(bars.index(1), count=1)
    rows = gl.arange(0, 64, layout=gl.SliceLayout(1, layout))
    cols = gl.arange(0, 128, layout=gl.SliceLayout(0, layout))
    gl.store(out_ptr + rows[:, None] * 128 + cols[None, :], acc)


@gluon.jit
def _producer(bars, out_ptr, n):
    for i in range(n):
        mbarrier.wait(bars.index(1), (i & 1) ^ 1)
        mbarrier.arrive(bars.index(0), count=1)


@gluon.jit
def _specialized(out_ptr, n):
    bars = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    mbarrier.init(bars.index(0), count=1)
    mbarrier.init(bars.index(1), count=1)
    fence_async_shared()
    gl.warp_specialize([(_consumer, (bars, out_ptr, n)), (_producer, (bars, out_ptr, n))], [1], [24])


def probe(cap: int) -> dict:
    """The compiled kernel's warps, registers a thread, stack bytes and ``setmaxnreg`` values at ``cap``."""
    src = gluon._runtime.GluonASTSource(_specialized, signature={"out_ptr": "*fp32", "n": "i32"}, constexprs={})
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4, "maxnreg": cap})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as fh:
            fh.write(compiled.asm["cubin"])
        usage = subprocess.run([os.path.join(_tools(), "cuobjdump"), "-res-usage", path], capture_output=True,
                               text=True, check=True).stdout
    regs, stack = re.search(r"REG:(\d+) STACK:(\d+)", usage).groups()
    setmaxnreg = sorted({int(v) for v in re.findall(r"setmaxnreg\.\w+\.sync\.aligned\.u32 (\d+)",
                                                    compiled.asm["ptx"])})
    return {"cap": cap, "warps": compiled.metadata.num_warps, "registers": int(regs), "stack_bytes": int(stack),
            "setmaxnreg": setmaxnreg, "programs_an_sm_by_registers": 65536 // (32 * compiled.metadata.num_warps *
                                                                               int(regs))}


def main(caps: list) -> int:
    print("triton", triton.__version__)
    for cap in caps or [85, 128, 168]:
        print(probe(int(cap)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
