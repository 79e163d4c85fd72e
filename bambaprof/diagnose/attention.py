"""Rules on attention: attention that stores its score matrix (PyTorch's math fallback, or attention written as
separate ops; :mod:`bambaprof.analysis.attention`), and grouped-query attention done by copying the keys and values
to the query's heads (:mod:`bambaprof.analysis.kv_repeats`).

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
threshold is the named constant here (in the README).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..analysis.attention import CALL, UNFUSED_BACKENDS
from ..render.tables import format_cell
from .finding import Finding, time_base, time_based_finding, timed_rows, us_text

#: unfused-attention: attention calls of the math and unfused backends take at least this share of kernel time
#: (forward and backward; of the trace's span on the host, in a CPU-only profile).
UNFUSED_ATTENTION_PCT = 5.0
#: FlashAttention's largest head dimension.
FLASH_MAX_HEAD_DIM = 256
#: What a row's ``backend`` is, in words.
_HOW = {"math": "PyTorch's math fallback of scaled_dot_product_attention",
        "flex-eager": "flex_attention called without torch.compile, its unfused implementation",
        "unfused": "separate matmul and softmax ops, written by hand"}


def unfused_attention(a: Any) -> Optional[Finding]:
    """Attention calls that store their score matrix (PyTorch's math backend, or hand-written attention) and take at
    least :data:`UNFUSED_ATTENTION_PCT` of kernel time, forward and backward; in a CPU-only profile, their host time
    against the trace's span (no floor, no time at stake). Time at stake: their GPU time less their floor as fused
    attention (:mod:`bambaprof.analysis.attention`), all of it where the floor is unknown."""
    on_host, total = time_base(a)
    rows = [r for r in getattr(a, "attention", None) or () if r["found_by"] == CALL
            and r["backend"] in UNFUSED_BACKENDS]
    rows = [r for r in rows if _time(r, on_host) > 0]
    time = sum(_time(r, on_host) for r in rows)
    if not rows or not total or total <= 0 or 100.0 * time / total < UNFUSED_ATTENTION_PCT:
        return None
    rows.sort(key=lambda r: -_time(r, on_host))
    top = rows[0]
    calls = sum(r["count"] for r in rows)
    by_backend = {b: sum(r["count"] for r in rows if r["backend"] == b) for b in _HOW}
    ways = " and ".join(f"{n} through {_HOW[b]}" if len(rows) > 1 or n != calls else _HOW[b]
                        for b, n in by_backend.items() if n)
    floors = [r["floor_us"] for r in rows]
    floor = sum(floors) if not on_host and all(f is not None for f in floors) else None
    share = 100.0 * time / total
    msg = (f"{calls} attention call{'s' if calls != 1 else ''} stored the whole score matrix instead of running a "
           f"fused kernel ({ways}): {us_text(time)}, {share:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)" if on_host else "kernel time, forward and backward")
           + (f", {time / floor:,.1f}x their floor as fused attention ({us_text(floor)})" if floor else "")
           + f". The largest: {_shapes(top)}, {top['count']} call{'s' if top['count'] != 1 else ''}, "
           f"{us_text(_time(top, on_host))}"
           + (f"; each stores {format_cell(top['score_bytes'], 'bytes')} of scores" if top["score_bytes"] else "")
           + ".")
    suggestion = " ".join(_advice(rows, on_host))
    evidence = [{k: r[k] for k in ("backend", "op", "count", "query", "key", "value", "dtype", "mask", "causal",
                                   "dropout", "score_bytes", "cpu_us", "gpu_us", "backward_us", "floor_us")}
                for r in rows[:8]]
    at_stake = None if on_host else sum(max(0.0, _time(r, False) - r["floor_us"]) if r["floor_us"] is not None
                                        else _time(r, False) for r in rows)
    return time_based_finding(a, "unfused-attention", on_host, time, total, at_stake, msg, evidence, suggestion)


def _time(row: Dict[str, Any], on_host: bool) -> float:
    """A row's time (us): host time in a CPU-only profile, else GPU time forward and backward."""
    if on_host:
        return float(row.get("cpu_us") or 0.0)
    return float((row.get("gpu_us") or 0.0) + (row.get("backward_us") or 0.0))


def _shapes(row: Dict[str, Any]) -> str:
    """A row's call in words: its shapes, dtype and the arguments the trace recorded."""
    if row["query"] is None:
        return f"{row['op']} (shapes not recorded)"
    parts = [f"q {row['query']}, k {row['key']}, v {row['value']} ({row['dtype']})"]
    if row["backend"] == "math":
        parts.append("no mask" if row["mask"] == "none" else f"mask {row['mask']}" if row["mask"] else "mask unknown")
        if row["causal"] is not None:
            parts.append(f"is_causal={row['causal']}")
        if row["dropout"]:
            parts.append(f"dropout_p={row['dropout']:g}")
    return ", ".join(parts)


def _advice(rows: List[Dict[str, Any]], on_host: bool) -> List[str]:
    """What to try: for eager flex_attention, compiling it; for the math fallback, what its recorded inputs rule
    out and how to make PyTorch say why; for hand-written attention, the fused call."""
    out: List[str] = []
    unfused = [r for r in rows if r["backend"] == "unfused"]
    math_rows = [r for r in rows if r["backend"] == "math"]
    if any(r["backend"] == "flex-eager" for r in rows):
        out.append("Call flex_attention compiled: flex_attention = torch.compile(flex_attention) (or compile the "
                   "model around it) turns each call, score_mod and block mask included, into one fused Triton "
                   "kernel"
                   + (" (on the CPU, C++ that inductor writes; FlexAttention's backward runs on GPUs only)"
                      if on_host else "")
                   + "; called eagerly it stores the whole score matrix, as PyTorch warns once.")
    if unfused:
        out.append("Compute attention with torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=..., "
                   "is_causal=...) (Hugging Face models: attn_implementation=\"sdpa\" or \"flash_attention_2\"): a "
                   "fused kernel never stores the score matrix, and keeps the softmax in float32 inside.")
    if not math_rows:
        return out
    reasons = _visible_reasons(math_rows, on_host)
    if reasons:
        out.append("The math fallback's calls show why a fused kernel could not take them: " + "; ".join(reasons)
                   + ".")
    else:
        switches = "" if on_host else (", torch.backends.cuda.enable_flash_sdp(False) / "
                                       "enable_mem_efficient_sdp(False)")
        out.append("Nothing in the math fallback's recorded inputs rules the fused kernels out: look for "
                   f"torch.nn.attention.sdpa_kernel(SDPBackend.MATH) around them{switches}, or inputs whose last "
                   "dimension is not contiguous.")
    out.append("To make PyTorch say why, run one call inside with torch.nn.attention.sdpa_kernel("
               "[SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]): it then raises instead of falling back, "
               "after a warning from each backend naming the check its inputs failed.")
    return out


def _visible_reasons(rows: List[Dict[str, Any]], on_host: bool) -> List[str]:
    """The fused kernels' documented limits that the math fallback's recorded calls cross."""
    reasons: List[str] = []
    dtypes = {r["dtype"] for r in rows if r["dtype"]}
    if not on_host and dtypes & {"fp32", "fp64"}:
        reasons.append(f"inputs in {', '.join(sorted(dtypes & {'fp32', 'fp64'}))}: FlashAttention takes only fp16 "
                       "and bf16 (run attention in bf16, or under torch.autocast)")
    if any(r["mask"] not in (None, "none") for r in rows) and not on_host:
        reasons.append("an attn_mask: FlashAttention takes none (where the mask only makes attention causal, pass "
                       "is_causal=True instead)")
    if on_host and any(r["dropout"] for r in rows):
        reasons.append("dropout_p above 0: PyTorch's fused CPU kernel takes no dropout (pass dropout_p=0.0 outside "
                       "training)")
    if on_host and any(r["query"] and len({_last(r[k]) for k in ("query", "key", "value")}) > 1 for r in rows):
        reasons.append("q, k and v with different last dimensions: PyTorch's fused CPU kernel needs them equal")
    heads = {_last(r["query"]) for r in rows if r["query"]}
    if not on_host and any(d > FLASH_MAX_HEAD_DIM for d in heads):
        reasons.append(f"a head dimension of {max(heads)}: FlashAttention takes at most {FLASH_MAX_HEAD_DIM}")
    return reasons


def _last(shape: str) -> int:
    """The last dimension of a shape written as text (``[1, 8, 512, 64]``: 64)."""
    return int(shape.rsplit(",", 1)[-1].strip(" []"))


#: repeated-kv: keys and values copied to the query's heads before attention calls (``--table repeats``) take at
#: least this share of kernel time (of the trace's span on the host, in a CPU-only profile).
REPEATED_KV_PCT = 5.0
#: The 16-bit dtypes FlashAttention takes: on a GPU, the one backend of scaled_dot_product_attention that reads
#: grouped key and value heads in place (``enable_gqa=True``).
FLASH_DTYPES = ("bf16", "fp16")


def repeated_kv(a: Any) -> Optional[Finding]:
    """Grouped-query attention done by copying the keys and values to the query's heads (``repeat_interleave``,
    ``repeat_kv``) before its calls, those copies taking at least :data:`REPEATED_KV_PCT` of kernel time; in a
    CPU-only profile, their host time against the span (no time at stake). Time at stake: the copies' GPU time.
    The advice depends on where the calls ran: on the CPU, ``enable_gqa=True`` takes any dtype and mask; on a GPU
    only FlashAttention takes it (16-bit inputs, no mask beyond ``is_causal``), and other calls would fall back to the
    math backend, which is slower than the copies."""
    found = timed_rows(a, "kv_repeats", ("cpu_us", "gpu_us"), REPEATED_KV_PCT)
    if found is None:
        return None
    on_host, total, key, rows, time = found
    top = max(rows, key=lambda r: r[key])
    copies, calls = sum(r["copies"] for r in rows), sum(r["calls"] for r in rows)
    written = [r["bytes"] for r in rows]
    size = f"{format_cell(sum(written), 'bytes')} written" if None not in written else "bytes unknown"
    lengths = (f"{top['min_length']:,} to {top['max_length']:,}" if top["min_length"] != top["max_length"]
               else f"{top['max_length']:,}")
    msg = (f"{calls} attention calls read keys and values copied to the query's heads first: {copies} copies "
           f"({size}), {us_text(time)}, {100 * time / total:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)" if on_host else "kernel time")
           + f". The most, under {top['caller']!s:.60}: {top['kv_heads']} key and value heads repeated "
           f"{top['repeats']}x by {top['form']} ({top['dtype'] or 'dtype unknown'}, {lengths} tokens, head dim "
           f"{top['head_dim']}), {top['calls']} calls of backend {top['backend']}: each copies the whole cache "
           "again, and attention then reads it back.")
    gpu_fits = [r for r in rows if r["dtype"] in FLASH_DTYPES and not r["masked"]]
    if on_host or a.summary.get("platform") == "cpu":
        suggestion = ("Pass k and v at their own heads with enable_gqa=True to scaled_dot_product_attention (PyTorch "
                      "2.5 and later; on the CPU its flash backend takes any dtype and mask): the kernel reads each "
                      "shared head in place and the copies go. On a GPU only FlashAttention takes it: 16-bit inputs "
                      "and no mask beyond is_causal.")
    elif len(gpu_fits) == len(rows):
        suggestion = ("Pass k and v at their own heads with enable_gqa=True to scaled_dot_product_attention (PyTorch "
                      "2.5 and later): FlashAttention, which these 16-bit calls without a mask can run, reads each "
                      "shared head in place, and the copies go.")
    else:
        suggestion = ("On a GPU, enable_gqa=True is taken only by FlashAttention (16-bit inputs, no mask beyond "
                      "is_causal); these calls (" + ", ".join(sorted({f"{r['dtype']}{', masked' if r['masked'] else ''}"
                                                                    for r in rows if r not in gpu_fits}))
                      + ") would fall back to the math backend, slower than the copies. Compute attention in bf16 or "
                      "fp16 with is_causal and then pass enable_gqa=True, or call a kernel that takes grouped heads "
                      "itself (the flash-attn package's flash_attn_func with fewer key and value heads).")
    return time_based_finding(a, "repeated-kv", on_host, time, total, None if on_host else time, msg,
                              [dict(r) for r in rows[:8]], suggestion)
