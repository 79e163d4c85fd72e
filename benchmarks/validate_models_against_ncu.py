"""The byte and FLOP models of ``bambaprof analyze`` against Nsight Compute (runs on the CPU), for two sets:

- ``models``: the Bamba-9B mixer's GEMMs, depthwise conv and elementwise/reduction kernels at 1 x 2048 tokens,
  bf16: the trace and the ncu CSV of ``benchmarks/ncu_models.py`` captured on an H200 by
  ``benchmarks/h200_issue14_eager.sh`` (tests/data/);
- ``attention``: ``scaled_dot_product_attention`` forwards, bf16, [4, 16, 4096, 128], FlashAttention, the
  memory-efficient kernel and cuDNN, each not causal and causal: ``benchmarks/ncu_attention.py`` captured on an
  H100 by ``benchmarks/session49b_device.sh`` (tests/data/ncu/).

FLOPs measured: tensor-core work ``sm__ops_path_tensor_src_bf16_dst_fp32`` where the kernel used tensor cores, 2
FFMA + FADD + FMUL thread instructions otherwise. Bytes measured: DRAM read + write. Writes
benchmarks/results/<device>-<set>-vs-ncu.json and prints a table.

    python benchmarks/validate_models_against_ncu.py [models|attention] [OUTPUT.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bambaprof.analysis.ncu import compare_with_ncu, read_ncu_csv
from bambaprof.analysis.trace import load_trace

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
WORKLOADS = ["in_proj GEMM", "out_proj GEMM", "depthwise conv1d", "bf16->fp32 copy", "silu", "broadcast mul", "sum"]


def measured_flops(rec: dict) -> float:
    """Tensor-core FLOPs when the kernel used tensor cores, else 2 FFMA + FADD + FMUL (thread instructions)."""
    tensor = rec.get("sm__ops_path_tensor_src_bf16_dst_fp32.sum") or 0.0
    if tensor:
        return float(tensor)
    g = lambda m: float(rec.get(f"smsp__sass_thread_inst_executed_op_{m}_pred_on.sum") or 0.0)  # noqa: E731
    return 2 * g("ffma") + g("fadd") + g("fmul")


#: Each set: its trace and ncu CSV (under tests/data/), its kernels' labels in launch order, its result file and what
#: the result file says.
SETS = {
    "models": {
        "trace": "h200-models-trace.json.gz", "ncu": "h200-models-ncu.csv.gz", "labels": WORKLOADS,
        "result": "h200-models-vs-ncu.json",
        "what": "bambaprof's per-kernel byte and FLOP models against Nsight Compute, Bamba-9B mixer kernels at "
                "1x2048 bf16 (benchmarks/ncu_models.py)",
        "device": "NVIDIA H200, driver 580.159.04, CUDA 13.0, torch 2.11.0+cu130, Triton 3.6.0, Nsight Compute "
                  "2025.3.1 (--clock-control none)",
        "date": "2026-12-03",
        "reading": "model bytes are compulsory traffic (each operand once): DRAM traffic is higher when operands "
                   "do not fit the 50 MB L2 (the GEMMs re-read B tiles) and lower when an input is still in L2 "
                   "from the kernel before or the output is still in L2 when the kernel ends (ncu counts DRAM "
                   "bytes during the kernel only: the conv and elementwise kernels); FLOPs: ncu counts the GEMM's "
                   "padded tiles (in_proj's N = 16768 runs as 16896)",
    },
    "attention": {
        "trace": "ncu/h100-attention-trace.json.gz", "ncu": "ncu/h100-attention-ncu.csv.gz",
        "labels": [f"{b}{c}" for b in ("flash", "efficient", "cudnn") for c in ("", " causal")],
        "result": "h100-attention-vs-ncu.json",
        "what": "the attention table's model of fused attention forwards (q, k, v and the output once; the "
                "products over the pairs attended) against Nsight Compute: scaled_dot_product_attention, bf16, "
                "[4, 16, 4096, 128], each backend pinned (benchmarks/ncu_attention.py)",
        "device": "NVIDIA H100 80GB HBM3, driver 580.159.04, CUDA 13.0, torch 2.11.0+cu130 (--clock-control none)",
        "date": "2026-12-07",
        "reading": "FLOPs: equal where every pair is attended; causal, the model counts the pairs at or below "
                   "the diagonal and the kernels compute the diagonal's tiles whole (3% more); bytes: "
                   "FlashAttention re-reads k and v past the 50 MB L2 (more DRAM traffic than the model, most "
                   "when causal), the others move about the model's bytes, the output's last lines still in L2 "
                   "when the kernel ends",
    },
}


def compare(which: str = "models") -> list:
    spec = SETS[which]
    records = read_ncu_csv(DATA / spec["ncu"])
    rows = compare_with_ncu(load_trace(DATA / spec["trace"]), records)
    out = []
    for label, row, rec in zip(spec["labels"], rows, records):
        flops = measured_flops(rec)
        out.append({
            "workload": label, "kernel": row["name"], "bytes_source": row["bytes_source"], "trace_us": row["trace_us"],
            "model_bytes": row["derived_bytes"], "ncu_dram_bytes": row["ncu_dram_bytes"],
            "bytes_ratio": row["derived_bytes"] / row["ncu_dram_bytes"] if row["ncu_dram_bytes"] else None,
            "model_flops": row["derived_flops"], "ncu_flops": flops or None,
            "flops_ratio": row["derived_flops"] / flops if row["derived_flops"] and flops else None,
        })
    return out


def main(argv) -> int:
    args = argv[1:]
    which = args.pop(0) if args and args[0] in SETS else "models"
    spec = SETS[which]
    out = Path(args[0]) if args else Path(__file__).parent / "results" / spec["result"]
    rows = compare(which)
    result = {k: spec[k] for k in ("what", "device", "date", "reading")}
    result["rows"] = rows
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        fr = f"{r['flops_ratio']:.4f}" if r["flops_ratio"] else "  -   "
        print(f"{r['workload']:18s} bytes model/ncu {r['bytes_ratio']:.3f}  flops model/ncu {fr}  ({r['trace_us']:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
