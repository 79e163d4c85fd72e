"""Why the same cuBLAS GEMMs take longer inside the ``triton`` mixer than inside a mixer around mamba_ssm's core.

``bench ssd --mixer`` on the H200 found the mixer's two GEMMs (in_proj, out_proj: the same nvjet kernels at the
same shapes) 8% to 12% slower in the ``triton`` mixer than in the mamba_ssm-core mixer at every shape from
1 x 2048 up. This runs, per shape, the two mixers and the two GEMMs alone, each for a while back to back, in
the order triton, mamba_ssm, GEMMs, triton again (drift shows as a difference between the two triton phases),
and records for each phase:

- NVML over the phase (``bambaprof.collect.nvml.ProcessSampler``, 20 ms): SM clock (MHz), power (W), the
  clock-event reasons seen (bitmask OR) and the share of samples with a power or thermal reason set;
- the PyTorch profiler over 5 calls: each GEMM instance's duration (us) by call order (in_proj, out_proj),
  and every kernel's time per call.

    python benchmarks/mixer_gemm_clocks.py --mamba-ssm .peers/mamba_ssm-2.2.4 -o mixer-gemm-clocks.json 1x2048 8x8192
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from typing import Any, Callable, Dict, List

import torch
import torch.nn.functional as F

from bambaprof._env import environment
from bambaprof.bench.peers import load_mamba_ssm
from bambaprof.bench.ssd import clock_stats, peer_variant
from bambaprof.collect.nvml import ProcessSampler, PynvmlBackend
from bambaprof.model import build_mixer
from bambaprof.model.config import BambaConfig
from bambaprof.ssm import get_variant


def mixer_config(heads: int = 128, head_dim: int = 64, state: int = 128, groups: int = 1, chunk: int = 256,
                 hidden: int = 4096) -> BambaConfig:
    return BambaConfig(vocab_size=16, hidden_size=hidden, intermediate_size=hidden, num_hidden_layers=1,
                       num_attention_heads=1, num_key_value_heads=1, attn_layer_indices=(), mamba_n_heads=heads,
                       mamba_d_head=head_dim, mamba_n_groups=groups, mamba_d_state=state, mamba_chunk_size=chunk,
                       mamba_expand=heads * head_dim // hidden, dtype="bf16", partial_rotary_factor=0.0)


def run_phase(fn: Callable[[], Any], sampler: ProcessSampler, seconds: float) -> Dict[str, Any]:
    """``fn`` back to back for ``seconds`` (NVML window), then 5 calls under the profiler."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.monotonic_ns()
    calls = 0
    while time.monotonic_ns() - t0 < seconds * 1e9:
        fn()
        calls += 1
        if calls % 4 == 0:
            torch.cuda.synchronize()  # keep the queue short, so the window is the GPU's
    torch.cuda.synchronize()
    t1 = time.monotonic_ns()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
    kernels = sorted((e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA),
                     key=lambda e: e.time_range.start)
    gemms = [e.time_range.elapsed_us() for e in kernels if e.name.startswith("nvjet") or "gemm" in e.name.lower()]
    per_kernel: Dict[str, float] = {}
    for e in kernels:
        per_kernel[e.name[:60]] = per_kernel.get(e.name[:60], 0.0) + e.time_range.elapsed_us() / 5
    return {"t0_ns": t0, "t1_ns": t1, "calls": calls, "wall_ms_per_call": (t1 - t0) / 1e6 / max(calls, 1),
            "gemm_us_by_order": gemms, "kernels_us_per_call": per_kernel}


def window(nvml: Dict[str, List[Any]], t0: int, t1: int) -> Dict[str, Any]:
    """bench's clock statistics of the samples in ``[t0, t1]`` (medians, held share), with the extremes."""
    stats = clock_stats(nvml, [(t0, t1)])
    rows = [i for i, t in enumerate(nvml["t_ns"]) if t0 <= t <= t1]
    pick = lambda k: [nvml[k][i] for i in rows if nvml[k][i] is not None]  # noqa: E731
    return {"samples": stats.samples, "sm_clock_mhz_median": stats.sm_clock_mhz,
            "sm_clock_mhz_min": min(pick("sm_clock_mhz"), default=None), "power_w_median": stats.power_w,
            "power_w_max": max(pick("power_w"), default=None),
            "reasons_or": functools.reduce(lambda a, b: a | int(b), pick("clock_event_reasons"), 0),
            "power_or_heat_share": None if stats.clock_held_pct is None else stats.clock_held_pct / 100.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shapes", nargs="+", help="BxL")
    parser.add_argument("--mamba-ssm", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    peer = peer_variant("mamba_ssm", load_mamba_ssm(args.mamba_ssm))
    sampler = ProcessSampler(PynvmlBackend).start()
    results: Dict[str, Any] = {}
    phases: List[tuple] = []
    try:
        for text in args.shapes:
            b, L = (int(v) for v in text.lower().split("x"))
            cfg = mixer_config()
            hidden = torch.randn(b, L, cfg.hidden_size, device="cuda", dtype=torch.bfloat16)
            tri = build_mixer(cfg, get_variant("triton"), seed=0, device="cuda")
            mam = build_mixer(cfg, peer, seed=0, device="cuda")
            y_in = torch.randn(b, L, tri.out_proj.in_features, device="cuda", dtype=torch.bfloat16)
            w_in, w_out = tri.in_proj.weight, tri.out_proj.weight

            def gemms(h=hidden, y=y_in, wi=w_in, wo=w_out) -> None:
                F.linear(h, wi)
                F.linear(y, wo)

            with torch.no_grad():
                mam(hidden)  # mamba_ssm tunes at its first call of a shape
                for name, fn in (("triton", functools.partial(tri, hidden)), ("mamba_ssm", functools.partial(mam, hidden)),
                                 ("gemms_alone", gemms), ("triton_again", functools.partial(tri, hidden))):
                    r = run_phase(fn, sampler, args.seconds)
                    results[f"{text} {name}"] = r
                    phases.append((f"{text} {name}", r["t0_ns"], r["t1_ns"]))
                    g = r["gemm_us_by_order"]
                    print(f"{text} {name:13s} wall {r['wall_ms_per_call']:.3f} ms/call, GEMMs us by order "
                          f"{[round(v, 1) for v in g[:4]]}", flush=True)
            del tri, mam, hidden, y_in
            torch.cuda.empty_cache()
    finally:
        sampler.stop()
    for key, t0, t1 in phases:
        results[key]["nvml"] = w = window(sampler.nvml, t0, t1)
        print(f"{key:28s} SM clock median {w['sm_clock_mhz_median']} min {w['sm_clock_mhz_min']} MHz, power median "
              f"{w['power_w_median']} max {w['power_w_max']} W, reasons {w['reasons_or']:#x}, power/heat share "
              f"{w['power_or_heat_share']}", flush=True)
    with open(args.output, "w") as f:
        json.dump({"environment": environment("cuda"), "about": __doc__, "phases": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
