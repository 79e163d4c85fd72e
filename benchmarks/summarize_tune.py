"""Print a ``tune_triton_ssd.py`` result as lines: each candidate's wall and kernel time per shape, the kernel
time as a ratio to mamba_ssm's where it was timed, and the time by kernel of the candidates that record it.

    python benchmarks/summarize_tune.py tune.json
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"no tune result: {exc}")
        return 1
    peer = doc.get("kernel_ms", {}).get("mamba_ssm", {})

    def cell(shape, value, ratio_to=None):
        if not isinstance(value, float):
            return f"{shape}={value}"
        ratio = f" ({value / ratio_to[shape]:.2f}x)" if ratio_to and ratio_to.get(shape) else ""
        return f"{shape}={value:.4f}{ratio}"

    for name, result in doc.get("check", {}).items():
        errors = ", ".join(f"{k} {v:.2e}" for k, v in result.items() if k.endswith("rel_err"))
        print(f"{name:18s} check    {'pass' if result.get('pass') else 'FAIL'} {errors or result.get('error', '')}")
    for name, row in doc.get("median_ms", {}).items():
        print(f"{name:18s} wall ms  ", "  ".join(cell(k, v) for k, v in row.items()))
    for name, row in doc.get("kernel_ms", {}).items():
        print(f"{name:18s} kernel ms", "  ".join(cell(k, v, peer) for k, v in row.items()))
    for name, shapes in doc.get("kernel_us", {}).items():
        for shape, kernels in shapes.items():
            print(name, shape, {k[:40]: round(v, 1) for k, v in (kernels or {}).items()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
