"""Where a program of the Gluon chunk scan (``gluon_slim``) spends its time, phase by phase, and when it ran.

A kernel built from :mod:`bambaprof.ssm.kernels.ssd_sm90_slim`'s phase helpers, as its kernel is, reads the SM's
cycle counter (``%clock64``) at each phase's end and the GPU's global timer (``%globaltimer``, ns) at the
program's start and end, and stores them with its SM (``%smid``) in a row per ticket; the state and output
helpers' ``TIMED`` hooks (compiled out of the package's kernels) add the cycles spent waiting for TMA tiles and
the end of each output block. The phases:

- ``ticket``: the ticket's atomic (from the program's first instruction to its value in a register; with
  ``gluon_ordered``, which takes its work from its index in the launch, only that index's decoding);
- ``prologue``: the TMA requests for x's tiles and the ring's first items, the chunk's ``cs`` and ``dt'`` rows
  read into shared memory, the barrier after;
- ``state``: the chunk's own state (the B tiles' products), waited for;
- ``wait``: the spin on the chain's counter until the previous chunk has handed its state on (0 for chunk 0);
- ``hand_off``: E read from the chain's ring (or the initial state), ``exp(cs_end) E + S`` stored on, the fence
  and the barrier after;
- ``outputs``: every output block's products and its stores.

The copy launches where ``ssd_forward`` would launch the slim kernel (through its ``wrap`` hook), after the same
prep, on the same buffers, so only the stamps differ: their cost is shown by the timed launch's span (first
start to last end, global timer) beside the plain forward's scan kernel time (profiler). Cycles are turned into
us by each program's own ratio of cycles to global-timer ns.

What it answers: at the small shapes (1x512: 256 programs, one wave), is a program's time its products, the
ring's waits, the chain's hand-off or its fixed start (ticket, prologue), and how far apart programs start
and end. Inputs as ``bambaprof check`` makes them, bf16, h=128 p=64 n=128 g=1, chunk 256, initial states.
Prints one JSON document (per shape: phase medians and percentiles in us, by chunk 0 and the rest, the
timeline, the last program's phases, the raw rows gzipped and base64-encoded when ``--raw``).

    python benchmarks/scan_phases.py [--shape 1x512 ...] [--scan gluon_scaled] [--raw] > scan-phases.json
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import statistics
import sys
from typing import Dict, List

import torch

from bambaprof._env import environment
from bambaprof.bench.ssd import kernel_time
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd as kernels
from bambaprof.ssm.kernels import ssd_sm90_slim
from bambaprof.ssm.kernels.ssd_sm90 import gl, gluon
from bambaprof.ssm.kernels.tickets import wait_chain

SHAPES = ["1x512", "1x2048", "1x8192", "8x2048", "8x8192"]
#: A row's fields: the SM, the global timer at start and end (ns), the cycle counter at the seven stamps.
FIELDS = ["sm", "gt_start", "gt_end", "k_start", "k_ticket", "k_prologue", "k_state", "k_wait", "k_hand_off",
          "k_outputs", "state_x_wait", "state_ring_wait", "outputs_ring_wait", "k_block0", "k_block1", "k_block2",
          "k_block3"]
#: Fields past the phase stamps: cycles spent waiting for TMA tiles (x's in the state phase, the ring's in the
#: state and the outputs phases), and the cycle counter at the end of each output block (the chunk's first four).
WAITS = ["state_x_wait", "state_ring_wait", "outputs_ring_wait"]
#: Where the state helper's waits (two fields) and the output helper's (its wait, then the block stamps) start.
STATE_AT, OUTPUTS_AT = FIELDS.index("state_x_wait"), FIELDS.index("outputs_ring_wait")
PHASES = ["ticket", "prologue", "state", "wait", "hand_off", "outputs"]

if gluon is not None:
    from bambaprof.ssm.kernels.ssd_sm90 import UNSPECIALIZED, _chunk_origin, _clock_after
    from bambaprof.ssm.kernels.ssd_sm90_slim import (
        _outputs,
        _refill_mode,
        _slim_buffers,
        _slim_done,
        _slim_hand_off,
        _slim_prologue,
        _slim_state,
        _work,
    )

    @gluon.jit
    def _globaltimer():
        return gl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l", [], dtype=gl.int64, is_pure=False,
                                         pack=1)

    @gluon.jit
    def _smid():
        return gl.inline_asm_elementwise("mov.u32 $0, %smid;", "=r", [], dtype=gl.int32, is_pure=False, pack=1)

    @gluon.jit(do_not_specialize=UNSPECIALIZED)
    def _slim_timed(x_desc, b_desc, c_desc, cb_desc, cs_ptr, dtp_ptr, D_ptr, init_ptr, ring_ptr, flag_ptr,
                    ticket_ptr, y_ptr, final_ptr, L, H, G, P, nchunks, heads_per_group, n_pblocks, s_y_b, s_y_l,
                    s_y_h, stamp_ptr, Q: gl.constexpr, N: gl.constexpr, HAS_D: gl.constexpr, HAS_INIT: gl.constexpr,
                    I64: gl.constexpr, ROW: gl.constexpr, STATE_AT: gl.constexpr, OUTPUTS_AT: gl.constexpr,
                    R: gl.constexpr = 3, SCALED: gl.constexpr = False, ORDERED: gl.constexpr = False,
                    DIAG_FIRST: gl.constexpr = False):
        """The slim kernel with its phases stamped into a row of ``ROW`` int64 fields a ticket (:data:`FIELDS`);
        ``SCALED`` and ``ORDERED`` as the kernel takes them (``_outputs`` and ``_work`` pick); the launch passes
        ``DIAG_FIRST`` too, whose form is not timed."""
        gl.static_assert(not DIAG_FIRST, "scan_phases does not time DIAG_FIRST")
        NB: gl.constexpr = Q // 64
        NH: gl.constexpr = N // 64
        g0 = _globaltimer()
        sm = _smid()
        k0 = _clock_after(sm)
        b, c, pb, h = _work(ticket_ptr, H, n_pblocks, nchunks, I64, ORDERED)
        k1 = _clock_after(h)
        row = stamp_ptr + (((b * nchunks + c) * n_pblocks + pb) * H + h).to(gl.int64) * ROW
        row0, col0, cb_row = _chunk_origin(b, c, h, L, G, nchunks, heads_per_group, Q, N)
        xs, ring, es, x_bars, bars = _slim_buffers(x_desc, Q, N, R)
        cs_sm, dt_sm, cs_end, c0, c1, c2, c3, d_h = _slim_prologue(x_desc, b_desc, c_desc, cb_desc, xs, ring, x_bars,
                                                                   bars, cs_ptr, dtp_ptr, D_ptr, b, c, h, pb, H, P,
                                                                   nchunks, row0, col0, cb_row, Q, NB, NH, R, HAS_D)
        k2 = _clock_after(h)
        S0, S1 = _slim_state(b_desc, c_desc, cb_desc, xs, ring, x_bars, bars, dt_sm, cs_end, row0, col0, cb_row,
                             NB, NH, R, row + STATE_AT, True, _refill_mode(SCALED))
        k3 = _clock_after(h)
        chain = (b * n_pblocks + pb) * H + h
        if c > 0:
            wait_chain(flag_ptr, chain, c)
        k4 = _clock_after(h)
        _slim_hand_off(S0, S1, es, ring_ptr, init_ptr, final_ptr, flag_ptr, chain, b, h, c, pb, H, P, nchunks, cs_end,
                       N, HAS_INIT, False)
        k5 = _clock_after(h)
        _outputs(b_desc, c_desc, cb_desc, xs, ring, es, bars, cs_sm, dt_sm, c0, c1, c2, c3, d_h, flag_ptr, chain,
                 y_ptr, b, c, h, pb, L, nchunks, s_y_b, s_y_l, s_y_h, row0, col0, cb_row, Q, NB, NH, R, HAS_D, SCALED,
                 row + OUTPUTS_AT, True, _refill_mode(SCALED))
        k6 = _clock_after(h)
        g1 = _globaltimer()
        _slim_done(x_bars, bars, NB, R)
        gl.store(row, sm.to(gl.int64))
        gl.store(row + 1, g0)
        gl.store(row + 2, g1)
        gl.store(row + 3, k0)
        gl.store(row + 4, k1)
        gl.store(row + 5, k2)
        gl.store(row + 6, k3)
        gl.store(row + 7, k4)
        gl.store(row + 8, k5)
        gl.store(row + 9, k6)


class _Stamped:
    """A ``wrap`` for ``ssd_forward`` that launches :func:`_slim_timed` in place of the slim kernel, its stamps
    into ``stamps`` (one row of :data:`FIELDS` a ticket); every other kernel launches as it is."""

    def __init__(self, stamps: torch.Tensor):
        self.stamps = stamps

    def __call__(self, kernel):
        if kernel is not ssd_sm90_slim._chunk_scan_sm90_slim:
            return kernel
        stamps = self.stamps

        class _Grid:
            def __getitem__(self, grid):
                return lambda *args, **options: _slim_timed[grid](*args, stamps, **options, ROW=len(FIELDS),
                                                                  STATE_AT=STATE_AT, OUTPUTS_AT=OUTPUTS_AT)

        return _Grid()


def _quantiles(values: List[float]) -> Dict[str, float]:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"median": round(statistics.median(values), 3), "p10": round(pick(0.1), 3),
            "p90": round(pick(0.9), 3), "max": round(values[-1], 3)}


def summarise(rows: torch.Tensor, nchunks: int, H: int) -> dict:
    """Phase durations (us) and the timeline of one timed launch's rows (tickets in order: batch, chunk, head)."""
    r = rows.cpu().tolist()
    ghz = [(row[9] - row[3]) / max(1, row[2] - row[1]) for row in r]
    rate = statistics.median(ghz)  # cycles a ns
    t0 = min(row[1] for row in r)
    out: dict = {"programs": len(r), "sm_clock_ghz": round(rate, 3)}
    for group, keep in (("all", lambda t: True), ("chunk0", lambda t: (t // H) % nchunks == 0),
                        ("later_chunks", lambda t: (t // H) % nchunks > 0)):
        sel = [row for t, row in enumerate(r) if keep(t)]
        if not sel:
            continue
        phases = {name: _quantiles([(row[4 + i] - row[3 + i]) / rate / 1e3 for row in sel])
                  for i, name in enumerate(PHASES)}
        phases["program"] = _quantiles([(row[9] - row[3]) / rate / 1e3 for row in sel])
        for name in WAITS:
            phases[name] = _quantiles([row[FIELDS.index(name)] / rate / 1e3 for row in sel])
        marks = [FIELDS.index("k_hand_off")] + [FIELDS.index(f"k_block{m}") for m in range(4)]
        for m in range(4):  # output block m's time: from the hand-off's end or the block before to its end
            phases[f"block{m}"] = _quantiles([(row[marks[m + 1]] - row[marks[m]]) / rate / 1e3 for row in sel])
        out[group] = phases
    starts = [(row[1] - t0) / 1e3 for row in r]
    ends = [(row[2] - t0) / 1e3 for row in r]
    last = max(range(len(r)), key=lambda t: r[t][2])
    out["timeline_us"] = {"span": round(max(ends), 3), "start": _quantiles(starts), "end": _quantiles(ends)}
    out["last_program"] = {"ticket": last, "chunk": (last // H) % nchunks, "start_us": round(starts[last], 3),
                           "phases_us": {name: round((r[last][4 + i] - r[last][3 + i]) / rate / 1e3, 3)
                                         for i, name in enumerate(PHASES)}}
    per_sm: Dict[int, int] = {}
    for row in r:
        per_sm[row[0]] = per_sm.get(row[0], 0) + 1
    out["programs_an_sm"] = {"sms": len(per_sm), "min": min(per_sm.values()), "max": max(per_sm.values())}
    return out


def measure(label: str, raw: bool) -> dict:
    b, L = (int(v) for v in label.split("x"))
    inputs = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=True)
    H = 128
    nchunks = (L + 255) // 256
    stamps = torch.zeros(b * nchunks * H, len(FIELDS), device="cuda", dtype=torch.int64)

    def forward(wrap=kernels.direct):
        return kernels.ssd_forward(inputs["x"], inputs["dt"], inputs["A"], inputs["B"], inputs["C"], 256,
                                   D=inputs["D"], dt_bias=inputs["dt_bias"], dt_softplus=True,
                                   initial_state=inputs["initial_state"], return_final_state=True, wrap=wrap)

    plain = kernel_time(forward, calls=20)
    y_plain, s_plain = forward()
    timed = _Stamped(stamps)
    spans = []
    for _ in range(5):
        stamps.zero_()
        y_timed, s_timed = forward(timed)
        torch.cuda.synchronize()
        spans.append((stamps[:, 2].max() - stamps[:, 1].min()).item() / 1e3)
    assert torch.equal(y_plain, y_timed) and torch.equal(s_plain, s_timed), "the timed kernel's outputs differ"
    row = {"plain_kernel_us": plain.by_name_us, "timed_span_us": [round(s, 2) for s in spans],
           **summarise(stamps, nchunks, H)}
    if raw:
        row["raw_rows"] = base64.b64encode(gzip.compress(stamps.cpu().numpy().tobytes())).decode()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", help="BxL (default: the five Bamba-9B shapes)")
    parser.add_argument("--scan", choices=["gluon_slim", "gluon_scaled", "gluon_ordered"], default="gluon_slim",
                        help="the slim kernel's form to time (default: gluon_slim)")
    parser.add_argument("--raw", action="store_true", help="keep each launch's rows (int64, gzipped, base64)")
    args = parser.parse_args()
    if gluon is None or not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        print("scan_phases: the Gluon scan does not run on this GPU", file=sys.stderr)
        return 1
    kernels.scan_override = args.scan
    out = {"environment": environment("cuda"), "scan": args.scan, "fields": FIELDS, "rows": {}}
    for label in args.shape or SHAPES:
        row = out["rows"][label] = measure(label, args.raw)
        print(label, row["timed_span_us"], row["plain_kernel_us"], json.dumps(row["all"]), file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
