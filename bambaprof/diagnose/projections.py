"""Rule on matrix products of one activation shape run one after another: projections (q, k, v; gate, up) whose
weights could be stacked into one product (:mod:`bambaprof.analysis.projections`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from .finding import Finding, time_base, time_based_finding, us_text

#: split-projections: the runs' time at stake (their GPU time above what one stacked product would take at least;
#: in a CPU-only profile, the products' host time against the span) is at least this share of kernel time (%).
SPLIT_PROJECTIONS_PCT = 5.0
#: split-projections judges runs whose products take under this on average (us, GPU): small products, where a
#: launch's fixed cost and a grid too small to fill the GPU are what stacking saves. Longer ones run near their
#: own efficiency stacked or not, and the bound says little about them.
SPLIT_PROJECTIONS_SHORT_US = 20.0


def split_projections(a: Any) -> Optional[Finding]:
    """Runs of small matrix products of one activation shape whose time at stake (``at_stake_us`` of
    ``--table projections``) is at least :data:`SPLIT_PROJECTIONS_PCT` of kernel time; in a CPU-only profile, their
    host time against the span (no time at stake)."""
    on_host, total = time_base(a)
    rows = getattr(a, "projections", None) or []
    if on_host:
        judged = [r for r in rows if r["cpu_us"]]
        time = sum(r["cpu_us"] for r in judged)
    else:
        judged = [r for r in rows if r["at_stake_us"] and r["mean_us"] is not None
                  and r["mean_us"] < SPLIT_PROJECTIONS_SHORT_US]
        time = sum(r["at_stake_us"] for r in judged)
    if not judged or total <= 0 or 100.0 * time / total < SPLIT_PROJECTIONS_PCT:
        return None
    top = max(judged, key=lambda r: r["cpu_us"] if on_host else r["at_stake_us"])
    runs = sum(r["runs"] for r in judged)
    products = sum(r["runs"] * r["products"] for r in judged)
    same = [r for r in judged if (r["caller"], r["weights"]) == (top["caller"], top["weights"])]
    shapes = f"{len(same)} activation shapes" if len(same) > 1 else f"activation {top['shape']}"
    msg = (f"{runs} runs of matrix products of one activation shape ran one product at a time ({products} products): "
           f"the most, under {top['caller']!s:.60}, {top['products']} products by weights {top['weights']} "
           f"({top['dtype'] or 'dtype unknown'}, {shapes}, {sum(r['runs'] for r in same)} runs)")
    if on_host:
        msg += (f", {us_text(time)} of host time, {100 * time / total:.0f}% of the trace's span (a CPU-only "
                "profile).")
        at_stake = None
    else:
        gpu = sum(r["gpu_us"] for r in judged)
        launches = sum(r["launches"] or 0 for r in judged)
        msg += (f". Their {launches} launches take {us_text(gpu)} of GPU time, {us_text(gpu / products)} a product; "
                f"one stacked product a run ({products - runs} products fewer) would save up to {us_text(time)} "
                f"({100 * time / total:.0f}% of kernel time).")
        at_stake = time
    msg += " Where the products of a run read the same input, their weights can be stacked."
    suggestion = ("Stack the weights of products that read one input into one Linear (torch.cat([q.weight, k.weight, "
                  "v.weight]), its output split with .split([...], dim=-1)), as the Foundation Model Stack's fused QKV "
                  "and vLLM's QKVParallelLinear and MergedColumnParallelLinear do: one launch and one pass over the "
                  "input instead of one per projection, and for the few rows of a decode step one matrix-vector "
                  "product large enough to stream its weights at full bandwidth. A state-dict hook keeps checkpoints "
                  "loading as before.")
    return time_based_finding(a, "split-projections", on_host, time, total, at_stake, msg,
                              [dict(r) for r in judged[:8]], suggestion)
