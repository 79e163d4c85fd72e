"""Peak memory and median time of each SSD core variant at Bamba-9B mixer shapes (GPU).

Measures what `default` costs as the study's baseline: peak allocated bytes
(torch.cuda.max_memory_allocated over one call, inputs excluded) and the median of
CUDA-event timings over several calls after a warm-up. Variants that run out of
memory are recorded as such. Writes JSON to the path given as the first argument.

    python benchmarks/ssd_footprint.py results.json [--seq-len 512 2048]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys

import torch
import triton

import bambaprof
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs


def measure(name: str, inp: dict, chunk: int, reps: int) -> dict:
    v = get_variant(name)

    def call():
        return v(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], chunk, D=inp["D"], dt_bias=inp["dt_bias"],
                 dt_softplus=True, return_final_state=True)

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    try:
        with torch.no_grad():
            call()  # warm-up (Triton compilation happens here)
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            times = []
            for _ in range(reps):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                call()
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"variant": name, "status": "out of memory"}
    return {
        "variant": name,
        "status": "ok",
        "peak_bytes": peak,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "reps": reps,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--seq-len", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--variants", nargs="+", default=["default", "default-optimized", "independent"])
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    records = []
    for L in args.seq_len:
        shape = Shape(1, L, 128, 64, 1, 128, 256)
        inp = make_inputs(shape, torch.bfloat16, "cuda", seed=0, initial_state=False)
        for name in args.variants:
            rec = measure(name, inp, shape.chunk_size, args.reps)
            rec.update(batch=1, seq_len=L, heads=128, head_dim=64, state=128, groups=1, chunk_size=256,
                       dtype="bfloat16")
            records.append(rec)
            print(json.dumps(rec), flush=True)
        del inp
    out = {
        "what": "SSD core peak memory (bytes above inputs) and CUDA-event median time, one call",
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton.__version__,
        "bambaprof": bambaprof.__version__,
        "records": records,
    }
    with open(args.output, "w") as fh:
        json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
