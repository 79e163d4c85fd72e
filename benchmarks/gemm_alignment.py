"""How much a GEMM dim that is not a multiple of 8 (16 bytes of bf16) costs on this GPU: a bf16 [M, K] @ [K, N]
with N (or K) misaligned beside the same with it padded, CUDA-event medians and the cuBLAS kernels the profiler
names, as JSON lines. The figures behind whether bambaprof should advise padding (an LM head of 50,257 columns
padded to 50,304).

    python benchmarks/gemm_alignment.py
"""

import json
import statistics

import torch
from torch.profiler import ProfilerActivity, profile

from bambaprof.collect.timing import Stopwatch

CASES = [  # (label, M, K, N)
    ("N 50257", 4096, 4096, 50257), ("N 50264 (x8)", 4096, 4096, 50264), ("N 50304 (x64)", 4096, 4096, 50304),
    ("K 4097", 4096, 4097, 4096), ("K 4104 (x8)", 4096, 4104, 4096), ("K 4096", 4096, 4096, 4096),
    ("N 1001", 8192, 4096, 1001), ("N 1008 (x8)", 8192, 4096, 1008), ("N 1024", 8192, 4096, 1024),
]


def median_ms(fn, reps: int = 30) -> float:
    """Median ms a call by CUDA events (bambaprof's Stopwatch: one mark between calls), after 5 warm-up calls."""
    for _ in range(5):
        fn()
    watch = Stopwatch("cuda")
    watch.mark()
    for _ in range(reps):
        fn()
        watch.mark()
    return statistics.median(watch.intervals_ms())


def main() -> None:
    for label, m, k, n in CASES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        ms = median_ms(lambda x=x, w=w: x @ w)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            x @ w
            torch.cuda.synchronize()
        kernels = sorted({e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA})
        print(json.dumps({"case": label, "m": m, "k": k, "n": n, "median_ms": round(ms, 4),
                          "tflops": round(2 * m * k * n / ms / 1e9, 1), "kernels": kernels}))


if __name__ == "__main__":
    main()
