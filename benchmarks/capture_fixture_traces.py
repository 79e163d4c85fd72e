"""Capture small real Kineto traces of SSD cores on the GPU (fixtures for the analyzer tests).

Profiles one call of each SSD core at a small shape with record_shapes, eager and
torch.compile'd (with TORCHINDUCTOR_BENCHMARK_KERNEL=1 so inductor kernels carry
their byte counts), and writes gzipped Chrome traces to the given folder.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys

os.environ.setdefault("TORCHINDUCTOR_BENCHMARK_KERNEL", "1")

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bambaprof.ssm import get_variant  # noqa: E402
from bambaprof.ssm.check import Shape, make_inputs  # noqa: E402


def capture(fn, path: str) -> None:
    with torch.no_grad():
        for _ in range(2):
            fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True,
                     profile_memory=True) as prof:
            fn()
            torch.cuda.synchronize()
    raw = path[:-3]
    prof.export_chrome_trace(raw)
    with open(raw, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(raw)
    print(path, os.path.getsize(path), flush=True)


def main(folder: str) -> int:
    os.makedirs(folder, exist_ok=True)
    shape = Shape(1, 512, 16, 64, 1, 128, 128)
    inp = make_inputs(shape, torch.bfloat16, "cuda", seed=0, initial_state=False)
    for name in ["default", "default-optimized"]:
        v = get_variant(name)

        def call(v=v):
            return v(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], shape.chunk_size, D=inp["D"],
                     dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)

        capture(call, os.path.join(folder, f"ssd-{name}-eager-b1-L512-h16.json.gz"))
        if name == "default":
            compiled = torch.compile(v.forward)

            def ccall():
                return compiled(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], shape.chunk_size, D=inp["D"],  # noqa: B023 - called in this iteration
                                dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)

            capture(ccall, os.path.join(folder, f"ssd-{name}-compiled-b1-L512-h16.json.gz"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
