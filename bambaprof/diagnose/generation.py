"""Rules on generation: recomputing the whole prefix every token (:mod:`bambaprof.analysis.generation`), a cached
run's tokens against the floor of reading its weights and caches (:mod:`bambaprof.analysis.decode_floor`), and
prefills that computed logits at every prompt position (:mod:`bambaprof.analysis.prefill_logits`).

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; the
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from ..render.tables import format_cell
from .finding import (
    GRAPHLESS_MODES,
    Finding,
    compile_mode,
    host_wait_pct,
    time_based_finding,
    timed_rows,
    us_text,
)
from .host import HOST_BOUND_PCT

#: no-cache-generation: the weight products' time on tokens an earlier forward had run is at least this share of
#: kernel time (of the span on the host, in a CPU-only profile).
NO_CACHE_PCT = 5.0


def no_cache_generation(a: Any) -> Optional[Finding]:
    """Forwards on one token more each time (growth runs of the weight products' token counts) whose time on tokens
    an earlier forward had processed is at least :data:`NO_CACHE_PCT` of kernel time (a CPU-only profile: host time
    against the span, no time at stake). Time at stake: that recomputed time, in the weight products alone (a lower
    bound: the rest of the model recomputes too)."""
    found = timed_rows(a, "generation", ("recomputed_cpu_us", "recomputed_gpu_us"), NO_CACHE_PCT)
    if found is None:
        return None
    on_host, total, key, rows, waste = found
    top = max(rows, key=lambda r: r["last_tokens"] - r["first_tokens"])
    spent = sum(r["cpu_us" if on_host else "gpu_us"] or 0.0 for r in rows)
    counts = (f"{top['first_tokens']}, {top['first_tokens'] + top['step']}, ..., {top['last_tokens']}"
              if top["last_tokens"] - top["first_tokens"] > 2 * top["step"] else
              f"{top['first_tokens']} to {top['last_tokens']}")
    m = getattr(a, "manifest", None)
    config = m.config if m is not None else None
    ran_without = config is not None and getattr(config, "use_cache", True) is False
    msg = (f"Each forward ran the model on {top['step']} token{'s' if top['step'] != 1 else ''} more than the last: "
           f"{top['op']} with a {top['weight']} weight ran on {counts} tokens ({top['runs']} "
           f"generation{'s' if top['runs'] != 1 else ''}): generation recomputes the whole prefix every token, where a "
           f"cache runs each token once. In these products alone, {us_text(waste)} of their {us_text(spent)} went to "
           f"tokens an earlier forward had run, {100 * waste / total:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)" if on_host else "kernel time")
           + (" (this run was profiled with --no-cache)" if ran_without else "") + ".")
    suggestion = ("Generate with the cache: Hugging Face's generate(use_cache=True) and past_key_values, the "
                  "Foundation Model Stack's generate(use_cache=True), bambaprof profile --use-cache (its default; "
                  "--host hf and fms generate without). A Mamba or Bamba layer's cache is its conv and SSM state: "
                  "each new token then costs the same whatever the prefix.")
    return time_based_finding(a, "no-cache-generation", on_host, waste, total, waste, msg, [dict(r) for r in rows[:8]],
                              suggestion)


#: decode-floor: a cached generate run's median token at least this many times its floor (reading its weights and
#: caches once at the peak bandwidth); high from DECODE_FLOOR_HIGH_X.
DECODE_FLOOR_X = 2.0
DECODE_FLOOR_HIGH_X = 5.0


def decode_floor(a: Any) -> Optional[Finding]:
    """A cached ``generate`` run whose median time between tokens is at least :data:`DECODE_FLOOR_X` times its floor
    (:mod:`bambaprof.analysis.decode_floor`); advice by what holds the token: the host (the GPU waited on it for
    :data:`~.host.HOST_BOUND_PCT` of its window) or the kernels. No time at stake: the figures are per token, not
    the trace's."""
    s = a.summary
    x, token, floor = s.get("decode_floor_x"), s.get("decode_token_ms"), s.get("decode_floor_ms")
    if x is None or token is None or floor is None or x < DECODE_FLOOR_X:
        return None
    weights, cache, batch = s.get("decode_weight_bytes") or 0.0, s.get("decode_cache_bytes") or 0.0, \
        s.get("decode_batch") or 1
    gbps, bound = s.get("decode_peak_gbps"), s.get("decode_bound")
    msg = (f"Each generated token took {us_text(1e3 * token)} (the run's median between tokens), {x:,.1f}x its floor "
           f"of {us_text(1e3 * floor)}: a decode step reads {format_cell(weights, 'bytes')} of weights and "
           f"{format_cell(cache, 'bytes')} of cache ({batch} sequence{'s' if batch != 1 else ''})"
           + (f" at {gbps:,.0f} GB/s" if gbps and bound == "bandwidth" else ", its FLOPs at the peak matmul rate")
           + ".")
    host_bound = host_wait_pct(a) >= HOST_BOUND_PCT
    mode = compile_mode(a)
    if host_bound:
        graphs = ("profile with --compile reduce-overhead (or max-autotune)" if mode in GRAPHLESS_MODES
                  else "fewer, larger kernels a token")
        first = (f"The host sets the pace (the GPU waited on it for {host_wait_pct(a):.0f}% of its window): "
                 f"launches cost more than the kernels at one token a sequence; {graphs}.")
    else:
        first = ("The kernels take the time: a token's weight products are matrix-vector products that should stream "
                 "their weights at the bandwidth; fuse the small per-token kernels, and see the kernel table for "
                 "those furthest from their floor.")
    suggestion = (first + f" Every sequence of a batch shares the step's weight reads: at batch {batch} the floor is "
                  f"{us_text(1e3 * floor / batch)} a sequence-token, and it falls as the batch grows until the step is "
                  "compute-bound; weights in fewer bits (fp8, int4) lower it in proportion.")
    severity = "high" if x >= DECODE_FLOOR_HIGH_X else "medium"
    evidence = [{k: s.get(k) for k in ("decode_token_ms", "decode_floor_ms", "decode_floor_x", "decode_weight_bytes",
                                       "decode_cache_bytes", "decode_batch", "decode_bound", "decode_peak_gbps")}]
    return Finding("decode-floor", severity, msg, evidence, suggestion, None)


#: all-position-logits: prefills' LM head time on positions other than the last (``--table logits``) is at least this
#: share of kernel time (of the trace's span on the host, in a CPU-only profile).
PREFILL_LOGITS_PCT = 5.0


def all_position_logits(a: Any) -> Optional[Finding]:
    """Generation whose prefills computed logits at every prompt position (the LM head on ``L`` positions a sequence,
    then decode steps on one), the positions other than the last taking at least :data:`PREFILL_LOGITS_PCT` of
    kernel time (a CPU-only profile: host time against the span, no time at stake). Time at stake: that GPU time."""
    found = timed_rows(a, "prefill_logits", ("extra_cpu_us", "extra_gpu_us"), PREFILL_LOGITS_PCT)
    if found is None:
        return None
    on_host, total, key, rows, time = found
    top = max(rows, key=lambda r: r[key])
    calls = sum(r["calls"] for r in rows)
    written = [r["logits_bytes"] for r in rows]
    size = (f", writing {format_cell(sum(written), 'bytes')} of logits to keep one row a sequence"
            if None not in written else "")
    msg = (f"{calls} prefill{'s' if calls > 1 else ''} ran the LM head (weight {top['weight']}: the vocabulary of the "
           f"trace's embedding) on every prompt position, {top['positions']:,} in the largest ({top['shape']}, "
           f"{top['dtype'] or 'dtype unknown'}), before decode steps that run it on one{size}: the positions before "
           f"the last took {us_text(time)}, {100 * time / total:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)." if on_host else "kernel time."))
    suggestion = ("If generation reads only the last position's logits, apply the LM head to it alone: "
                  "lm_head(hidden[:, -1:]) (Hugging Face models: logits_to_keep=1, num_logits_to_keep in older "
                  "releases; bambaprof's model: last_logits_only=True). Keep every position where their logits are "
                  "used: scoring the prompt, or a draft's tokens verified in speculative decoding.")
    return time_based_finding(a, "all-position-logits", on_host, time, total, None if on_host else time, msg,
                              [dict(r) for r in rows[:8]], suggestion)
