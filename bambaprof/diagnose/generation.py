"""Rule on generation that recomputes the whole prefix every token (:mod:`bambaprof.analysis.generation`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
threshold is the named constant here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from .finding import Finding, time_base, time_based_finding, us_text

#: no-cache-generation: the weight products' time on tokens an earlier forward had run is at least this share of
#: kernel time (of the span on the host, in a CPU-only profile).
NO_CACHE_PCT = 5.0


def no_cache_generation(a: Any) -> Optional[Finding]:
    """Forwards on one token more each time (growth runs of the weight products' token counts) whose time on tokens
    an earlier forward had processed is at least :data:`NO_CACHE_PCT` of kernel time (a CPU-only profile: host time
    against the span, no time at stake). Time at stake: that recomputed time, in the weight products alone (a lower
    bound: the rest of the model recomputes too)."""
    on_host, total = time_base(a)
    key = "recomputed_cpu_us" if on_host else "recomputed_gpu_us"
    rows = [r for r in getattr(a, "generation", None) or () if r.get(key)]
    waste = sum(r[key] for r in rows)
    if not rows or total <= 0 or 100.0 * waste / total < NO_CACHE_PCT:
        return None
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
