"""Derived bandwidth and occupancy of ``bambaprof analyze`` against Nsight Compute (runs on the CPU).

Inputs are traces and ncu CSVs captured on an H200 (tests/data/): the four validation
workloads of benchmarks/ncu_workloads.py (our Triton kernel, an inductor kernel, a cuBLAS
GEMM, an aten elementwise kernel), and the shared Bamba-9B mixer traces with their ncu
ground truth. Writes benchmarks/results/h200-analyze-vs-ncu.json and prints a table.

    python benchmarks/validate_against_ncu.py [OUTPUT.json]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bambaprof.analysis.ncu import compare_with_ncu, read_ncu_csv
from bambaprof.analysis.trace import load_trace

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CASES = [
    ("validation workloads", "h200-validation-trace.json.gz", "h200-validation-ncu.csv.gz", slice(None)),
    ("naive FMS mixer, eager", "h200-fms-naive-mixer-eager-b1-L512.json.gz", "h200-mixers-ncu.csv.gz", slice(28, 111)),
    ("mamba_ssm mixer, eager", "h200-mamba-ssd-mixer-eager-b1-L512.json.gz", "h200-mixers-ncu.csv.gz", slice(0, 28)),
]
#: Kernels shorter than this are dominated by L2-resident inputs: compulsory bytes exceed DRAM bytes.
LONG_US = 100.0


def main(argv) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).parent / "results" / "h200-analyze-vs-ncu.json"
    result = {"what": "bambaprof analyze (derived from the trace) vs Nsight Compute (measured), per kernel",
              "device": "NVIDIA H200, driver 580.159.04, CUDA 13.0, torch 2.11.0+cu130, Triton 3.6.0, "
                        "Nsight Compute 2025.3.1 (--clock-control none)",
              "date": "2026-11-28", "cases": []}
    for label, trace_file, ncu_file, ids in CASES:
        rows = compare_with_ncu(load_trace(DATA / trace_file), read_ncu_csv(DATA / ncu_file)[ids])
        matched = [r for r in rows if r["matched"]]
        same = [r for r in matched if r["same_config"]]
        occ_equal = sum(1 for r in same if abs(r["theoretical_occupancy_pct"] - r["ncu_theoretical_occupancy_pct"]) < 0.01)
        long_ratios = [r["gbps_ratio"] for r in matched if r["gbps_ratio"] and r["trace_us"] >= LONG_US]
        case = {
            "case": label, "trace": trace_file, "ncu": ncu_file, "kernels": len(rows), "matched": len(matched),
            "same_launch_config": len(same), "theoretical_occupancy_equal": occ_equal,
            "long_kernels_with_bytes": len(long_ratios),
            "long_kernels_median_gbps_ratio": statistics.median(long_ratios) if long_ratios else None,
            "long_kernels_max_abs_error_pct": max(abs(x - 1) * 100 for x in long_ratios) if long_ratios else None,
            "rows": rows,
        }
        result["cases"].append(case)
        print(f"{label}: {len(matched)}/{len(rows)} matched, theoretical occupancy equal on {occ_equal}/{len(same)} "
              f"with the same launch; kernels >= {LONG_US:.0f} us with known bytes: {len(long_ratios)}, "
              f"median derived/ncu GB/s {case['long_kernels_median_gbps_ratio']}")
        for r in matched:
            if label == "validation workloads":
                print(f"  {r['name'][:48]:48s} {r['bytes_source']:12s} derived {r['derived_gbps']:7.0f} GB/s  "
                      f"ncu {r['ncu_dram_gbps']:7.0f} GB/s  ratio {r['gbps_ratio']:.3f}  theor occ "
                      f"{r['theoretical_occupancy_pct']:.2f} vs {r['ncu_theoretical_occupancy_pct']:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
