"""Run the ``triton`` SSD forward once per (form, shape) so that Nsight Compute can profile its chunk scan.

Each form is ``NAME=PATH`` of a ``kernels/ssd.py`` file (``committed`` is the package's own); each
shape is ``BxL`` at the Bamba-9B mixer dims (h=128 p=64 n=128 g=1, chunk 256), bf16. Launches run in
the order forms x shapes, so ``ncu -k regex:_chunk_scan`` sees them in that order (printed on stderr).

    ncu --clock-control none -k regex:_chunk_scan --section WarpStateStats ... \\
        python benchmarks/ncu_chunk_scan.py --form split=PATH 1x2048 8x8192
"""

from __future__ import annotations

import argparse
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tune_triton_ssd import with_kernels  # noqa: E402

from bambaprof.ssm import get_variant  # noqa: E402
from bambaprof.ssm.check import Shape, make_inputs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("shapes", nargs="+")
    parser.add_argument("--form", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--scan-kernel", default=None, help="LaunchConfig.scan_kernel of the committed form")
    args = parser.parse_args()
    if args.scan_kernel:
        import dataclasses

        from bambaprof.ssm.kernels import ssd

        ssd.config_override = dataclasses.replace(ssd.LaunchConfig(), scan_kernel=args.scan_kernel)
    forms = {"committed": get_variant("triton")}
    for item in args.form:
        name, _, path = item.partition("=")
        forms[name] = with_kernels(name, path)
    for name, core in forms.items():
        for text in args.shapes:
            b, L = (int(v) for v in text.lower().split("x"))
            i = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, False)
            core(i["x"], i["dt"], i["A"], i["B"], i["C"], 256, D=i["D"], dt_bias=i["dt_bias"], dt_softplus=True)
            torch.cuda.synchronize()
            print(f"launched: {name} {b}x{L}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
