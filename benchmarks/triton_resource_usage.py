"""Registers, local-memory spills and matrix instructions of the ``triton`` variant's kernels, compiled
ahead of time for the H200 (sm_90) on a machine with no GPU (:mod:`bambaprof.ssm.kernels.aot`).

    python benchmarks/triton_resource_usage.py            # the configurations bambaprof launches, bf16

For each kernel: registers per thread, stack bytes (spills), local loads/stores in the SASS, and the
count of Hopper warpgroup MMAs (HGMMA) against warp-level ones (HMMA). No device time: use it to
screen launch configurations before timing them with ``benchmarks/tune_triton_ssd.py``. The local
Triton may differ from the device's, so the figures are indicative, not the device's exact code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

os.environ["TRITON_INTERPRET"] = "0"  # compile, do not interpret

import torch  # noqa: E402
import triton  # noqa: E402

from bambaprof.ssm.kernels import ssd  # noqa: E402
from bambaprof.ssm.kernels.aot import resource_usage  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.add_argument("--i64", action="store_true", help="the 64-bit-offset forms (tensors past 2**31 elements)")
    args = parser.parse_args()
    bf = "*bf16"
    cfg = ssd.launch_config(torch.bfloat16, 256, 64)
    common = dict(PREC="tf32", DOT_F32=False, I64=args.i64)
    jobs = {
        "_chunk_prep": (ssd._chunk_prep, {"x_ptr": bf, "dt_ptr": bf, "B_ptr": bf, "C_ptr": bf, "cb_ptr": bf,
                                          "flag_ptr": "*i32", "ticket_ptr": "*i32"},
                        dict(Q=256, BQ=256, BH=16, BM=cfg.cb_rows, BNC=128, NPB=1, HAS_BIAS=True, SOFTPLUS=True,
                             CLAMP=False, **common), 4, 1, None),
        "_chunk_scan": (ssd._chunk_scan, {"x_ptr": bf, "B_ptr": bf, "C_ptr": bf, "cb_ptr": bf, "y_ptr": bf,
                                          "flag_ptr": "*i32", "ticket_ptr": "*i32"},
                        dict(Q=256, BM=cfg.scan_bm, BP=cfg.scan_bp, BN=128, HAS_D=True, HAS_INIT=False, **common),
                        cfg.scan_warps, cfg.scan_stages, cfg.scan_maxnreg),
        "_decode": (ssd._decode, {"x_ptr": bf, "dt_ptr": bf, "B_ptr": bf, "C_ptr": bf, "y_ptr": bf},
                    dict(BP=ssd.DECODE_BP, BN=128, HAS_D=True, HAS_BIAS=True, SOFTPLUS=True, CLAMP=False), 4, 1, None),
    }
    report = {name: dict(resource_usage(fn, ptrs, consts, warps, stages, maxnreg=cap), num_warps=warps,
                         num_stages=stages, maxnreg=cap)
              for name, (fn, ptrs, consts, warps, stages, cap) in jobs.items()}
    if args.json:
        print(json.dumps({"triton": triton.__version__, "target": "sm_90", "i64": args.i64,
                          "config": dataclasses.asdict(cfg),
                          "kernels": report}, indent=1))
        return 0
    print(f"triton {triton.__version__}, sm_90, bf16, Bamba-9B shapes; {dataclasses.asdict(cfg)}")
    for name, u in report.items():
        print(f"{name:28s} " + ", ".join(f"{k} {v}" for k, v in u.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
