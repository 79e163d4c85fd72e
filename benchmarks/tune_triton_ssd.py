"""Try launch configurations of the ``triton`` variant's forward kernels on a GPU.

Times each candidate configuration (and mamba_ssm's ``mamba_chunk_scan_combined``
when ``--mamba-ssm`` is given) at the Bamba-9B mixer shapes with the same method
as ``bambaprof bench ssd`` (median, inputs rotated past L2), prints one JSON
document, and a per-kernel breakdown from the PyTorch profiler for the first
configuration. The chosen configuration goes into ``bambaprof/ssm/kernels/ssd.py``
(``_CONFIGS``) by hand, and ``bambaprof bench ssd`` then measures the committed code.

    python benchmarks/tune_triton_ssd.py [--mamba-ssm SRC] [--dtype bfloat16] > tune.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict

import torch

from bambaprof._env import environment
from bambaprof.bench.peers import optional_mamba_ssm
from bambaprof.bench.ssd import bench_ssd
from bambaprof.model.config import parse_dtype
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels

SHAPES = [(1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192)]
BASE = kernels.LaunchConfig()
CANDIDATES = {
    "base": BASE,
    "no_large_bn": dataclasses.replace(BASE, large_programs=1 << 30),
    "scan_s2": dataclasses.replace(BASE, scan_stages=2),
    "state_bn32": dataclasses.replace(BASE, state_bn=32),
    "state_bl32": dataclasses.replace(BASE, state_bl=32),
    "state_s1": dataclasses.replace(BASE, state_stages=1),
    "state_s3": dataclasses.replace(BASE, state_stages=3),
    "state_w8": dataclasses.replace(BASE, state_warps=8),
    "state_large_w8": dataclasses.replace(BASE, state_warps_large=8),  # no spills at n block 128 (static check)
    "scan_w8": dataclasses.replace(BASE, scan_warps=8),  # no spills (static check); slower in an earlier version
}


def with_config(cfg):
    variant = get_variant("triton")

    def core(*args, **kwargs):
        kernels.config_override = cfg
        try:
            return variant(*args, **kwargs)
        finally:
            kernels.config_override = None

    return core


def kernel_breakdown(core, shape, dtype):
    """Per-kernel GPU time (us) of one call, from the PyTorch profiler."""
    inp = make_inputs(shape, dtype, "cuda", seed=0, initial_state=False)
    args = (inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], shape.chunk_size)
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)
    for _ in range(3):
        core(*args, **kw)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            core(*args, **kw)
        torch.cuda.synchronize()
    out = defaultdict(float)
    for evt in prof.events():
        if evt.device_type == torch.autograd.DeviceType.CUDA:
            out[evt.name[:60]] += evt.device_time / 5
    return dict(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mamba-ssm", default=None)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--rep-ms", type=float, default=150)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to try")
    args = parser.parse_args()
    dtype = parse_dtype(args.dtype)
    cores = {name: with_config(cfg) for name, cfg in CANDIDATES.items() if not args.only or name in args.only}
    peer = optional_mamba_ssm(args.mamba_ssm)
    if peer is not None:
        cores["mamba_ssm"] = peer
    shapes = [Shape(b, L, 128, 64, 1, 128, 256) for b, L in SHAPES]
    records = bench_ssd(cores, shapes, dtype, "cuda", rep_ms=args.rep_ms,
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    table = defaultdict(dict)
    for r in records:
        table[r.variant][f"{r.batch}x{r.seq_len}"] = r.median_ms if r.status == "ok" else r.status
    breakdown = {}
    for name in ("base", "mamba_ssm"):
        if name in cores:
            breakdown[name] = {f"{b}x{L}": kernel_breakdown(cores[name], Shape(b, L, 128, 64, 1, 128, 256), dtype)
                               for b, L in ((1, 2048), (1, 8192), (8, 8192))}
    doc = {"environment": environment("cuda"), "dtype": args.dtype,
           "candidates": {k: dataclasses.asdict(v) for k, v in CANDIDATES.items()},
           "median_ms": table, "kernel_us": breakdown}
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
