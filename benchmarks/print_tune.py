"""Print the table of a ``benchmarks/tune_triton_ssd.py`` result: each core's check against float64, and its
kernel time a call (us) at each shape with its ratio to mamba_ssm's (the device scripts' summary line).

    python benchmarks/print_tune.py RESULT.json
"""

from __future__ import annotations

import json
import sys

SHAPES = ["1x512", "1x2048", "1x8192", "8x2048", "8x8192"]


def main(path: str) -> int:
    d = json.load(open(path))
    print("check:", {k: (v.get("pass"), round(v.get("y_rel_err", -1), 5), round(v.get("state_rel_err", -1), 5))
                     for k, v in d["check"].items()})
    peer = d["kernel_ms"].get("mamba_ssm", {})
    for name, row in d["kernel_ms"].items():
        times = " ".join(f"{1000 * row[s]:8.1f}" if isinstance(row.get(s), float) else f"{'-':>8s}" for s in SHAPES)
        ratios = " ".join(f"{row[s] / peer[s]:.3f}" if isinstance(row.get(s), float) and peer.get(s) else "-"
                          for s in SHAPES)
        print(f"{name:22s}", times, " ratio", ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
