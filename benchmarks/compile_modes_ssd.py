"""Does the ``triton`` SSD forward finish, and match eager, under each ``torch.compile`` mode?

Each mode runs in its own process with a time limit (a kernel that waits forever shows as a timeout),
at one Bamba-9B mixer shape (bf16). Prints one line per mode.

    python benchmarks/compile_modes_ssd.py [--shape 1x2048] [--limit 120] [--modes default max-autotune ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import sys, time, torch
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
b, L, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
i = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, True)
v = get_variant("triton")
def f(x, dt, A, B, C, D, bias, init):
    return v(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True, initial_state=init, return_final_state=True)
args = [i[k] for k in ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")]
y0, s0 = f(*args)
g = torch.compile(f, mode=None if mode == "default" else mode, fullgraph=True)
t = time.perf_counter()
for _ in range(4):
    y1, s1 = g(*args)
    torch.cuda.synchronize()
err = max(((y1.float() - y0.float()).norm() / y0.float().norm()).item(), ((s1 - s0).norm() / s0.norm()).item())
print(f"ok, 4 calls in {time.perf_counter() - t:.1f} s (compile included), rel diff to eager {err:.1e}")
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="1x2048")
    parser.add_argument("--limit", type=float, default=120)
    parser.add_argument("--modes", nargs="*",
                        default=["default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune"])
    args = parser.parse_args()
    b, L = args.shape.lower().split("x")
    for mode in args.modes:
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, b, L, mode], capture_output=True, text=True,
                                  timeout=args.limit)
            out = proc.stdout.strip().splitlines()[-1:] or [f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"]
            print(f"{mode:28s} {out[0]}", flush=True)
        except subprocess.TimeoutExpired:
            print(f"{mode:28s} did not finish in {args.limit:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
