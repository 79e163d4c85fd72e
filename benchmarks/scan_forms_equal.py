"""Whether two forms of the Gluon chunk scan give the same bits: ``ssd_forward`` with each, on ``bambaprof check``'s
inputs (bf16, h=128 p=64 n=128 g=1, chunk 256, initial states) at the shapes given; one line a shape. A form
named twice is run against itself :data:`REPEATS` times a shape (whether its outputs depend on the order in which
programs ran: a form whose sums follow its waits would differ between runs).

    python benchmarks/scan_forms_equal.py FORM_A FORM_B [BxL ...]
"""

from __future__ import annotations

import sys

import torch

from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels

#: Forwards a shape where a form is compared with itself.
REPEATS = 20


def forward(inputs: dict, scan: str):
    kernels.scan_override = scan
    try:
        return kernels.ssd_forward(inputs["x"], inputs["dt"], inputs["A"], inputs["B"], inputs["C"], 256,
                                   D=inputs["D"], dt_bias=inputs["dt_bias"], dt_softplus=True,
                                   initial_state=inputs["initial_state"], return_final_state=True)
    finally:
        kernels.scan_override = None


def main(argv: list) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    form_a, form_b, *shapes = argv
    same = True
    for label in shapes or ["2x700", "1x2048"]:
        b, L = (int(v) for v in label.split("x"))
        inputs = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=True)
        y_a, s_a = forward(inputs, form_a)
        for _ in range(REPEATS - 1 if form_a == form_b else 1):
            y_b, s_b = forward(inputs, form_b)
            equal = torch.equal(y_a, y_b) and torch.equal(s_a, s_b)
            if not equal:
                break
        same &= equal
        print(f"{label} {form_a} {form_b} {'equal' if equal else 'differ'}: y max diff "
              f"{(y_a.float() - y_b.float()).abs().max().item():.3e}, state {(s_a - s_b).abs().max().item():.3e}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
