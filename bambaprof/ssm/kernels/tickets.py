"""The chunk scans' tickets: which (batch, chunk, block of p, head) a program works on.

A scan program draws a ticket from a counter in the order programs start (``atomic_add``) and takes its
work from the ticket, batch slowest, then chunk, then block of the head dim, then head. The program a
chunk waits for (same chain: batch, head and p block; the previous chunk) holds a smaller ticket, so it has
started and never waits on this one: the hand-off waits cannot deadlock, whatever order the hardware
schedules programs in. Shared by the Triton scan (:mod:`.ssd`) and the Gluon one (:mod:`.ssd_sm90`), with the
wait on a chain's counter (:func:`wait_chain`). The Gluon form ``gluon_ordered`` decodes its index in the launch
instead (:func:`ticket_decode`), saving the atomic, where the GPU dispatches programs in index order.
"""

import triton
import triton.language as tl


@triton.jit
def ticket_work(ticket_ptr, H, n_pblocks, nchunks, I64: tl.constexpr):
    """Draw a ticket: ``(batch, chunk, p block, head)``; batch and chunk 64-bit when ``I64``."""
    return ticket_decode(tl.atomic_add(ticket_ptr, 1), H, n_pblocks, nchunks, I64)


@triton.jit
def ticket_decode(t, H, n_pblocks, nchunks, I64: tl.constexpr):
    """Ticket ``t``'s ``(batch, chunk, p block, head)``; batch and chunk 64-bit when ``I64``."""
    h = t % H
    r = t // H
    pb = r % n_pblocks
    r = r // n_pblocks
    c = r % nchunks
    b = r // nchunks
    if I64:
        b = b.to(tl.int64)
        c = c.to(tl.int64)
    return b, c, pb, h


@triton.jit
def wait_chain(flag_ptr, chain, c):
    """Spin until the chain's counter says chunk ``c``'s entering state is in its ring (an acquire, so the ring's
    stores that the counter's release published are seen)."""
    seen = tl.atomic_add(flag_ptr + chain, 0, sem="acquire")
    while seen < c:
        seen = tl.atomic_add(flag_ptr + chain, 0, sem="acquire")


@triton.jit
def chain_pending(flag_ptr, chain, c):
    """Whether chunk ``c``'s entering state is not yet in the chain's ring: one look at the counter (an acquire,
    so that where it is there, the ring's stores that the counter's release published are seen)."""
    return tl.atomic_add(flag_ptr + chain, 0, sem="acquire") < c
