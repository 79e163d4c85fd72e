"""Rules on the GPU's kernels: the roofline, fusion, contractions computed elementwise, float32 matrix products on
the CUDA cores, copies, occupancy, grids and their partial waves, unknown bytes, the SSD core and exposed communication.

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding`, a list of them
(one per kernel) or None; its thresholds are the named constants here (in the README).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional

from ..analysis.gemm_units import CUDA_CORES, float32_gemm_units
from ..analysis.misaligned_gemms import aligned_elements
from ..analysis.nsys import BACKEND as NSYS_BACKEND
from ..analysis.phases import UNATTRIBUTED
from ..analysis.rocpd import BACKEND as ROCPD_BACKEND
from ..analysis.rocprof import BACKENDS as ROCPROF_BACKENDS
from ..analysis.roofline import LATENCY_US, floor_from_terms
from ..analysis.ssd_kernels import BAMBAPROF, MAMBA_SSM
from ..analysis.traffic import DTYPE_NAMES
from ..render.tables import format_cell, kernel_label
from . import measured
from .finding import (
    FAR_FROM_ROOFLINE_X,
    HIGH_SHARE_PCT,
    Finding,
    compile_mode,
    far_from_floor,
    gpu_window_us,
    in_module_text,
    is_collective,
    kernel_rows,
    kernel_total,
    launches_text,
    major_capability,
    severity_of,
    time_based_finding,
    timed_rows,
    us_text,
)

#: far-from-roofline: judged kernel time at least FAR_FROM_ROOFLINE_X times its floor, with at least this share of it
#: excess.
FAR_FROM_ROOFLINE_EXCESS_PCT = 10.0
#: far-from-roofline needs the floor of at least this share of kernel time (else unknown-bytes speaks).
FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT = 50.0
#: fusion-candidate: memory- or latency-bound elementwise/copy/reduction kernels shorter than this on average (us),
#: at least this many launches, together at least this share of kernel time.
FUSION_SHORT_US = 20.0
FUSION_MIN_LAUNCHES = 8
FUSION_MIN_SHARE_PCT = 10.0
#: ``elementwise-contraction``: contractions computed as a stored broadcast product and a reduction
#: (:mod:`bambaprof.analysis.contractions`) whose kernels take at least this share of kernel time (%).
CONTRACTION_MIN_SHARE_PCT = 5.0
#: ``float32-matmul``: float32 GEMM kernels whose names say they ran on the CUDA cores (FFMA, not the TF32 tensor
#: cores; :mod:`bambaprof.analysis.gemm_units`) take at least this share of kernel time (%).
FLOAT32_MATMUL_MIN_SHARE_PCT = 5.0
#: ``float64-kernels``: kernels whose launching op computes in float64 take at least this share of kernel time (%).
FLOAT64_MIN_SHARE_PCT = 5.0
#: misaligned-gemm: launches of under-aligned tensor-op GEMM kernels take at least this share of kernel time.
MISALIGNED_GEMM_PCT = 5.0
#: Device names whose float64 rate is at least half their float32 rate (data-center parts); on others it is 1/32
#: to 1/64 of it.
FULL_RATE_FLOAT64 = ("V100", "A100", "H100", "H800", "H200", "GH200", "B200", "B100", "GB200", "MI100", "MI210",
                     "MI250", "MI300")
#: ``copy-overhead``: copies on the device (casts, layout copies, out-of-place ops' copies; ``--table copies``,
#: :mod:`bambaprof.analysis.copies`) take at least this share of kernel time (%).
COPY_MIN_SHARE_PCT = 10.0
#: What to try for each kind of copy.
COPY_ADVICE = {
    "cast": "keep one dtype between kernels: read the narrow tensor in the kernel that needs float32 and convert it in "
            "registers (a fused kernel; torch.compile fuses casts into their neighbours) rather than storing a "
            "converted copy with .float() or .to()",
    "layout": "give the reader the layout it needs from the op that produces it, or let it take strides: "
              ".contiguous() (and reshape or flatten of a transposed or sliced view) writes the whole tensor again, "
              "as a transpose before a conv1d or a matmul does",
    "copy": "avoid the copies out-of-place ops make before they work: broadcast rather than repeat (expand, or index "
            "the shared group inside the kernel, instead of repeat_interleave), in-place forms on temporaries "
            "(masked_fill_), and padding done once rather than at every call",
}
#: Ops whose layout copies are a convolution's (cuDNN reads a contiguous input).
CONV_OPS = frozenset({"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution", "aten::_convolution"})
#: low-occupancy: a kernel of at least this share of kernel time, under this theoretical occupancy, limited by
#: registers or shared memory, not latency-bound, and at least FAR_FROM_ROOFLINE_X above its floor (a kernel
#: near its roofline, e.g. a cuBLAS GEMM with one large block per SM, is not held back by its occupancy).
LOW_OCCUPANCY_PCT = 25.0
LOW_OCCUPANCY_MIN_SHARE_PCT = 5.0
#: small-grid: a kernel whose blocks occupy under this fraction of the SMs, taking at least this share of kernel time.
SMALL_GRID_MAX_SM_FRACTION = 0.5
SMALL_GRID_MIN_SHARE_PCT = 5.0
#: partial-wave: a kernel of at least this share of kernel time whose grids' partial last waves may take at least
#: PARTIAL_WAVE_MIN_PCT of its own time (``partial_wave_us`` of the kernel table, capped by its excess over its
#: roofline floor where that is known); instances shorter than the roofline's LATENCY_US are left out (a launch's ramp
#: is as long as their blocks).
PARTIAL_WAVE_MIN_SHARE_PCT = 5.0
PARTIAL_WAVE_MIN_PCT = 10.0
#: unknown-bytes: at least this share of kernel time has no known bytes.
UNKNOWN_BYTES_PCT = 5.0
#: ssd-core: the SSD core's kernels (recognised by name) take at least this share of kernel time.
SSD_CORE_PCT = 10.0
#: exposed-communication: collective kernels ran with no compute kernel beside them for at least this share of the
#: GPU window.
EXPOSED_COMMUNICATION_PCT = 5.0
_FUSIBLE = re.compile(r"elementwise|copy|reduce|triton_poi|triton_red|triton_per|vectorized|fill|cat_|index",
                      re.IGNORECASE)


def far_from_roofline(a: Any) -> Optional[Finding]:
    s = a.summary
    floor, x = s.get("floor_us"), s.get("above_floor_x")
    if not floor or not x or x < FAR_FROM_ROOFLINE_X \
            or (s.get("floor_coverage_pct") or 0.0) < FAR_FROM_ROOFLINE_MIN_COVERAGE_PCT:
        return None
    judged = [k for k in kernel_rows(a) if k.get("excess_us") is not None]
    excess = sum(max(k["excess_us"], 0.0) for k in judged)
    total = sum(k["total_us"] for k in judged)
    if total <= 0 or 100.0 * excess / total < FAR_FROM_ROOFLINE_EXCESS_PCT:
        return None
    top = sorted(judged, key=lambda k: -k["excess_us"])[:5]
    phases = sorted((p for p in a.phase_kinds if p.get("excess_us")), key=lambda p: -p["excess_us"])[:3]
    evidence = [{"kernel": k["name"], "time_us": k["total_us"], "floor_us": k["floor_us"], "excess_us": k["excess_us"],
                 "bound": k["bound"]} for k in top]
    evidence += [{"phase": p["phase"], "time_us": p["gpu_us"], "floor_us": p["floor_us"], "excess_us": p["excess_us"]}
                 for p in phases]
    modules = sorted((m for m in a.module_kinds if m.get("excess_us")), key=lambda m: -m["excess_us"])[:3]
    evidence += [{"module": m["module"], "time_us": m["gpu_us"], "floor_us": m["floor_us"],
                  "excess_us": m["excess_us"]} for m in modules]
    where = "; ".join(f"{kernel_label(k['name'], 50)} {us_text(k['excess_us'])} ({k['bound']}{in_module_text(k)})"
                      for k in top[:3])
    msg = (f"{us_text(total)} of kernel time against a roofline floor of {us_text(floor)}: {x:.1f}x above it "
           f"({s.get('floor_coverage_pct') or 0:.0f}% of kernel time judged); most excess in {where}.")
    return Finding("far-from-roofline", severity_of(excess, gpu_window_us(a)), msg, evidence,
                   "Start with the kernels with the largest excess; a memory-bound one moves more bytes than it "
                   "must or too few at a time, a latency-bound one needs more parallel work.", excess)


def fusion_candidate(a: Any) -> Optional[Finding]:
    rows = [k for k in kernel_rows(a) if _FUSIBLE.search(k["name"]) and k["mean_us"] < FUSION_SHORT_US
            and k.get("bound") in ("memory", "latency", "unknown") and not is_collective(k)]  # AllReduce: not fusible
    launches = sum(k["count"] for k in rows)
    time = sum(k["total_us"] for k in rows)
    total = kernel_total(a)
    if launches < FUSION_MIN_LAUNCHES or total <= 0 or 100.0 * time / total < FUSION_MIN_SHARE_PCT:
        return None
    fp32 = [k for k in rows if k.get("dtype") == "fp32"]
    rows.sort(key=lambda k: -k["total_us"])
    msg = (f"{launches} launches of {len(rows)} short elementwise/copy/reduction kernels (mean under "
           f"{FUSION_SHORT_US:.0f} us) take {us_text(time)}, {100 * time / total:.0f}% of kernel time"
           + (f"; {len(fp32)} of them work in float32 (dtype round trips)" if fp32 else "") + ".")
    mode = compile_mode(a)
    suggestion = ("Let inductor fuse them: torch.compile the code that launches them (with bambaprof profile: "
                  "--compile default or max-autotune)." if a.manifest is None else
                  "Let inductor fuse them: profile with --compile default (or max-autotune)."
                  if mode in (None, "none") else
                  "Fuse them into the neighbouring kernels by hand (a fused Triton kernel), and keep the data in "
                  "its input dtype between them.")
    evidence = [{"kernel": k["name"], "count": k["count"], "time_us": k["total_us"], "mean_us": k["mean_us"],
                 "dtype": k.get("dtype")} for k in rows[:8]]
    return Finding("fusion-candidate", severity_of(time, gpu_window_us(a)), msg, evidence, suggestion, time)


def elementwise_contraction(a: Any) -> Optional[Finding]:
    """Contractions computed as a broadcast product that is stored and then reduced (``(a * b).sum(-1)``), whose
    kernels take at least :data:`CONTRACTION_MIN_SHARE_PCT` of kernel time: the largest, what all of them take and
    their floor as contractions; suggests the einsum that computes the largest without its product. In a CPU-only
    profile the ops' host time against the trace's span is judged instead (no floor: the CPU's peaks are not
    known), and no GPU time is claimed to be at stake."""
    found = timed_rows(a, "contractions", ("cpu_us", "gpu_us"), CONTRACTION_MIN_SHARE_PCT)
    if found is None:
        return None
    on_host, total, key, rows, time = found
    top = rows[0]  # the table comes most time first
    dims = {"all": "whole", "unknown": "over dims the trace does not record"}.get(
        top["reduced_dims"], f"over dims {top['reduced_dims']}")
    floors = [r["floor_us"] for r in rows if r["floor_us"] is not None]
    floor = sum(floors) if len(floors) == len(rows) and not on_host else None
    calls = sum(r["count"] for r in rows)
    share = 100 * time / total
    many = calls != 1
    msg = (f"{calls} contraction{'s' if many else ''} ({len(rows)} shape{'s' if len(rows) != 1 else ''}) "
           f"{'are' if many else 'is'} computed as a broadcast product that is stored and then reduced: "
           f"{'they take' if many else 'it takes'} {us_text(time)}, "
           + (f"{share:.0f}% of the trace's span on the host (a CPU-only profile)" if on_host else
              f"{share:.0f}% of kernel time")
           + (f", {time / floor:,.0f}x their floor as contractions ({us_text(floor)}: operands and results moved once)"
              if floor else "")
           + f". The largest: {top['multiply']} of {top['operands']} ({top['dtype']}) stores "
           f"{top['product']} ({format_cell(top['product_bytes'], 'bytes')}) and {top['reduce']} sums it {dims} "
           f"({top['count']} call{'s' if top['count'] != 1 else ''}, {us_text(top[key])}).")
    how = (f"torch.einsum('{top['einsum']}', ...) over its operands with their size-1 dimensions squeezed"
           + (" (divided by the count, for a mean)" if top["reduce"] == "aten::mean" else "")
           if top["einsum"] else "one torch.einsum or matmul")
    m = getattr(a, "manifest", None)
    variant = m.config.variant if m is not None and m.config is not None else None
    fused = ("the triton variant computes this SSD core in fused kernels: profile it beside this one (bambaprof "
             "profile --variant " + f"{variant} --variant triton)" if variant and variant != "triton" else
             "a chunked SSD (Mamba2) scan written this way is what fused cores replace (bambaprof's triton variant, "
             "mamba_ssm's kernels)")
    suggestion = (f"Compute each as one contraction that never stores the product: for the largest, {how}, which "
                  + ("runs as a batched matmul." if on_host else f"runs as a batched matmul on tensor cores; {fused}."))
    evidence = [{k: r[k] for k in ("multiply", "operands", "dtype", "product", "product_bytes", "reduce",
                                   "reduced_dims", "count", "cpu_us", "gpu_us", "floor_us", "einsum")} for r in rows[:8]]
    at_stake = None if on_host else time - floor if floor is not None else time  # on the host: no GPU time at stake
    return time_based_finding(a, "elementwise-contraction", on_host, time, total, at_stake, msg, evidence, suggestion)


def float32_matmul(a: Any) -> Optional[Finding]:
    """Float32 GEMM kernels that ran on the CUDA cores (FFMA; cuBLAS's and CUTLASS's names say so, see
    :mod:`bambaprof.analysis.gemm_units`) and take at least :data:`FLOAT32_MATMUL_MIN_SHARE_PCT` of kernel time, on a
    device with tensor cores (compute capability 7.0 or later, or unknown). Time at stake: each kernel's time above
    its floor at the device's TF32 rate (its bytes at the peak bandwidth, or its FLOPs at the datasheet's TF32 peak,
    the longer), over the kernels whose FLOPs and bytes are known; None where none is (TF32 needs compute capability
    8.0: on a 7.x device the advice is float16, and nothing is claimed)."""
    rows = [k for k in kernel_rows(a)
            if k.get("dtype") in ("fp32", None) and float32_gemm_units(str(k["name"])) == CUDA_CORES]
    total, time = kernel_total(a), sum(k["total_us"] for k in rows)
    major = major_capability(a)
    if not rows or total <= 0 or 100.0 * time / total < FLOAT32_MATMUL_MIN_SHARE_PCT \
            or (major is not None and major < 7):  # before Volta: no tensor cores to move to
        return None
    rates = a.summary.get("datasheet_tflops") or {}
    tf32 = rates.get("tf32") if major is None or major >= 8 else None
    rows.sort(key=lambda k: -k["total_us"])
    flops = [k for k in rows if k.get("flops")]
    achieved = sum(k["flops"] for k in flops) / (sum(k["total_us"] for k in flops) * 1e6) if flops else None
    stakes = [max(0.0, k["total_us"] - floor_from_terms(k["floor_bytes_us"], k["flops"], tf32)) for k in flops
              if tf32 and k.get("floor_bytes_us") is not None]
    launches = sum(int(k["count"]) for k in rows)
    fp32 = rates.get("fp32")
    one = len(rows) == 1
    msg = (f"{len(rows)} float32 matrix-product kernel{'' if one else 's'} ran on the CUDA cores (full float32 FFMA, "
           f"as {'its name says' if one else 'their names say'}: {kernel_label(rows[0]['name'], 60)}), not on the "
           "tensor cores: "
           f"{launches_text(launches)}, {us_text(time)}, {100 * time / total:.0f}% of kernel time"
           + (f", at {achieved:,.1f} TFLOP/s" + (f" against a float32 peak of {fp32:,.1f}" if fp32 else "")
              + (f" ({len(flops)} of the {len(rows)} kernels, whose FLOPs are known)" if len(flops) < len(rows) else "")
              if achieved else "")
           + (f"; the TF32 tensor cores' peak is {tf32:,.1f} TFLOP/s" + (f" ({tf32 / fp32:.1f}x)" if fp32 else "")
              if tf32 else "") + ".")
    m = getattr(a, "manifest", None)
    allowed = m.versions.matmul_tf32 if m is not None and m.versions is not None else None
    if major == 7:
        suggestion = ("This device has no TF32 (compute capability 7.x): compute the products in float16 on its "
                      "tensor cores, torch.autocast('cuda', dtype=torch.float16).")
    elif allowed == "on":
        suggestion = ("TF32 was allowed in this run (matmul tf32 on), yet cuBLAS chose these kernels: it keeps "
                      "float32 products whose dims are not multiples of 4 elements (16 bytes), or are very small, on "
                      "the CUDA cores. Pad those dims, or compute in bfloat16.")
    else:
        suggestion = ("Let cuBLAS use the TF32 tensor cores: torch.set_float32_matmul_precision('high') before the "
                      "model runs (inputs rounded to a 10-bit mantissa, sums kept in float32: check the accuracy you "
                      "need), or compute in bfloat16 (torch.autocast('cuda', dtype=torch.bfloat16), or a bfloat16 "
                      "model)."
                      + (" With bambaprof profile: the same command after TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1, or "
                         "--dtype bfloat16." if m is not None and m.config is not None else ""))
    evidence = [{"kernel": k["name"], "units": CUDA_CORES, "dtype": k.get("dtype"), "launches": int(k["count"]),
                 "time_us": k["total_us"], "achieved_tflops": k.get("achieved_tflops"),
                 "launched_by": k.get("launched_by")} for k in rows[:8]]
    at_stake = sum(stakes) if stakes else None
    return Finding("float32-matmul", severity_of(at_stake if at_stake is not None else time, gpu_window_us(a)), msg,
                   evidence, suggestion, at_stake)


def misaligned_gemm(a: Any) -> Optional[Finding]:
    """Matrix products that ran cuBLAS's under-aligned tensor-op kernels (loads under 16 bytes, read from their names:
    :mod:`bambaprof.analysis.misaligned_gemms`) take at least :data:`MISALIGNED_GEMM_PCT` of kernel time; names them
    with their op, shapes and the dimensions that are not multiples of 16 bytes, and suggests padding them. No time
    at stake: what an aligned kernel would take at these shapes is not in the trace."""
    rows = getattr(a, "misaligned_gemms", None) or []
    total = kernel_total(a)
    time = sum(r["gpu_us"] for r in rows)
    if not rows or total <= 0 or 100.0 * time / total < MISALIGNED_GEMM_PCT:
        return None

    def what(r: Dict[str, Any]) -> str:
        shapes = f" {r['shapes']} ({DTYPE_NAMES.get(r['dtype'], r['dtype'])})" if r["shapes"] else ""
        odd = (f", {r['odd']} not a multiple of {aligned_elements(r['dtype'])} elements (16 bytes)" if r["odd"] else
               ", every leading dimension a multiple of 16 bytes" if r["odd"] == "" and r.get("leading_known") else "")
        return (f"{kernel_label(r['kernel'], 60)} ({r['align_bytes']}-byte loads) under {r['op'] or 'no operator'}"
                f"{shapes}{odd}: {r['count']}x, {us_text(r['gpu_us'])}")

    count = sum(r["count"] for r in rows)
    msg = (f"{count} matrix products ran cuBLAS's under-aligned tensor-op kernels (loads of under 16 bytes, its "
           f"fallback for a leading dimension that is not a multiple of 16 bytes), {us_text(time)}, "
           f"{100 * time / total:.0f}% of kernel time: " + "; ".join(what(r) for r in rows[:3]) + ".")
    odd = next((r["odd"] for r in rows if r["odd"]), None)
    aligned = any(r["odd"] == "" and r.get("leading_known") for r in rows)
    pad = (f"Pad {odd} to a multiple of 8 elements for bf16 or fp16 (4 for float32, 16 for int8 and fp8), e.g. a "
           "vocabulary's LM head to a multiple of 64, slicing the extra outputs off" if odd else
           "Their leading dimensions are multiples of 16 bytes (the recorded strides say so): an input that starts "
           "at an address that is not (a slice at an odd offset, such as x[:, 1:]) sends cuBLAS to the fallback too; "
           "pass a .contiguous() copy, or slice at multiples of 8 elements" if aligned else
           "Pad the leading dimensions (K, and N of the output) to a multiple of 16 bytes: 8 bf16 or fp16 elements")
    suggestion = (f"{pad}, and keep tensors contiguous with aligned strides. On an H100 (torch 2.11, CUDA 13) a bf16 "
                  "4096 x 4096 x 50257 product ran this fallback at 135 TFLOP/s against 745 at N = 50264, 5.5x "
                  "slower (benchmarks/gemm_alignment.py).")
    return Finding("misaligned-gemm", severity_of(time, total), msg,
                   [dict(r) for r in rows[:10]], suggestion, None)


def float64_kernels(a: Any) -> Optional[Finding]:
    """Kernels whose launching op's first floating-point input is float64 (``double``) take at least
    :data:`FLOAT64_MIN_SHARE_PCT` of kernel time: they move twice the bytes of float32 and, outside data-center
    GPUs (:data:`FULL_RATE_FLOAT64`), compute at 1/32 to 1/64 of its rate. No time at stake: what float32 would
    take is not known from the trace (precision may be what the program needs)."""
    rows = sorted((k for k in kernel_rows(a) if k.get("dtype") == "fp64" and not is_collective(k)),
                  key=lambda k: -k["total_us"])
    total, time = kernel_total(a), sum(k["total_us"] for k in rows)
    if not rows or total <= 0 or 100.0 * time / total < FLOAT64_MIN_SHARE_PCT:
        return None
    ops = Counter()
    for k in rows:
        ops[str(k.get("launched_by") or "no op")] += k["total_us"]
    by_op = ", ".join(f"{op} {us_text(us)}" for op, us in ops.most_common(3))
    devices = str(a.summary.get("devices") or "")
    full_rate = any(name in devices for name in FULL_RATE_FLOAT64)
    rate = ("" if not devices else " and, on this device, compute at half its rate or better" if full_rate else
            f" and, on this device ({devices}), likely compute at 1/32 to 1/64 of its rate (float64 runs at full "
            "speed on data-center parts only)")
    launches = sum(int(k["count"]) for k in rows)
    msg = (f"{len(rows)} kernel{'' if len(rows) == 1 else 's'} ({launches} launches) computed in float64 (their ops' "
           f"inputs are double) and took {us_text(time)}, {100 * time / total:.0f}% of kernel time; by op: {by_op}. "
           f"float64 tensors move twice the bytes of float32{rate}.")
    suggestion = ("Keep the tensors in float32 (or bfloat16) unless the precision is needed: float64 usually comes "
                  "from NumPy (torch.from_numpy and torch.tensor of a NumPy array keep its float64: add .float() or "
                  "dtype=torch.float32), from torch.set_default_dtype(torch.float64), or from a Python float list "
                  "given dtype=torch.float64. torch.autocast does not touch float64 ops.")
    evidence = [{"kernel": k["name"], "launches": int(k["count"]), "time_us": k["total_us"],
                 "launched_by": k.get("launched_by")} for k in rows[:8]]
    return Finding("float64-kernels", severity_of(time, gpu_window_us(a)), msg, evidence, suggestion, None)


def copy_overhead(a: Any) -> Optional[Finding]:
    """Copies on the device (:mod:`bambaprof.analysis.copies`) that take at least :data:`COPY_MIN_SHARE_PCT` of
    kernel time: their time by kind, the largest group and the callers of the rest; advice for the kinds that take
    the most. Time at stake: their GPU time (a copy fused into its reader or not made costs nothing)."""
    rows = [r for r in getattr(a, "copies", None) or () if r.get("gpu_us")]
    total, time = kernel_total(a), sum(r["gpu_us"] for r in rows)
    if not rows or total <= 0 or 100.0 * time / total < COPY_MIN_SHARE_PCT:
        return None
    by_caller: Dict[str, Counter] = defaultdict(Counter)  # kind -> caller -> GPU us
    copies: Counter = Counter()  # kind -> copies made
    for r in rows:
        by_caller[r["kind"]][r["caller"]] += r["gpu_us"]
        copies[r["kind"]] += r["count"]
    order = sorted(by_caller, key=lambda k: -sum(by_caller[k].values()))
    parts = []
    for kind in order:
        n = copies[kind]
        parts.append(f"{kind} {us_text(sum(by_caller[kind].values()))} ({n} cop{'ies' if n != 1 else 'y'}, under "
                     f"{', '.join(c for c, _ in by_caller[kind].most_common(3))})")
    top = rows[0]  # the table comes most GPU time first
    rate = f", {format_cell(top['gbps'], 'num')} GB/s" if top.get("gbps") else ""
    verb = {"cast": "cast", "layout": "made contiguous"}.get(top["kind"], "copied")
    times = f"{top['count']} time{'s' if top['count'] != 1 else ''}"
    where = (f" inside {top['inside']}" if top.get("inside") else "") + \
        (f" in {top['range']}" if top.get("range") not in (None, UNATTRIBUTED) else "")
    msg = (f"Copies on the device take {us_text(time)}, {100 * time / total:.0f}% of kernel time: {'; '.join(parts)}. "
           f"The largest: {top['shape']} ({top['dtypes']}) {verb} under {top['caller']}{where}, {times} "
           f"({us_text(top['gpu_us'])}{rate}).")
    advice = [COPY_ADVICE[k] for k in order[:2]]
    suggestion = (advice[0][0].upper() + advice[0][1:] + (f"; and {advice[1]}" if len(advice) > 1 else "") + ".")
    if "layout" in order[:2] and any(r["kind"] == "layout" and r.get("inside") in CONV_OPS for r in rows):
        suggestion += (" A convolution copied its input into the layout cuDNN reads: a depthwise causal conv that "
                       "reads (batch, length, channels) as the projection wrote it, as the triton variant's fused "
                       "conv1d + SiLU does, makes no copy.")
    if "cast" in order[:2] and compile_mode(a) == "none":
        suggestion += " With bambaprof profile: --compile default lets inductor fuse the casts."
    evidence = [{k: r.get(k) for k in ("kind", "dtypes", "shape", "caller", "inside", "range", "count", "gpu_us", "bytes",
                                       "gbps")}
                for r in rows[:8]]
    return Finding("copy-overhead", severity_of(time, gpu_window_us(a)), msg, evidence, suggestion, time)


def _one_more_block_budgets(k: Dict[str, Any]) -> str:
    """``R registers a thread and S B of shared memory a block``: what one more block an SM would take (the kernel
    table's ``one_more_block_*``), ``""`` where neither resource needs to change."""
    regs, smem = k.get("one_more_block_registers"), k.get("one_more_block_shared_memory_bytes")
    return " and ".join(([f"{regs} registers a thread"] if regs is not None else [])
                        + ([f"{smem:,} B of shared memory a block"] if smem is not None else []))


def _one_more_block(k: Dict[str, Any]) -> str:
    """`` At most R registers a thread and S B of shared memory a block would fit N blocks an SM instead of M (X%
    theoretical occupancy).`` for a kernel row that knows it, else ``""``."""
    pct, now, then = k.get("one_more_block_occupancy_pct"), k.get("blocks_per_sm"), k.get("one_more_block_blocks")
    budgets = _one_more_block_budgets(k)
    if not budgets or pct is None or now is None or then is None:
        return ""
    return f" At most {budgets} would fit {then} blocks an SM instead of {now} ({pct:.1f}% theoretical occupancy)."


def low_occupancy(a: Any) -> List[Finding]:
    total = kernel_total(a)
    out = []
    for k in kernel_rows(a):
        occ, limiter = k.get("theoretical_occupancy_pct"), k.get("limiter") or ""
        if is_collective(k) or occ is None or total <= 0 or occ >= LOW_OCCUPANCY_PCT or k.get("bound") == "latency":
            continue
        if 100.0 * k["total_us"] / total < LOW_OCCUPANCY_MIN_SHARE_PCT or not re.search("register|shared", limiter):
            continue
        if not far_from_floor(k):
            continue  # near its roofline, or no floor to say that occupancy holds it back
        at_stake = max(k["excess_us"], 0.0) if k.get("excess_us") is not None else k["total_us"]
        msg = (f"{kernel_label(k['name'], 60)} runs at {occ:.1f}% theoretical occupancy, limited by {limiter} "
               f"({k.get('registers')} registers/thread, {k.get('shared_memory_bytes') or 0:,} B shared memory, "
               f"block {k.get('block')}), for {us_text(k['total_us'])}.{_one_more_block(k)}")
        fixes = (["fewer registers per thread (Triton: fewer num_warps per tile, a smaller tile or maxnreg; CUDA: "
                  "__launch_bounds__/maxrregcount)"] if "register" in limiter else []) + \
            (["less shared memory a block (smaller tiles, fewer pipeline stages, one ring of buffers that the "
              "phases share)"] if "shared" in limiter else [])
        fix = " and ".join(fixes)
        out.append(Finding("low-occupancy", severity_of(at_stake, gpu_window_us(a)), msg,
                           [{"kernel": k["name"], "occupancy_pct": occ, "limiter": limiter, "time_us": k["total_us"]}],
                           f"Try {fix}, if the kernel does not hide latency with instruction-level parallelism.",
                           at_stake))
    return out


def small_grid(a: Any) -> List[Finding]:
    total = kernel_total(a)
    out = []
    for k in kernel_rows(a):
        if is_collective(k):  # a collective's grid is its channels, sized for the links, not for the SMs
            continue
        if not k.get("small_grid") or total <= 0 or 100.0 * k["total_us"] / total < SMALL_GRID_MIN_SHARE_PCT:
            continue
        waves = k.get("waves_per_sm") or 0.0
        sm_fraction = waves * (k.get("blocks_per_sm") or 1)  # blocks / SMs
        if sm_fraction >= SMALL_GRID_MAX_SM_FRACTION:
            continue
        msg = (f"{kernel_label(k['name'], 60)} launches a grid of {k.get('grid')} blocks, fewer than the GPU has "
               f"SMs (blocks on {100 * sm_fraction:.0f}% of them), for {us_text(k['total_us'])}: the rest of the GPU idles "
               "while it runs.")
        out.append(Finding("small-grid", severity_of(k["total_us"], gpu_window_us(a)), msg,
                           [{"kernel": k["name"], "grid": k.get("grid"), "waves_per_sm": waves, "time_us": k["total_us"]}],
                           "Give it more parallel work: a larger batch, split the reduction (split-K) or the "
                           "sequence, or smaller blocks.", k["total_us"]))
    return out


def _grid_blocks(grid: Optional[str]) -> Optional[int]:
    """The blocks of a kernel row's grid text (``"132x2x1"``), None where it has none."""
    try:
        dims = [int(d) for d in (grid or "").split("x")]
    except ValueError:
        return None
    return math.prod(dims) if dims and min(dims) > 0 else None


def _whole_waves_text(blocks: int, per_sm: int, sms: int, waves: float) -> str:
    """Which grids near ``blocks`` fill whole waves of ``per_sm * sms`` blocks: the largest wave count below and the
    next above."""
    wave, lo, hi = per_sm * sms, math.floor(waves), math.ceil(waves)
    return (f"{lo * wave:,} blocks ({lo} whole wave{'s' if lo > 1 else ''}: more work a block) or "
            f"{hi * wave:,} ({hi}: less work a block)")


def _one_more_block_waves(k: Dict[str, Any], blocks: int, sms: int) -> str:
    """What one more block an SM (the kernel table's ``one_more_block_*``) would make of the waves, where it takes
    a wave off the grid; else ``""``."""
    then, budgets = k.get("one_more_block_blocks"), _one_more_block_budgets(k)
    waves = k.get("waves_per_sm") or 0.0
    if not then or not budgets:
        return ""
    waves_then = blocks / (then * sms)
    if math.ceil(waves_then) >= math.ceil(waves):
        return ""
    return (f" At most {budgets}, {then} blocks would fit an SM and the grid would run in {math.ceil(waves_then)} "
            f"wave{'s' if math.ceil(waves_then) > 1 else ''} ({waves_then:.2f}) instead of {math.ceil(waves)}.")


def partial_wave(a: Any) -> List[Finding]:
    total = kernel_total(a)
    out = []
    for k in kernel_rows(a):
        lost, waves, per_sm = k.get("partial_wave_us"), k.get("waves_per_sm"), k.get("blocks_per_sm")
        blocks = _grid_blocks(k.get("grid"))
        if is_collective(k) or not lost or not waves or not per_sm or not blocks or total <= 0:
            continue
        if k["mean_us"] < LATENCY_US or 100.0 * k["total_us"] / total < PARTIAL_WAVE_MIN_SHARE_PCT:
            continue
        at_stake = min(lost, max(k["excess_us"], 0.0)) if k.get("excess_us") is not None else lost
        if 100.0 * at_stake / k["total_us"] < PARTIAL_WAVE_MIN_PCT:
            continue
        sms = max(1, round(blocks / (waves * per_sm)))
        last = waves - math.floor(waves) or 1.0
        configs = k.get("configs") or 1
        of = f"its {k['count']:,} launches' " if k["count"] > 1 else "its "
        least = k.get("partial_wave_min_us") or 0.0
        msg = (f"{kernel_label(k['name'], 60)} runs {blocks:,} blocks in {waves:.2f} waves of {per_sm * sms:,} "
               f"({per_sm} an SM on {sms} SMs){' in its most common launch' if configs > 1 else ''}: its last wave "
               f"fills {100 * last:.0f}% of the GPU's block slots, so partial waves may take up to {us_text(lost)} "
               f"of {of}{us_text(k['total_us'])} ({100 * lost / k['total_us']:.0f}%, if its blocks run as fast "
               f"however many share an SM; {100 * least / k['total_us']:.0f}% if they share its throughput).")
        if at_stake < lost:
            msg += f" Its roofline floor leaves {us_text(at_stake)} of that to gain."
        advice = (f"Size the grid to whole waves: {_whole_waves_text(blocks, per_sm, sms, waves)}, through the tile "
                  "or block size, or the batch and sequence lengths that set the grid; or make the kernel persistent "
                  "(a grid of one wave whose blocks loop over the tiles, as cuBLAS's stream-K and Triton's persistent "
                  "matmul do), or split its work finer so that the last wave is a smaller part of it."
                  f"{_one_more_block_waves(k, blocks, sms)}")
        out.append(Finding("partial-wave", severity_of(at_stake, gpu_window_us(a)), msg,
                           [{"kernel": k["name"], "grid": k.get("grid"), "blocks_per_sm": per_sm,
                             "waves_per_sm": waves, "time_us": k["total_us"], "partial_wave_us": lost,
                             "partial_wave_min_us": least}],
                           advice, at_stake))
    return out


def unknown_bytes(a: Any) -> Optional[Finding]:
    rows = kernel_rows(a)
    total = kernel_total(a)
    unknown = [k for k in rows if k.get("bytes_known", 0) < k["count"] and not is_collective(k)]  # links, not DRAM
    time = sum(k["total_us"] * (1 - k.get("bytes_known", 0) / k["count"]) for k in unknown)
    if total <= 0 or 100.0 * time / total < UNKNOWN_BYTES_PCT:
        return None
    unknown.sort(key=lambda k: -k["total_us"])
    msg = (f"{100 * time / total:.0f}% of kernel time ({us_text(time)}) has unknown bytes, so the roofline cannot "
           f"judge it: {', '.join(kernel_label(k['name'], 40) for k in unknown[:3])}.")
    if (a.summary or {}).get("parser_backend") == NSYS_BACKEND:  # no operators or shapes to model bytes from
        what = ("The export's operators (emit_nvtx) come with sizes but not dtypes" if any(
            o.get("kind") == "cpu_op" for o in a.ops or ()) else "Nsight Systems records no operators or shapes")
        advice = (f"{what}: pass --ncu with Nsight Compute's CSV of the same workload for "
                  "measured bytes, or profile it with the PyTorch profiler and record_shapes (bambaprof profile "
                  "does).")
    elif (a.summary or {}).get("parser_backend") in (*ROCPROF_BACKENDS, ROCPD_BACKEND):
        advice = ("rocprofv3 records no operators or shapes: profile the same workload with the PyTorch profiler "
                  "and record_shapes (bambaprof profile does) for modelled bytes.")
    else:
        advice = ("Profile with record_shapes (bambaprof profile does) so aten ops get a shape model; compiled "
                  "kernels carry their bytes with TORCHINDUCTOR_BENCHMARK_KERNEL=1.")
    return Finding("unknown-bytes", "low" if 100 * time / total < HIGH_SHARE_PCT else "medium", msg,
                   [{"kernel": k["name"], "time_us": k["total_us"], "launched_by": k.get("launched_by")}
                    for k in unknown[:8]], advice, None)


def exposed_communication(a: Any) -> Optional[Finding]:
    s = a.summary
    exposed, total, window = s.get("collective_exposed_us"), s.get("collective_us"), gpu_window_us(a)
    rows = getattr(a, "collectives", None) or []
    if not exposed or not total or window <= 0 or not rows or 100.0 * exposed / window < EXPOSED_COMMUNICATION_PCT:
        return None
    kinds = "; ".join(f"{r['kind']} {r['count']}x, {us_text(r['exposed_us'])} of {us_text(r['total_us'])} exposed"
                      + (f", {r['busbw_gbps']:,.0f} GB/s bus bandwidth" if r.get("busbw_gbps") else "")
                      for r in rows[:3])
    msg = (f"Collectives ran for {us_text(total)} on the GPU and {us_text(exposed)} of it ({100 * exposed / total:.0f}%) "
           f"with no compute kernel beside them: {100 * exposed / window:.0f}% of the {us_text(window)} window was "
           f"communication alone ({kinds}). A collective's time includes waiting inside it for slower ranks.")
    suggestion = ("Overlap communication with compute: DDP starts each bucket's all-reduce as its gradients are "
                  "ready (a smaller bucket_cap_mb starts the first sooner); FSDP prefetches the next all-gather "
                  "(forward_prefetch, backward_prefetch=BACKWARD_PRE); keep collectives async (async_op=True) on "
                  "their own stream until the result is needed. If other ranks arrive late, the wait is theirs: "
                  "analyze the job's folder of traces to see the slowest rank.")
    return Finding("exposed-communication", severity_of(exposed, window), msg,
                   [{"kind": r["kind"], "count": r["count"], "time_us": r["total_us"], "exposed_us": r["exposed_us"],
                     "busbw_gbps": r.get("busbw_gbps"), "kernels": r["kernels"]} for r in rows], suggestion, exposed)


def _triton_scan_on_hopper(a: Any, rows: List[Dict[str, Any]]) -> bool:
    """Whether bambaprof's core ran its Triton chunk scan (``_chunk_scan``, not the Gluon ``_chunk_scan_sm90*``) on
    devices of compute capability 9 (Hopper), where the Gluon scan serves bf16 inputs."""
    capability = str(a.summary.get("compute_capability") or "")
    scans = {name.strip() for r in rows if r["step"] == "chunk scan" for name in str(r["kernels"]).split(",")}
    return capability.startswith("9.") and scans == {"_chunk_scan"}


def ssd_core(a: Any) -> Optional[Finding]:
    s = a.summary
    rows = [r for r in getattr(a, "ssd", None) or () if r["core"]]
    pct, total = s.get("ssd_core_pct"), s.get("ssd_core_us")
    if not rows or pct is None or not total or pct < SSD_CORE_PCT:
        return None
    rows = sorted(rows, key=lambda r: -r["gpu_us"])
    implementation = s.get("ssd_implementation") or rows[0]["implementation"]
    launches = sum(r["launches"] for r in rows)
    steps = "; ".join(f"{r['step']} {us_text(r['gpu_us'])} ({100 * r['gpu_us'] / total:.0f}%)" for r in rows[:5])
    judged = [r for r in rows if r["floor_us"] is not None]
    floor = sum(r["floor_us"] for r in judged)
    excess = sum(r["excess_us"] for r in judged) if judged and len(judged) == len(rows) else None
    above = (f", {sum(r['gpu_us'] for r in judged) / floor:.1f}x its roofline floor" if judged and floor > 0
             and len(judged) == len(rows) else "")
    core_floor, core_x = s.get("ssd_core_floor_us"), s.get("ssd_core_above_floor_x")
    if excess is None and core_floor and core_x:  # the kernels carry no bytes: the floor of the op's shapes
        forward = core_x * core_floor
        above = (f", {core_x:.1f}x the roofline floor of its calls' shapes ({us_text(core_floor)}: every input read "
                 "and every output written once, and the chunked scan's minimum FLOPs)")
        excess = forward - core_floor
    msg = (f"The SSD core ({implementation}: {launches} launches of {len(rows)} steps) takes {us_text(total)}, "
           f"{pct:.0f}% of kernel time{above}: {steps}.")
    if implementation == MAMBA_SSM:
        record = measured.TRITON_CORE_VS_MAMBA_SSM
        suggestion = ("mamba_ssm's core runs its steps as five kernels that pass chunk states through global "
                      f"memory; a fused core needs fewer launches and less traffic: bambaprof's triton core took "
                      f"{record.quoted} of mamba_ssm's kernel time at Bamba-9B shapes on an {record.card} "
                      "(measure it on yours with bambaprof bench ssd --mamba-ssm SRC).")
    elif implementation == BAMBAPROF and _triton_scan_on_hopper(a, rows):
        record = measured.GLUON_SCAN_VS_TRITON_SCAN
        suggestion = ("The chunk scan here is the Triton kernel (_chunk_scan) on a Hopper GPU, where bambaprof also "
                      "has a Gluon scan for bf16 (TMA and wgmma; the core with it took "
                      f"{record.quoted} of its kernel time with _chunk_scan at Bamba-9B shapes on an {record.card}): "
                      "the default runs it inside CUDA graphs (--compile reduce-overhead), eagerly at every size with "
                      "the whole launch shortcut (repeated forwards launched whole), and without it eagerly from 1,024 "
                      "scan programs (batch x chunks x heads x head-dim blocks), below which an eager forward is bound "
                      "by its host and the Gluon launch's host time would lengthen it; BAMBAPROF_SSD_SCAN=gluon_ordered "
                      "runs it at every size. Measure both with bambaprof bench ssd.")
    else:
        suggestion = ("Compare the core's time with its FLOP floor and with mamba_ssm's at your shapes: bambaprof "
                      "bench ssd (--mamba-ssm SRC).")
    evidence = [{k: r[k] for k in ("implementation", "step", "launches", "gpu_us", "floor_us", "excess_us")}
                for r in rows]
    severity = "high" if pct >= HIGH_SHARE_PCT else "medium"
    return Finding("ssd-core", severity, msg, evidence, suggestion, max(excess, 0.0) if excess is not None else None)
