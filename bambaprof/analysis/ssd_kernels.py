"""The SSD (Mamba2) kernels of the implementations in use, recognised by name in any trace.

A trace of a Mamba2 layer made elsewhere (mamba_ssm, vLLM, the Foundation Model Stack: they launch
mamba_ssm's Triton kernels or copies of them) carries no profiler ranges that say which kernel does which
step of the state-space dual scan, but the kernels' names do. :data:`SSD_KERNELS` maps them to their
implementation and step:

- the **core** steps (the chunked scan itself): ``dt cumsum`` (the per-chunk cumulative sum of dt x A),
  ``chunk states`` (each chunk's final state), ``state passing`` (the recurrence over chunks), ``C.B`` (the
  chunk's C^T B products) and ``chunk scan`` (the output: intra-chunk attention-like products plus the
  carried state); bambaprof's ``triton`` core does them in ``prep``, ``chunk states`` and ``chunk scan``;
- the rest of the mixer: ``conv`` (the causal depthwise conv1d, with its SiLU), ``gated norm``, and the
  one-token ``decode step`` (``selective_state_update``), each where an implementation has a kernel for it.

Backward kernels (``*_bwd_*``) are their step's ``(backward)``. :func:`ssd_table` gives one row per
(implementation, step) from the kernel table: launches, GPU time (us), share of kernel time (%), and the
roofline floor and excess (us) of the kernels whose floor is known; :func:`ssd_summary` the core's time and
share.

mamba_ssm's kernels carry no bytes or FLOPs, but the op that runs them does carry its shapes when the profiler
records them: ``MambaChunkScanCombinedFn`` (``mamba_chunk_scan_combined``'s autograd Function) takes x
``(b, L, h, p)``, dt, A, B and C ``(b, L, g, n)`` and the chunk size. :func:`core_calls` reads each call's
minimum FLOPs and bytes from them, as ``bambaprof bench ssd`` defines them (:func:`minimum_flops`,
:func:`minimum_bytes`), so the forward core gets a roofline floor: per call the larger of bytes / peak
bandwidth and FLOPs / peak FLOP/s of x's dtype, summed over calls.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Pattern, Sequence, Tuple

from .roofline import floor_time_us, op_dtype
from .traffic import DTYPE_BYTES

MAMBA_SSM = "mamba_ssm"
BAMBAPROF = "bambaprof triton"
CAUSAL_CONV1D = "causal_conv1d"
#: Steps of the chunked scan itself (the "core"); the others are the rest of the mixer.
CORE_STEPS = ("dt cumsum", "chunk states", "state passing", "C.B", "chunk scan", "prep")

#: (name pattern, implementation, step), the first match wins; names are Triton function names or CUDA kernel
#: names as the profiler writes them (a C++ kernel's name starts with ``void `` and carries its template).
SSD_KERNELS: List[Tuple[Pattern[str], str, str]] = [
    (re.compile(r"^_chunk_cumsum_\w*kernel$"), MAMBA_SSM, "dt cumsum"),
    (re.compile(r"^_chunk_state_\w*kernel$"), MAMBA_SSM, "chunk states"),
    (re.compile(r"^_state_passing_\w*kernel$"), MAMBA_SSM, "state passing"),
    (re.compile(r"^_bmm_chunk_\w*kernel$"), MAMBA_SSM, "C.B"),
    (re.compile(r"^_chunk_scan_\w*kernel$"), MAMBA_SSM, "chunk scan"),
    (re.compile(r"^_selective_scan_update_kernel$"), MAMBA_SSM, "decode step"),
    (re.compile(r"^_layer_norm_(fwd|bwd)_1pass_kernel$"), MAMBA_SSM, "gated norm"),
    (re.compile(r"^(void )?(causal_conv1d_(fwd|bwd|update|channellast_fwd|channellast_bwd)_kernel)\b"),
     CAUSAL_CONV1D, "conv"),
    (re.compile(r"^_causal_conv1d_(fwd|update)_kernel\w*$"), CAUSAL_CONV1D, "conv"),
    (re.compile(r"^_chunk_prep$"), BAMBAPROF, "prep"),
    (re.compile(r"^_chunk_states$"), BAMBAPROF, "chunk states"),
    (re.compile(r"^_chunk_scan(_sm90(_(slim|pair|wide|stay))?)?$"), BAMBAPROF, "chunk scan"),
    (re.compile(r"^_conv1d_silu_kernel$"), BAMBAPROF, "conv"),
    (re.compile(r"^_gated_rmsnorm_kernel$"), BAMBAPROF, "gated norm"),
    (re.compile(r"^_mixer_decode_kernel$"), BAMBAPROF, "decode step"),
]
_BACKWARD = re.compile(r"_bwd")


def ssd_step(name: str) -> Optional[Tuple[str, str]]:
    """``(implementation, step)`` of a kernel name, the step marked ``(backward)`` for a backward kernel;
    ``None`` for a kernel that is not one of :data:`SSD_KERNELS`."""
    for pattern, implementation, step in SSD_KERNELS:
        if pattern.search(name):
            return implementation, step + (" (backward)" if _BACKWARD.search(name) else "")
    return None


def ssd_table(kernels: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (implementation, step) of the SSD kernels among the kernel table's rows (see the module
    docstring), the core's steps first, each group by GPU time; empty when the trace has none."""
    total = sum(k["total_us"] for k in kernels if k.get("kind", "kernel") == "kernel")
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for k in kernels:
        found = ssd_step(str(k.get("name", "")))
        if found is not None:
            groups.setdefault(found, []).append(k)
    rows = []
    for (implementation, step), members in groups.items():
        us = sum(k["total_us"] for k in members)
        judged = [k for k in members if k.get("floor_us") is not None]
        floor = sum(k["floor_us"] for k in judged) if judged else None
        rows.append({
            "implementation": implementation, "step": step, "core": step.split(" (")[0] in CORE_STEPS,
            "kernels": ", ".join(sorted({str(k["name"]) for k in members})), "launches": sum(k["count"] for k in members),
            "gpu_us": us, "share_pct": 100.0 * us / total if total > 0 else None, "floor_us": floor,
            "excess_us": sum(k["total_us"] for k in judged) - floor if floor is not None else None,
        })
    rows.sort(key=lambda r: (not r["core"], -r["gpu_us"]))
    return rows


