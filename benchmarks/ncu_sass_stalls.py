"""Where a kernel's warps stall, from Nsight Compute's source page of one kernel exported as CSV
(``ncu -i REPORT --page source --csv --print-source sass > page.csv``, a report with the SourceCounters section;
gzipped or not).

Prints the warp-state samples by twentieths of the instruction stream (program order: in a fully unrolled kernel,
its phases from prologue to epilogue), the stall reasons overall, and the instructions that hold the most samples
with their two main reasons and the instruction before them (what a stalled instruction usually waits on).

With ``--cubin`` (a cubin, or a folder of them: ``benchmarks/h200_gluon_stalls.sh`` keeps those that ran), the
cubin whose instructions match the page's is disassembled with line information (Triton's bundled ``nvdisasm
-g``) and the samples are summed by source line as well.

    python benchmarks/ncu_sass_stalls.py page.csv [--top 40] [--cubin DIR]
"""

from __future__ import annotations

import argparse
import collections
import csv
import difflib
import gzip
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

SAMPLES = "Warp Stall Sampling (All Samples)"


def _int(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return 0


def _opcode(text: str) -> str:
    parts = text.strip().rstrip(";").split()
    return (parts[1] if parts and parts[0].startswith("@") and len(parts) > 1 else parts[0]) if parts else ""


def _lined(cubin: Path) -> List[Tuple[str, str]]:
    """(source line, opcode) per instruction of a cubin, by ``nvdisasm -g`` (Triton's bundled one)."""
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "nvdisasm")
    text = subprocess.run([tool, "-g", "-c", str(cubin)], capture_output=True, text=True, check=True).stdout
    out, where = [], "?"
    for line in text.splitlines():
        m = re.search(r'## File ".*/([\w.]+)", line (\d+)', line)
        if m:
            where = f"{m.group(1)}:{m.group(2)}"
            continue
        m = re.match(r"\s+/\*[0-9a-f]{4,5}\*/\s+(.*?)\s*;", line)
        if m:
            out.append((where, _opcode(m.group(1))))
    return out


def _source_lines(ops: List[str], cubin: Path) -> Optional[Tuple[List[str], float, Path]]:
    """The source line of each page instruction from the cubin (of a folder's, the best match), with the match
    ratio; None without a cubin that disassembles."""
    best = None
    for path in sorted(cubin.glob("*.cubin")) if cubin.is_dir() else [cubin]:
        try:
            lined = _lined(path)
        except (OSError, subprocess.CalledProcessError):
            continue
        sm = difflib.SequenceMatcher(None, ops, [op for _, op in lined], autojunk=False)
        if best is None or sm.ratio() > best[1]:
            where = ["?"] * len(ops)
            for block in sm.get_matching_blocks():
                for k in range(block.size):
                    where[block.a + k] = lined[block.b + k][0]
            best = (where, sm.ratio(), path)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("page")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--cubin", type=Path, default=None, help="a cubin, or a folder of them, to map lines")
    args = parser.parse_args()
    opener = gzip.open if args.page.endswith(".gz") else open
    with opener(args.page, "rt", newline="") as fh:
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
    if args.cubin is not None:
        mapped = _source_lines([_opcode(r[col["Source"]]) for r in code], args.cubin)
        if mapped is None:
            print(f"{args.cubin}: no cubin that disassembles", file=sys.stderr)
            return 1
        where, ratio, path = mapped
        by_line: collections.Counter = collections.Counter()
        for w, s in zip(where, samples):
            by_line[w] += s
        print(f"by source line ({path.name}, {100 * ratio:.0f}% of instructions matched; ? = unmatched):")
        for w, s in by_line.most_common(args.top):
            print(f"{100 * s / total:5.1f}% {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
