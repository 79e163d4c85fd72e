"""Rules on the copies between host and device memory: those from or to pageable memory, and those no kernel ran
beside (:mod:`bambaprof.analysis.transfers`).

Each rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .finding import Finding, gpu_window_us, link_text, severity_of, us_text

#: pageable-copies: copies between the GPU and pageable (unpinned) host memory take at least this share of
#: the GPU window.
PAGEABLE_COPY_PCT = 5.0
#: exposed-transfers: copies between host and device ran with no kernel beside them, and could have run under
#: kernels, for at least this share of the GPU window.
EXPOSED_TRANSFER_PCT = 5.0


def pageable_copies(a: Any) -> Optional[Finding]:
    rows = [k for k in a.kernels if k.get("kind") == "memcpy" and "Pageable" in str(k.get("name"))]
    time, window = sum(k["total_us"] for k in rows), gpu_window_us(a)
    if window <= 0 or not rows or 100.0 * time / window < PAGEABLE_COPY_PCT:
        return None
    count = sum(k["count"] for k in rows)
    moved = sum(k["bytes"] or 0.0 for k in rows)
    rate = f" at {moved / time / 1e3:,.1f} GB/s{link_text(a, moved / time / 1e3)}" if moved and time > 0 else ""
    kinds = ", ".join(f"{k['name']} ({k['count']}x, {us_text(k['total_us'])})" for k in rows[:3])
    msg = (f"{count} copies between the GPU and pageable host memory take {us_text(time)}, {100 * time / window:.0f}% "
           f"of its {us_text(window)} window{rate}: {kinds}. The driver stages them through a pinned buffer, and the "
           "host waits for each.")
    suggestion = ("Copy through pinned memory: DataLoader(pin_memory=True) or tensor.pin_memory() on the host side, "
                  "then .to(device, non_blocking=True); for results, copy into a pinned buffer with "
                  "non_blocking=True and synchronise once, after the step.")
    return Finding("pageable-copies", severity_of(time, window), msg,
                   [{"name": k["name"], "count": k["count"], "time_us": k["total_us"], "bytes": k["bytes"]}
                    for k in rows], suggestion, time)


def exposed_transfers(a: Any) -> Optional[Finding]:
    """Copies between host and device memory ran while no kernel ran on their device (``--table transfers``,
    :mod:`bambaprof.analysis.transfers`) for at least :data:`EXPOSED_TRANSFER_PCT` of the GPU window. Time at stake:
    that exposed time, at most the kernel time it could have run under. The advice follows where the copies ran:
    pageable memory first, a stream shared with the kernels (a side stream, a batch ahead), a side stream already
    (issue them earlier), results copied out (less often, or read after the step)."""
    s = a.summary
    exposed, window = s.get("transfer_exposed_us") or 0.0, gpu_window_us(a)
    rows = getattr(a, "transfers", None) or []
    hidable = min(exposed, s.get("kernel_us") or 0.0)  # overlap needs kernels to run under
    if window <= 0 or not rows or 100.0 * hidable / window < EXPOSED_TRANSFER_PCT:
        return None
    exposed_rows = [r for r in rows if r["exposed_us"] > 0]
    top = exposed_rows[0]

    def where(r: Dict[str, Any]) -> str:
        memory = "" if r["memory"] == "unknown" else f"{r['memory']} "
        side = "from" if r["direction"] == "HtoD" else "to"
        stream = f"stream {r['stream']}" + (" (the kernels' own)" if r["stream_runs_kernels"] else "")
        rate = f", {r['gbps']:,.1f} GB/s{link_text(a, r['gbps'])}" if r.get("gbps") else ""
        return (f"{r['direction']} {side} {memory}memory on {stream} under {r['op'] or 'no operator'}: {r['count']}x, "
                f"{us_text(r['exposed_us'])} exposed of {us_text(r['total_us'])}{rate}")

    size = s.get("transfer_bytes")
    moved = f", {size / 1e6:,.1f} MB" if size else ""
    msg = (f"Copies between the host and the GPU ran with no kernel beside them for {us_text(exposed)}, "
           f"{100 * exposed / window:.0f}% of its {us_text(window)} window ({s.get('transfer_count')} copies in "
           f"{us_text(s.get('transfer_us') or 0.0)}{moved}): the SMs waited while the data crossed the bus. "
           + "; ".join(where(r) for r in exposed_rows[:3]) + ".")
    parts = []
    if sum(r["exposed_us"] for r in exposed_rows if r["memory"] == "pageable") >= 0.5 * exposed:
        parts.append("Pin the host memory first (see pageable-copies): a pageable copy cannot overlap anything.")
    if top["direction"] == "DtoH":
        parts.append("Copy results out less often (keep them on the GPU and read them every N steps), or into pinned "
                     "memory with non_blocking=True on a side stream, read after the step.")
    elif top["stream_runs_kernels"]:
        parts.append("Copy the next batch while this one computes: on a side stream (torch.cuda.Stream), one step "
                     "ahead, from pinned memory with .to(device, non_blocking=True); before using it, "
                     "torch.cuda.current_stream().wait_stream(side) and batch.record_stream(torch.cuda."
                     "current_stream()) (or a DataLoader with pin_memory=True and a CUDA prefetcher). On the "
                     "kernels' stream a copy waits for the kernels queued before it, and those after wait for it.")
    else:
        parts.append(f"The copies run on a stream of their own (stream {top['stream']}) but no kernel ran beside them: "
                     "issue each one earlier (a batch ahead), so that it runs under the previous step's kernels, "
                     "and check that the compute stream does not wait for it right away.")
    parts.append("Data small enough to stay on the GPU can be copied there once, before the loop.")
    return Finding("exposed-transfers", severity_of(exposed, window), msg,
                   [{k: r[k] for k in ("direction", "memory", "stream", "stream_runs_kernels", "op", "count",
                                       "total_us", "exposed_us", "bytes", "gbps")} for r in exposed_rows[:10]],
                   " ".join(parts), hidable)
