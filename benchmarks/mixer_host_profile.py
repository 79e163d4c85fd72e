"""Where an eager Bamba-9B mixer's host time goes with each chunk scan (GPU machine): four ``triton`` mixers
(bf16, 1 x 512 unless ``--shape``) called one after another, as a model's layers run, profiled by cProfile over
``--calls`` forwards of the four for each scan named (after a warm-up), with the host time a forward of the four
(``perf_counter``, no synchronisation inside). Prints, for each scan, that time and the functions with the most
own time (us a forward), then the functions whose own time differs most between the first two scans.

    python benchmarks/mixer_host_profile.py [--shape 1x512] [--scan triton --scan gluon_ordered] [--calls 50]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time
from typing import Dict, Tuple

import torch

from bambaprof.model import build_mixer
from bambaprof.model.config import BambaConfig
from bambaprof.ssm.kernels import ssd


def own_times(profile: cProfile.Profile, calls: int) -> Dict[Tuple[str, int, str], float]:
    """Each function's own time (us a forward of the four mixers)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {key: value[2] / calls * 1e6 for key, value in stats.items()}


def label(key: Tuple[str, int, str]) -> str:
    path, line, name = key
    return f"{path.rsplit('/', 2)[-1] if path != '~' else ''}:{line}({name})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="1x512")
    parser.add_argument("--scan", action="append", default=None)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    scans = args.scan or ["triton", "gluon_ordered"]
    b, L = (int(v) for v in args.shape.lower().split("x"))
    cfg = dataclasses.replace(BambaConfig(), num_hidden_layers=1, attn_layer_indices=(), dtype="bfloat16")
    mixers = [build_mixer(cfg, "triton", seed=i, device="cuda") for i in range(4)]
    hidden = torch.randn(b, L, cfg.hidden_size, device="cuda", dtype=torch.bfloat16)

    def forward() -> torch.Tensor:
        h = hidden
        for mixer in mixers:
            h = mixer(h)
        return h

    owns = {}
    with torch.no_grad():
        for scan in scans:
            ssd.scan_override = scan
            for _ in range(20):
                forward()
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.calls):
                forward()
            host = (time.perf_counter() - start) / args.calls * 1e6
            torch.cuda.synchronize()
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.calls):
                forward()
            profile.disable()
            torch.cuda.synchronize()
            owns[scan] = own_times(profile, args.calls)
            top = sorted(owns[scan].items(), key=lambda kv: -kv[1])[:15]
            print(f"{scan}: host {host:.1f} us a forward of four mixers (unprofiled); own time, us a forward:")
            for key, us in top:
                print(f"  {us:8.1f}  {label(key)}")
    ssd.scan_override = None
    if len(scans) >= 2:
        a, b_ = owns[scans[0]], owns[scans[1]]
        diff = sorted(((b_.get(k, 0.0) - a.get(k, 0.0), k) for k in set(a) | set(b_)), key=lambda t: -abs(t[0]))
        print(f"own time {scans[1]} - {scans[0]}, us a forward:")
        for d, key in diff[:20]:
            print(f"  {d:+8.1f}  {label(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
