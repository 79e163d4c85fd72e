"""The Gluon scan's hand-off in other orders, beside the package at an earlier commit and mamba_ssm; and any change
of the working tree's kernels beside that commit's (the sides below), with ``--equal`` for their bits.

``benchmarks/scan_phases.py`` found a program's hand-off (E read from the chain's ring, ``exp(cs_end) E + S``
stored on) taking 3 to 3.4 us of the 20 to 25 us a program takes at every Bamba-9B shape, the longest waits of
its SASS being the loads of E. It reads E a half of n at a time, and the second half's loads cannot move above
the first half's stores (the same ring: they may alias). Two orders were tried as trial options of the slim
kernel, in ``benchmarks/forms/ssd-hand-off-order.patch`` (apply it for the sides ``slim_e_first`` and
``slim_stores_late``): both halves of E read before either is stored (``e_first``), and E put in shared memory
with its barrier before ``exp(cs_end) E + S`` is stored on (``stores_late``, so that the shared-memory fence
does not wait for those stores). On an H100 (``benchmarks/results/h100-hand-off-order.json``, ``-2.json``) the
first left the hand-off (3.1 to 3.5 us at 1x512) and the kernel within the runs' spread (-1.7% to +1.6%), the
second made the kernel 1.03x to 1.05x slower. What stayed: the hand-off split into a load and a store helper
(``ssd_sm90._hand_load``, ``_hand_store``), which compiles the slim kernel without spills on Triton 3.6 (32
stack bytes before) and measured 0.97x to 0.99x the earlier slim kernel's time from 1x512 to 8x2048 (1.01x at
8x8192) in both runs.

The sides, timed with ``bambaprof bench ssd``'s method (interleaved rounds, inputs rotated past L2, profiler
kernel time) after a float64 check each (``tune_triton_ssd.check``, 2 x 600, bf16, initial states):

- ``head_auto``, ``head_slim``, ``head_late``, ``head_scaled``, ``head_ordered``: the package at an earlier commit
  (``git archive COMMIT bambaprof`` unpacked as ``bambaprof_head`` in ``--head DIR``), its default forward, and
  forced to ``gluon_slim`` / ``gluon_late`` / ``gluon_scaled`` / ``gluon_ordered``;
- ``auto``, ``slim``, ``late``, ``scaled``, ``ordered``: the working tree's, the same way;
- ``mamba_ssm`` with ``--mamba-ssm SRC``.

With ``--equal BxL`` (repeatable) each tree side timed is first compared with its ``head_`` side bit for bit (y and
the final state, ``bambaprof check``'s inputs at that shape), for a change meant to keep the arithmetic.

    python benchmarks/hand_off_order.py --head .peers/head [--mamba-ssm SRC] [--shape 1x512 ...] [--side NAME ...]
        [--equal 2x700 ...] > out.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections import defaultdict

import torch

from bambaprof._env import environment
from bambaprof.bench.peers import optional_mamba_ssm
from bambaprof.bench.ssd import bench_ssd
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tune_triton_ssd import check  # noqa: E402

SHAPES = ["1x512", "1x2048", "1x8192", "8x2048", "8x8192"]
#: Every side this script can time (``--side`` picks some; default all).
SCANS = {"auto": None, "slim": "gluon_slim", "late": "gluon_late", "scaled": "gluon_scaled", "ordered": "gluon_ordered"}
SIDES = [side for name in SCANS for side in (f"head_{name}", name)]


def core(forward_module, scan_module, scan):
    """The ``triton`` variant with ``ssd_forward`` taken from ``forward_module`` and its scan setting (the
    module's ``scan_override``) set to ``scan`` (None: its default) for the call."""
    variant = get_variant("triton")

    def call(*args, **kwargs):
        committed, kept = kernels.ssd_forward, scan_module.scan_override
        kernels.ssd_forward = forward_module.ssd_forward  # the variant imports it from the module at each call
        scan_module.scan_override = scan
        try:
            return variant(*args, **kwargs)
        finally:
            kernels.ssd_forward, scan_module.scan_override = committed, kept

    return call


def same_bits(cores: dict, label: str) -> dict:
    """For each side with a ``head_`` twin among ``cores``: whether both give the same y and final state, bit for
    bit, on ``bambaprof check``'s inputs (bf16, initial states) at ``label`` (BxL); the largest differences."""
    b, L = (int(v) for v in label.split("x"))
    inputs = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=True)
    args = (inputs["x"], inputs["dt"], inputs["A"], inputs["B"], inputs["C"], 256)
    kw = dict(D=inputs["D"], dt_bias=inputs["dt_bias"], dt_softplus=True, initial_state=inputs["initial_state"],
              return_final_state=True)
    out = {}
    for name in cores:
        if name.startswith("head_") or f"head_{name}" not in cores:
            continue
        (y_a, s_a), (y_b, s_b) = cores[f"head_{name}"](*args, **kw), cores[name](*args, **kw)
        out[name] = {"equal": torch.equal(y_a, y_b) and torch.equal(s_a, s_b),
                     "y_max_diff": (y_a.float() - y_b.float()).abs().max().item(),
                     "state_max_diff": (s_a - s_b).abs().max().item()}
        print(f"equal {label} {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head", required=True, help="a folder holding HEAD's package as bambaprof_head")
    parser.add_argument("--mamba-ssm", default=None)
    parser.add_argument("--shape", action="append", help="BxL (default: the five Bamba-9B shapes)")
    parser.add_argument("--rep-ms", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds a shape (default: 5)")
    parser.add_argument("--side", action="append", choices=SIDES, help="a side to time (default: all)")
    parser.add_argument("--equal", action="append", metavar="BxL", help="compare each side with its head_ side's bits")
    args = parser.parse_args()
    sys.path.insert(0, args.head)
    head = importlib.import_module("bambaprof_head.ssm.kernels.ssd")
    cores = {}
    for name, scan in SCANS.items():
        cores[f"head_{name}"], cores[name] = core(head, head, scan), core(kernels, kernels, scan)
    cores = {name: fn for name, fn in cores.items() if not args.side or name in args.side}
    equal = {label: same_bits(cores, label) for label in args.equal or []}
    peer = optional_mamba_ssm(args.mamba_ssm)
    if peer is not None:
        cores["mamba_ssm"] = peer
    checked = check(cores, torch.bfloat16)
    shapes = [Shape(*(int(v) for v in label.split("x")), 128, 64, 1, 128, 256) for label in args.shape or SHAPES]
    records = bench_ssd(cores, shapes, torch.bfloat16, "cuda", rep_ms=args.rep_ms, rounds=args.rounds,
                        progress=lambda line: print(line, file=sys.stderr, flush=True),
                        baseline="mamba_ssm" if peer is not None else None)
    kernel_us, by_kernel, clocks = defaultdict(dict), defaultdict(dict), defaultdict(dict)
    for r in records:
        key = f"{r.batch}x{r.seq_len}"
        kernel_us[r.variant][key] = round(r.kernel_ms * 1e3, 2) if r.kernel_ms else r.status
        by_kernel[r.variant][key] = r.kernels_us
        clocks[r.variant][key] = r.sm_clock_mhz
    print(json.dumps({"environment": environment("cuda"), "check": checked, "equal": equal, "kernel_us": kernel_us,
                      "kernel_us_by_kernel": by_kernel, "sm_clock_mhz": clocks}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
