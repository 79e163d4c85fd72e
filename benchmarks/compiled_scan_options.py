"""Does the compiled ``triton`` SSD forward run its kernels as fast as the eager launch? (GPU machine)

Three forms of the same forward at Bamba-9B mixer shapes (bf16, initial state), timed side by side in
interleaved rounds by GPU kernel time (PyTorch profiler), per kernel:

- ``eager``: the direct launch, with the scan's ``maxnreg`` cap;
- ``compiled``: ``torch.compile`` (default mode) of the variant, whose forward is an opaque custom op;
- ``compiled-traced``: ``torch.compile`` of the forward registered as a ``torch.library.triton_op`` whose
  kernels inductor traces and compiles itself (the form before: it drops ``maxnreg``).

    python benchmarks/compiled_scan_options.py [--shape 1x2048 --shape 8x8192] [--rounds 3] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any, Callable, Dict, List, Tuple

import torch
from torch.library import triton_op, wrap_triton

from bambaprof.bench.ssd import kernel_time
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels.ssd import ssd_forward

ARGS = ("x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state")


@triton_op("benchmarks::ssd_traced", mutates_args=())
def _traced(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
            D: torch.Tensor, dt_bias: torch.Tensor, initial_state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    y, final = ssd_forward(x, dt, A, B, C, 256, D=D, dt_bias=dt_bias, dt_softplus=True,
                           initial_state=initial_state, return_final_state=True, wrap=wrap_triton)
    return y, final


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", action="append", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    variant = get_variant("triton")

    def eager(*a: torch.Tensor) -> Any:
        x, dt, A, B, C, D, bias, init = a
        return variant(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True, initial_state=init,
                       return_final_state=True)

    def traced(*a: torch.Tensor) -> Any:
        x, dt, A, B, C, D, bias, init = a
        return _traced(x, dt, A.float(), B, C, D, bias, init)

    forms: Dict[str, Callable[..., Any]] = {
        "eager": eager,
        "compiled": torch.compile(eager, fullgraph=True),
        "compiled-traced": torch.compile(traced, fullgraph=True),
    }
    result: Dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                              "triton": __import__("triton").__version__, "rounds": args.rounds, "shapes": {}}
    for shape in args.shape or ["1x2048", "8x8192"]:
        b, L = (int(v) for v in shape.lower().split("x"))
        inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, True)
        call_args = [inp[k] for k in ARGS]
        with torch.no_grad():
            ref = forms["eager"](*call_args)[0]
            per: Dict[str, List[Dict[str, float]]] = {name: [] for name in forms}
            for r in range(args.rounds):
                names = list(forms)
                for name in names[r % len(names):] + names[:r % len(names)]:
                    fn = forms[name]
                    kt = kernel_time(lambda: fn(*call_args))  # noqa: B023 - called at once
                    per[name].append({"total": kt.ms * 1e3, **kt.by_name_us})
            diff = {name: float(((fn(*call_args)[0].float() - ref.float()).norm() / ref.float().norm()).item())
                    for name, fn in forms.items()}
        row = {name: {k: statistics.median(d[k] for d in runs) for k in runs[0]} for name, runs in per.items()}
        result["shapes"][shape] = {"kernel_us": row, "rel_diff_to_eager": diff}
        for name, us in row.items():
            print(f"{shape:7s} {name:16s} total {us['total']:8.1f} us  scan {us.get('_chunk_scan', float('nan')):8.1f}"
                  f"  prep {us.get('_chunk_prep', float('nan')):6.1f}  rel diff {diff[name]:.1e}")
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
