"""Rule on tensors grown by ``torch.cat`` call after call, a KV cache concatenated every token
(:mod:`bambaprof.analysis.growing_cats`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
threshold is the named constant here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from ..render.tables import format_cell
from .finding import Finding, time_based_finding, timed_rows, us_text

#: growing-cat: the growing concatenations take at least this share of kernel time (of the span on the host, in a
#: CPU-only profile).
GROWING_CAT_PCT = 5.0


def growing_cat(a: Any) -> Optional[Finding]:
    """Concatenations that grow one tensor call after call take at least :data:`GROWING_CAT_PCT` of kernel time (a
    CPU-only profile: of the span, host time, no time at stake). Time at stake: their GPU time above the floor of
    writing only the appended slices (all of it where the element size is unknown)."""
    found = timed_rows(a, "growing_cats", ("cpu_us", "gpu_us"), GROWING_CAT_PCT)
    if found is None:
        return None
    on_host, total, key, rows, time = found
    top = max(rows, key=lambda r: r[key])
    calls = sum(r["calls"] for r in rows)
    copied = top["elements_written"] / top["elements_appended"] if top["elements_appended"] else None
    written = (format_cell(top["bytes_written"], "bytes") if top["bytes_written"] is not None
               else f"{format_cell(top['elements_written'], 'count_si')} elements")
    shapes = "one shape" if len(rows) == 1 else f"{len(rows)} shapes"
    msg = (f"{calls} torch.cat calls grew tensors ({shapes}) call after call by appending to them: "
           f"{us_text(time)}, {100 * time / total:.0f}% of "
           + ("the trace's span on the host (a CPU-only profile)" if on_host else "kernel time")
           + f". The largest, {top['shape']} grown by {top['appended']} along dim {top['dim']} from {top['first_length']} "
           f"to {top['last_length']} ({top['calls']} calls), wrote {written}"
           + (f", {copied:,.0f}x what it appended: each call copies the whole tensor" if copied else "")
           + ". A KV cache concatenated every token does this.")
    suggestion = ("Allocate the cache at its final length once and write each step's slice in place (cache[:, :, "
                  "pos:pos + n] = new, or index_copy_; Hugging Face: a StaticCache, cache_implementation='static'): each "
                  "token is then moved once, and the shapes stay fixed, which torch.compile (no recompiles) and CUDA "
                  "graphs need.")
    at_stake = None if on_host else sum(max(0.0, r["gpu_us"] - r["floor_us"]) if r["floor_us"] is not None
                                        else r["gpu_us"] for r in rows)
    return time_based_finding(a, "growing-cat", on_host, time, total, at_stake, msg, [dict(r) for r in rows[:8]],
                              suggestion)
