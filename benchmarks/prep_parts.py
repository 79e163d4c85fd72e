"""Where the ``triton`` forward's first kernel (``_chunk_prep``) spends its time, by kind of program.

``_chunk_prep`` runs two kinds of independent program in one 1-D grid: ``dt'`` and its cumulative sum per
(batch, chunk, block of heads: 16, fewer where a forward has few chunks, as the plan picks), and the ``C B^T``
tiles per (batch, chunk, group, row of tiles) (or per tile with ``cb_tiles``). Launching the same kernel over a
slice of its grid times each kind alone: a grid of the ``dt'`` programs only, and one of the ``C B^T`` programs
only (``n_dt_progs=0``: every program is one of those). An empty kernel over the whole grid gives the floor a launch
of that many programs costs the GPU. Also timed, for scale: the whole forward (both kernels) as ``ssd_forward``
launches it.

The question it answers: is the prep's time at the Bamba-9B shapes (4.7 us at 1x512 to 54 us at 8x8192 on the
H200) its work or a launch's fixed cost, and which kind of program holds it; that is what folding the ``dt'``
part into the scan (so that the prep makes only ``C B^T``) could save. (Tried on an H100: the scan grew by as much
as the prep shrank or more; ``benchmarks/forms/ssd-scan-dt.patch``, ``h100-ssd-scan-dt.json``.)

Kernel time a call from the PyTorch profiler (``bambaprof.bench.ssd.kernel_time``: the median of 5 batches of
20 calls), inputs as ``bambaprof check`` makes them, bf16, h=128 p=64 n=128 g=1, chunk 256. Prints one JSON
document.

    python benchmarks/prep_parts.py [--shape 1x512 ...] > prep-parts.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import torch
import triton
import triton.language as tl

from bambaprof._env import environment
from bambaprof.bench.ssd import kernel_time
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels

SHAPES = ["1x512", "1x2048", "1x8192", "8x2048", "8x8192"]


@triton.jit
def _empty(out_ptr, n):
    # a program that does nothing a compiler can drop: the floor of a launch of this grid
    if tl.program_id(0) == n:
        tl.store(out_ptr, 1)


def prep_launcher(inputs: dict, cb_tiles: bool, part: str):
    """A call that launches ``_chunk_prep`` over the programs of ``part`` (``all``, ``dt`` or ``cb``) for
    ``inputs``, as ``ssd_forward`` would (same arguments and options), and the number of programs."""
    x, dt, A, B, C = (inputs[k] for k in ("x", "dt", "A", "B", "C"))
    bias = inputs["dt_bias"]
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    cfg = dataclasses.replace(kernels.launch_config(x.dtype, 256, P), cb_tiles=cb_tiles)
    Q = cfg.chunk or 256
    plan = kernels._forward_plan(b, L, H, P, G, N, Q, x.dtype, dt.element_size(), True, False, cfg)
    nchunks = plan.nchunks
    dtp = torch.empty(b, H, nchunks, Q, device=x.device, dtype=torch.float32)
    cs = torch.empty_like(dtp)
    cb = torch.empty(b, nchunks, G, Q, Q, device=x.device, dtype=plan.cb_dtype)
    flags = torch.empty(b * H * plan.n_pb, device=x.device, dtype=torch.int32)
    ticket = torch.empty(1, device=x.device, dtype=torch.int32)
    total = plan.prep_grid[0]
    n_dt, grid = {"all": (plan.n_dt, total), "dt": (plan.n_dt, plan.n_dt), "cb": (0, total - plan.n_dt)}[part]

    def call():
        kernels._chunk_prep[(grid,)](
            x, dt, bias, A, B, C, dtp, cs, cb, flags, ticket,
            L, H, G, N, nchunks, plan.n_hb, n_dt, plan.n_pb, *dt.stride(), *B.stride(), *C.stride(),
            0.0, 3.0e38, Q=Q, BQ=plan.bq, BH=plan.prep_bh, BM=cfg.cb_rows, BNC=plan.bn, NPB=plan.npb,
            HAS_BIAS=True, SOFTPLUS=True, CLAMP=False, PREC=plan.prec, DOT_F32=plan.dot_f32, I64=False,
            CB_TILES=cb_tiles, num_warps=cfg.prep_warps)

    return call, grid


def measure(label: str, sink: torch.Tensor) -> dict:
    """Kernel us a call at shape ``label`` (``BxL``) of each part of the prep, an empty launch of its grid and
    the whole forward."""
    b, L = (int(v) for v in label.split("x"))
    inputs = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=False)
    row = {}
    for cb_tiles in (False, True):
        for part in ("all", "dt", "cb"):
            if part == "dt" and cb_tiles:
                continue  # the dt' programs are the same either way
            call, grid = prep_launcher(inputs, cb_tiles, part)
            name = f"{part}{'_tiles' if cb_tiles else ''}"
            row[name] = {"programs": grid, "kernel_us": kernel_time(call, calls=20).ms * 1e3}
    grid = row["all"]["programs"]
    row["empty_launch"] = {"programs": grid,
                           "kernel_us": kernel_time(lambda: _empty[(grid,)](sink, -1), calls=20).ms * 1e3}
    forward = kernel_time(lambda: kernels.ssd_forward(
        inputs["x"], inputs["dt"], inputs["A"], inputs["B"], inputs["C"], 256, D=inputs["D"],
        dt_bias=inputs["dt_bias"], dt_softplus=True, return_final_state=True), calls=20)
    row["forward"] = {"kernel_us": forward.ms * 1e3, "by_kernel_us": forward.by_name_us}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", help="BxL (default: the five Bamba-9B shapes)")
    args = parser.parse_args()
    out = {"environment": environment("cuda"), "method": __doc__.split("\n\n")[3].replace("\n", " "), "rows": {}}
    sink = torch.zeros(1, device="cuda", dtype=torch.int32)
    for label in args.shape or SHAPES:
        row = out["rows"][label] = measure(label, sink)
        print(label, {k: round(v["kernel_us"], 2) for k, v in row.items()}, file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
