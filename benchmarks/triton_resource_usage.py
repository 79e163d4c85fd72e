"""Registers, local-memory spills and matrix instructions of the ``triton`` variant's kernels, compiled
ahead of time for the H200 (sm_90) on a machine with no GPU (:mod:`bambaprof.ssm.kernels.aot`).

    python benchmarks/triton_resource_usage.py            # the configurations bambaprof launches, bf16

For each kernel: registers per thread, stack bytes (spills), shared memory per program, local
loads/stores in the SASS, and the count of Hopper warpgroup MMAs (HGMMA) against warp-level ones
(HMMA). No device time: use it to screen launch configurations before timing them with
``benchmarks/tune_triton_ssd.py``. The local Triton may differ from the device's, so the figures are
indicative, not the device's exact code.

The kernels are specialised as a launch in the Bamba-9B mixer specialises them (``LAUNCH``: strides of
1 become constants, strides divisible by 16 are compiled as such; x, B and C are views of the conv
output, dt a slice of in_proj's); ``--generic`` compiles them without, as the tool did before
2026-12-04. The two differ much: the generic chunk scan spilled 1352 bytes a thread at the 168-register
cap, the launched one 72 (Triton 3.9), so figures from generic compiles say little about spills.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys

os.environ["TRITON_INTERPRET"] = "0"  # compile, do not interpret

import torch  # noqa: E402
import triton  # noqa: E402

from bambaprof.ssm.kernels import ssd  # noqa: E402
from bambaprof.ssm.kernels.aot import resource_usage  # noqa: E402

# The integer arguments of each kernel as the Bamba-9B mixer launches it at b=8, L=8192 (h=128, p=64, n=128,
# g=1, chunk 256, 32 chunks): x, B and C are views of the conv output (b, L, 8448), dt a slice of in_proj's
# output (b, L, 16768), y is (b, L, h, p). Launches at other lengths differ only in L, nchunks and batch
# strides, all of which keep their divisibility by 16.
CONV, IN_PROJ = 128 * 64 + 2 * 128, 2 * 128 * 64 + 2 * 128 + 128
_ROWS = dict(L=8192, H=128, G=1, N=128, nchunks=32)
LAUNCH = {
    "_chunk_prep": dict(_ROWS, n_hblocks=8, n_dt_progs=8 * 32 * 8, n_pblocks=1, s_dt_b=8192 * IN_PROJ,
                        s_dt_l=IN_PROJ, s_dt_h=1, s_B_b=8192 * CONV, s_B_l=CONV, s_B_g=128, s_B_n=1,
                        s_C_b=8192 * CONV, s_C_l=CONV, s_C_g=128, s_C_n=1),
    "_chunk_scan": dict(_ROWS, P=64, heads_per_group=128, n_pblocks=1, s_x_b=8192 * CONV, s_x_l=CONV,
                        s_x_h=64, s_x_p=1, s_B_b=8192 * CONV, s_B_l=CONV, s_B_g=128, s_B_n=1, s_C_b=8192 * CONV,
                        s_C_l=CONV, s_C_g=128, s_C_n=1, s_y_b=8192 * 8192, s_y_l=8192, s_y_h=64, s_y_p=1),
    "_decode": dict(H=128, P=64, N=128, heads_per_group=128),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.add_argument("--i64", action="store_true", help="the 64-bit-offset forms (tensors past 2**31 elements)")
    parser.add_argument("--generic", action="store_true",
                        help="no integer specialisation (strides unknown, pointers not taken as aligned)")
    args = parser.parse_args()
    bf = "*bf16"
    cfg = ssd.launch_config(torch.bfloat16, 256, 64)
    common = dict(PREC="tf32", DOT_F32=False, I64=args.i64)
    prep_ptrs = {"x_ptr": bf, "dt_ptr": bf, "B_ptr": bf, "C_ptr": bf, "cb_ptr": bf, "flag_ptr": "*i32",
                 "ticket_ptr": "*i32"}
    prep = dict(Q=256, BQ=256, BH=16, BM=cfg.cb_rows, BNC=128, NPB=1, HAS_BIAS=True, SOFTPLUS=True, CLAMP=False,
                **common)
    jobs = {
        "_chunk_prep": (ssd._chunk_prep, prep_ptrs, prep, 4, 1, None),
        "_chunk_prep_cb_tiles": (ssd._chunk_prep, prep_ptrs, dict(prep, BH=ssd.PREP_MIN_BH, CB_TILES=True), 4, 1, None),
        "_chunk_scan": (ssd._chunk_scan, {"x_ptr": bf, "B_ptr": bf, "C_ptr": bf, "cb_ptr": bf, "y_ptr": bf,
                                          "flag_ptr": "*i32", "ticket_ptr": "*i32"},
                        dict(Q=256, BM=cfg.scan_bm, BP=cfg.scan_bp, BN=128, HAS_D=True, HAS_INIT=False, **common),
                        cfg.scan_warps, cfg.scan_stages, cfg.scan_maxnreg),
        "_decode": (ssd._decode, {"x_ptr": bf, "dt_ptr": bf, "B_ptr": bf, "C_ptr": bf, "y_ptr": bf},
                    dict(BP=ssd.DECODE_BP, BN=128, HAS_D=True, HAS_BIAS=True, SOFTPLUS=True, CLAMP=False), 4, 1, None),
    }
    launched = {name: LAUNCH[re.sub(r"_cb_tiles$", "", name)] for name in jobs}  # the forms share a launch
    report = {name: dict(resource_usage(fn, ptrs, consts, warps, stages, maxnreg=cap,
                                        values=None if args.generic else launched[name]),
                         num_warps=warps, num_stages=stages, maxnreg=cap)
              for name, (fn, ptrs, consts, warps, stages, cap) in jobs.items()}
    if args.json:
        print(json.dumps({"triton": triton.__version__, "target": "sm_90", "i64": args.i64, "generic": args.generic,
                          "config": dataclasses.asdict(cfg),
                          "kernels": report}, indent=1))
        return 0
    print(f"triton {triton.__version__}, sm_90, bf16, Bamba-9B shapes{', generic' if args.generic else ''};"
          f" {dataclasses.asdict(cfg)}")
    for name, u in report.items():
        print(f"{name:28s} " + ", ".join(f"{k} {v}" for k, v in u.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
