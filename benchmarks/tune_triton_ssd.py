"""Try launch configurations of the ``triton`` variant's forward kernels on a GPU.

Times each candidate configuration (and mamba_ssm's ``mamba_chunk_scan_combined``
when ``--mamba-ssm`` is given) at the Bamba-9B mixer shapes with the same method
as ``bambaprof bench ssd`` (wall-clock median, inputs rotated past L2, and GPU kernel
time per call from the PyTorch profiler) and prints one JSON document, with the time
per kernel of every core. The chosen configuration goes into ``bambaprof/ssm/kernels/ssd.py``
(``_CONFIGS``) by hand, and ``bambaprof bench ssd`` then measures the committed code.
``--kernels NAME=PATH`` also times another form of ``kernels/ssd.py`` (a file, e.g. a branch's
version) with its own default configuration, beside the committed one in the same run.
Before timing, each core is checked against the float64 recurrence at 2 x 600 (three chunks, the last
partial, with an initial state): ``check`` in the output holds each one's relative errors of y and of
the final state and whether both are within the dtype's tolerance; a core that fails is still timed, and
its failure is printed to stderr.

    python benchmarks/tune_triton_ssd.py [--mamba-ssm SRC] [--dtype bfloat16] [--only NAME ...] [--shape 1x512 ...]
        [--kernels NAME=PATH] > tune.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
from collections import defaultdict

import torch

from bambaprof._env import environment
from bambaprof.bench.peers import optional_mamba_ssm
from bambaprof.bench.ssd import bench_ssd
from bambaprof.model.config import parse_dtype
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import TOLERANCES, Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels
from bambaprof.ssm.kernels import ssd_sm90

#: Forms of the Gluon scan tried here only (registered in ``ssd_sm90.FORMS`` for this process): ``gluon_slim``
#: with a deeper ring (``ring_slots``) and no register cap, which fits two programs an SM, not three (84 KB at 4
#: slots, 109 KB at 7; 185 and 173 registers in an offline sm_90 compile), and at three slots uncapped (179
#: registers: two an SM by registers), so that the ring's depth and the cap are told apart.
TRIAL_FORMS = {f"gluon_slim_r{slots}{'u' if slots == 3 else ''}": dict(ssd_sm90.FORMS["gluon_slim"], ring_slots=slots,
                                                                     max_registers=0) for slots in (3, 4, 7)}
ssd_sm90.FORMS.update(TRIAL_FORMS)

SHAPES = [(1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192)]
BASE = kernels.LaunchConfig()  # the committed options (eager: the Triton scan; in CUDA graphs the Gluon one)
TRITON = dataclasses.replace(BASE, scan_kernel="triton")  # _chunk_scan: 4 warps, 1 stage, at most 168 registers
CANDIDATES = {
    "base": BASE,
    "triton": TRITON,
    "no_cap": dataclasses.replace(TRITON, scan_maxnreg=None),
    "cap128": dataclasses.replace(TRITON, scan_maxnreg=128),
    "s2": dataclasses.replace(TRITON, scan_stages=2),
    "w8_cap128": dataclasses.replace(TRITON, scan_warps=8, scan_maxnreg=128),
    "bm32": dataclasses.replace(TRITON, scan_bm=32),
    "q128": dataclasses.replace(BASE, chunk=128),  # the kernels' chunk tiles the model's 256
    "q64": dataclasses.replace(BASE, chunk=64),
    # head-dim blocks of 32 under a lower cap: twice the programs, 4 or 5 of them an SM (spills screened with
    # benchmarks/triton_resource_usage.py: 40, 56 and 104 bytes a thread at 128, 112 and 96 registers)
    "bp32_r128": dataclasses.replace(TRITON, scan_bp=32, scan_maxnreg=128),
    "bp32_r112": dataclasses.replace(TRITON, scan_bp=32, scan_maxnreg=112),
    "bp32_r96": dataclasses.replace(TRITON, scan_bp=32, scan_maxnreg=96),
    # the Hopper chunk scan of kernels/ssd_sm90.py, each form (ssd_sm90.FORMS)
    "gluon": dataclasses.replace(BASE, scan_kernel="gluon"),  # products waited for as issued
    "gluon_2d": dataclasses.replace(BASE, scan_kernel="gluon_2d"),  # the same, 2-D decay on every tile
    "gluon_async": dataclasses.replace(BASE, scan_kernel="gluon_async"),  # products left in flight (auto's form)
    "gluon_packed": dataclasses.replace(BASE, scan_kernel="gluon_packed"),  # the same, C B^T scaled in bf16 pairs
    "gluon_lean": dataclasses.replace(BASE, scan_kernel="gluon_lean"),  # the same, D x on the tensor cores
    "gluon_lg2": dataclasses.replace(BASE, scan_kernel="gluon_lg2"),  # packed, dt' folded into each exponent
    "gluon_late": dataclasses.replace(BASE, scan_kernel="gluon_late"),  # lg2, the hand-off released a product later
    "gluon_slim": dataclasses.replace(BASE, scan_kernel="gluon_slim"),  # late's arithmetic, 74 KB: three an SM
    "gluon_pair": dataclasses.replace(BASE, scan_kernel="gluon_pair"),  # the same, two heads a program, 8 warps
    "gluon_wide": dataclasses.replace(BASE, scan_kernel="gluon_wide"),  # the same, one head over two warpgroups
    "gluon_stay": dataclasses.replace(BASE, scan_kernel="gluon_stay"),  # slim's programs resident, 3 an SM
    **{name: dataclasses.replace(BASE, scan_kernel=name) for name in TRIAL_FORMS},
    # auto's form on chunks of 128: twice the programs, each about half the work (one wave at 1 x 512 holds 264)
    "gluon_async_q128": dataclasses.replace(BASE, scan_kernel="gluon_async", chunk=128),
    # auto's two forms on the kernels' own chunk of 128 (or 64), tiling the model's 256: 17% (25%) fewer
    # products a position at Bamba-9B's shapes, and twice (four times) the programs, where few chunks leave SMs idle
    "gluon_late_q128": dataclasses.replace(BASE, scan_kernel="gluon_late", chunk=128),
    "gluon_slim_q128": dataclasses.replace(BASE, scan_kernel="gluon_slim", chunk=128),
    "gluon_late_q64": dataclasses.replace(BASE, scan_kernel="gluon_late", chunk=64),
    # auto's form after a prep with a program per C B^T tile (the longest prep program makes one product, not four)
    "gluon_async_cb_tiles": dataclasses.replace(BASE, scan_kernel="gluon_async", cb_tiles=True),
    # the prep's programs shorter (the default's scan after them): a C B^T tile a program, and fewer heads a dt'
    # program (more programs, each cumulative sum over the chunk spread over fewer rows of heads), or other warps
    "cb_tiles": dataclasses.replace(BASE, cb_tiles=True),
    **{f"tiles_bh{bh}_w{w}": dataclasses.replace(BASE, cb_tiles=True, prep_bh=bh, prep_warps=w)
       for bh, w in ((8, 4), (4, 4), (2, 4), (4, 2), (8, 2), (16, 8))},
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


def with_kernels(name, path):
    """The variant with ``ssd_forward`` taken from the module file ``path``, loaded inside the kernels package
    (so its relative imports resolve) under the name ``_form_<name>``."""
    spec = importlib.util.spec_from_file_location(f"bambaprof.ssm.kernels._form_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    variant = get_variant("triton")

    def core(*args, **kwargs):
        committed = kernels.ssd_forward
        kernels.ssd_forward = module.ssd_forward  # the variant imports it from the module at each call
        try:
            return variant(*args, **kwargs)
        finally:
            kernels.ssd_forward = committed

    return core


#: Where each core is checked before timing: three chunks, the last partial.
CHECK_SHAPE = Shape(2, 600, 128, 64, 1, 128, 256)


def check(cores, dtype, device="cuda", shape=CHECK_SHAPE) -> dict:
    """Each core's relative errors (y, final state) against the float64 recurrence at ``shape``, and whether
    both are within ``dtype``'s tolerance (see the module docstring)."""
    inp = make_inputs(shape, dtype, device, seed=0, initial_state=True)
    args = (inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], shape.chunk_size)
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, initial_state=inp["initial_state"],
              return_final_state=True)
    wide = lambda v: v.double() if isinstance(v, torch.Tensor) else v  # noqa: E731
    y_ref, s_ref = get_variant("reference")(*map(wide, args), **{k: wide(v) for k, v in kw.items()})
    tol = TOLERANCES.get(dtype, 1e-2)
    out = {}
    for name, core in cores.items():
        try:
            y, s = core(*args, **kw)
            ey = ((y.double() - y_ref).norm() / y_ref.norm()).item()
            es = ((s.double() - s_ref).norm() / s_ref.norm()).item()
            out[name] = {"y_rel_err": ey, "state_rel_err": es, "pass": ey <= tol and es <= tol}
        except Exception as exc:  # noqa: BLE001 - reported, and the core is still timed
            out[name] = {"error": f"{type(exc).__name__}: {exc}", "pass": False}
        if not out[name]["pass"]:
            print(f"check FAILED: {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mamba-ssm", default=None)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--rep-ms", type=float, default=100)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to try")
    parser.add_argument("--shape", action="append", default=None, help="b x L (default: the five target shapes)")
    parser.add_argument("--kernels", action="append", default=[], metavar="NAME=PATH",
                        help="another form of kernels/ssd.py to time with its default configuration")
    args = parser.parse_args()
    dtype = parse_dtype(args.dtype)
    cores = {name: with_config(cfg) for name, cfg in CANDIDATES.items() if not args.only or name in args.only}
    for item in args.kernels:
        name, _, path = item.partition("=")
        cores[name] = with_kernels(name, path)
    peer = optional_mamba_ssm(args.mamba_ssm)
    if peer is not None:
        cores["mamba_ssm"] = peer
    checked = check(cores, dtype)
    sizes = [tuple(int(v) for v in spec.lower().split("x")) for spec in args.shape] if args.shape else SHAPES
    shapes = [Shape(b, L, 128, 64, 1, 128, 256) for b, L in sizes]
    records = bench_ssd(cores, shapes, dtype, "cuda", rep_ms=args.rep_ms,
                        progress=lambda line: print(line, file=sys.stderr, flush=True),
                        baseline="mamba_ssm" if peer is not None else None)
    wall, kernel, by_kernel = defaultdict(dict), defaultdict(dict), defaultdict(dict)
    for r in records:
        key = f"{r.batch}x{r.seq_len}"
        wall[r.variant][key] = r.median_ms if r.status == "ok" else r.status
        kernel[r.variant][key] = r.kernel_ms
        by_kernel[r.variant][key] = r.kernels_us
    doc = {"environment": environment("cuda"), "dtype": args.dtype, "check": checked,
           "candidates": {k: dataclasses.asdict(v) for k, v in CANDIDATES.items()},
           "median_ms": wall, "kernel_ms": kernel, "kernel_us": by_kernel}
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