def ssd_summary(rows: Sequence[Dict[str, Any]], floor_us: Optional[float] = None) -> Dict[str, Any]:
    """The SSD core's GPU time (``ssd_core_us``), its share of kernel time (``ssd_core_pct``), the
    implementations seen (``ssd_implementation``); with the forward core's floor from its op's shapes
    (``floor_us``, :func:`core_floor`), ``ssd_core_floor_us`` and ``ssd_core_above_floor_x`` (the forward
    core's time over it). All ``None`` without SSD kernels."""
    core = [r for r in rows if r["core"]]
    if not core:
        return {"ssd_implementation": None, "ssd_core_us": None, "ssd_core_pct": None, "ssd_core_floor_us": None,
                "ssd_core_above_floor_x": None}
    shares = [r["share_pct"] for r in core if r["share_pct"] is not None]
    forward = sum(r["gpu_us"] for r in core if not r["step"].endswith("(backward)"))
    return {"ssd_implementation": ", ".join(sorted({r["implementation"] for r in core})),
            "ssd_core_us": sum(r["gpu_us"] for r in core), "ssd_core_pct": sum(shares) if shares else None,
            "ssd_core_floor_us": floor_us,
            "ssd_core_above_floor_x": forward / floor_us if floor_us and forward > 0 else None}


def core_floor(calls: Sequence[Dict[str, Any]], gbps: Optional[float], tflops: Callable[[Optional[str]],
               Optional[float]]) -> Optional[float]:
    """The forward core's roofline floor (us) over its ``calls`` (:func:`core_calls`): per call the larger of
    bytes / ``gbps`` and FLOPs / ``tflops(dtype class)``, summed; ``None`` without calls or a peak."""
    if not calls or not gbps:
        return None
    return sum(floor_time_us(c["bytes"], c["flops"], gbps, tflops(c["dtype"])) for c in calls)


#: Ops that run a chunked-scan core, with its inputs in mamba_ssm's order (x, dt, A, B, C, chunk_size, ...).
CORE_OPS = re.compile(r"^MambaChunkScanCombinedFn$|chunk_scan_combined")


def minimum_flops(b: int, L: int, h: int, p: int, g: int, n: int, chunk: int) -> int:
    """Minimum FLOPs of the chunked algorithm: per head 4 L p n (chunk states and their output) + L Q p (the
    causal half of the intra-chunk product with x), per group L Q n (the causal half of C B^T), Q = the
    chunk (at most L)."""
    Q = min(chunk, L)
    return b * (h * (4 * L * p * n + L * Q * p) + g * L * Q * n)


def minimum_bytes(b: int, L: int, h: int, p: int, g: int, n: int, element: int) -> int:
    """Every input read once and every output written once (bytes): x and y, dt, B and C in the inputs'
    dtype (``element`` bytes each), A, D and dt_bias in float32, the final state in float32."""
    return 2 * b * L * h * p * element + b * L * h * element + 2 * b * L * g * n * element + 3 * h * 4 \
        + b * h * p * n * 4


#: Dtype classes of x (:func:`~.roofline.op_dtype`) the floor is read for.
_CORE_DTYPES = ("bf16", "fp16", "fp32", "fp64")


def core_calls(ops: Any) -> List[Dict[str, Any]]:
    """The calls of a chunked-scan core op (:data:`CORE_OPS`) whose shapes were recorded: each call's
    ``flops``, ``bytes`` and ``dtype`` (x's dtype class, ``bf16``...), per the module docstring. Calls whose
    shapes do not read as mamba_ssm's (x 4-D and floating, B 4-D, an integer chunk size) are left out."""
    out = []
    for i, name in enumerate(ops.name):
        if not CORE_OPS.search(str(name)):
            continue
        dims, types, concrete = ops.input_dims[i], ops.input_types[i], ops.concrete_inputs[i]
        if not (isinstance(dims, list) and len(dims) >= 5 and isinstance(types, list) and types
                and isinstance(concrete, list) and len(concrete) >= 6):
            continue
        x, B = dims[0], dims[3]
        try:
            chunk = int(str(concrete[5]))
            b, L, h, p = (int(v) for v in x)
            g, n = int(B[2]), int(B[3])
        except (TypeError, ValueError):
            continue
        dtype = op_dtype(types[:1])
        if dtype not in _CORE_DTYPES or min(b, L, h, p, g, n, chunk) <= 0 or len(B) != 4:
            continue
        out.append({"flops": minimum_flops(b, L, h, p, g, n, chunk),
                    "bytes": minimum_bytes(b, L, h, p, g, n, DTYPE_BYTES[types[0]]), "dtype": dtype})
    return out
