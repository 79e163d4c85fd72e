"""Where a kernel's warps stall, from Nsight Compute's source page of one kernel exported as CSV
(``ncu -i REPORT --page source --csv --print-source sass > page.csv``, a report with the SourceCounters section).

Prints the warp-state samples by twentieths of the instruction stream (program order: in a fully unrolled kernel,
its phases from prologue to epilogue), the stall reasons overall, and the instructions that hold the most samples
with their two main reasons and the instruction before them (what a stalled instruction usually waits on).

    python benchmarks/ncu_sass_stalls.py page.csv [--top 40]
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys

SAMPLES = "Warp Stall Sampling (All Samples)"


def _int(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("page")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    with open(args.page, newline="") as fh:
        rows = list(csv.reader(fh))
    header_at = next((i for i, r in enumerate(rows) if "Address" in r and "Source" in r), None)
    if header_at is None:
        print(f"{args.page}: no source page header (Address, Source)", file=sys.stderr)
        return 1
    header = rows[header_at]
    col = {name: i for i, name in enumerate(header)}
    if SAMPLES not in col:
        print(f"{args.page}: no '{SAMPLES}' column (was SourceCounters collected?)", file=sys.stderr)
        return 1
    reasons = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    code = [r for r in rows[header_at + 1:] if len(r) > col[SAMPLES] and r[col["Address"]].startswith("0x")]
    samples = [_int(r[col[SAMPLES]]) for r in code]
    total = sum(samples) or 1
    segments = [0] * 20
    for i, s in enumerate(samples):
        segments[i * 20 // len(code)] += s
    print(f"{len(code)} instructions, {total} samples")
    print("samples by twentieth of the stream (%):", " ".join(f"{100 * s / total:.1f}" for s in segments))
    overall = collections.Counter({h[len("stall_"):]: sum(_int(r[col[h]]) for r in code) for h in reasons})
    print("reasons (%):", ", ".join(f"{k} {100 * v / total:.1f}" for k, v in overall.most_common(8)))
    for i in sorted(sorted(range(len(code)), key=lambda i: -samples[i])[:args.top]):
        r = code[i]
        top = sorted(((_int(r[col[h]]), h[len("stall_"):]) for h in reasons), reverse=True)[:2]
        before = code[i - 1][col["Source"]].strip()[:48] if i else ""
        print(f"{i:5d} {100 * samples[i] / total:5.1f}% {r[col['Source']].strip()[:64]:64s} "
              f"{', '.join(f'{name} {n}' for n, name in top)} | after: {before}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
