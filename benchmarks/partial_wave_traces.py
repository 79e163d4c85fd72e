"""Measure the tail effect against the two bounds that ``partial-wave`` gives (CUDA only), and record its trace.

    python benchmarks/partial_wave_traces.py OUT [--reps 5]

Three Triton kernels whose blocks all do the same work, each launched at grids of 0.5 to 3 waves (a wave: the blocks
an SM holds at once, times the SMs) at two block sizes:

- ``chase``: one dependent chain of loads a block (each address the last load's value, through L2): a block's speed
  does not depend on how many share its SM, so a launch should take ``ceil(waves)`` waves' time (the upper bound of
  :func:`bambaprof.analysis.kernels._partial_wave_us`);
- ``fma``: independent multiply-add chains on every thread, enough to keep an SM's FMA units busy with one block:
  blocks share their SM's throughput, so a launch should take its busiest SM's count of blocks (the lower bound);
- ``copy``: each block copies the same bytes: DRAM's bandwidth is the whole GPU's, shared by every block running.

Writes ``OUT/partial-waves.json.gz`` (the PyTorch profiler's trace of every launch, ``reps`` a grid; a fixture of
``tests/analysis/test_partial_waves.py``) and ``OUT/partial-waves.json``: for each kernel, block size and grid, the
median kernel time (us), the waves and blocks an SM that bambaprof's occupancy model gives from the trace, the time the
grid's work would take at the whole waves' rate (from the launches of whole waves: ``time / waves`` at 1, 2 and 3
waves, their median), the measured loss (``1 - ideal / time``) and the two bounds. Prints a line a launch.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch
import triton
import triton.language as tl
from torch.profiler import profile

from bambaprof.analysis import load_trace
from bambaprof.analysis.occupancy import theoretical_occupancy
from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402

#: Grids, in waves of the kernel's own wave size.
WAVES = (0.5, 1.0, 1.05, 1.25, 1.5, 1.75, 2.0, 2.1, 2.5, 2.9, 3.0)
#: Threads a block (num_warps x 32) tried for each kernel.
WARPS = (8, 32)


@triton.jit
def chase(nxt, out, ITERS: tl.constexpr):
    """One dependent chain of ITERS loads a block, each address the value the last load read."""
    pid = tl.program_id(0)
    i = (pid * 97) % 4096
    for _ in range(ITERS):
        i = tl.load(nxt + i, cache_modifier=".cg")
    tl.store(out + pid, i)


@triton.jit
def fma(x, out, ITERS: tl.constexpr, BLOCK: tl.constexpr):
    """ITERS multiply-adds on each of BLOCK independent values a block (four a thread)."""
    offs = tl.arange(0, BLOCK)
    v = tl.load(x + offs)
    a = tl.load(x + BLOCK)
    b = tl.load(x + BLOCK + 1)
    for _ in range(ITERS):
        v = v * a + b
    tl.store(out + tl.program_id(0) * BLOCK + offs, v)


@triton.jit
def copy(src, dst, PER_BLOCK: tl.constexpr, BLOCK: tl.constexpr):
    """PER_BLOCK elements a block, BLOCK at a time."""
    base = tl.program_id(0).to(tl.int64) * PER_BLOCK
    for start in range(0, PER_BLOCK, BLOCK):
        offs = base + start + tl.arange(0, BLOCK)
        tl.store(dst + offs, tl.load(src + offs))


def launches(device: str, sms: int):
    """Each (kernel, warps, launch(grid)) with a wave's size to be read from the trace later."""
    g = torch.Generator().manual_seed(0)
    nxt = torch.randperm(4096, generator=g).to(torch.int32).to(device)
    out = torch.empty(1 << 24, dtype=torch.float32, device=device)
    outi = torch.empty(1 << 20, dtype=torch.int32, device=device)
    x = torch.rand(1 << 16, device=device) * 0.5 + 0.25
    x[:2] = 1.0  # nothing overflows
    per_block = 1 << 16  # 256 KB of float32 read and written a block
    src = torch.rand(per_block * 32 * sms, device=device)  # 3 waves of 8 blocks an SM at most
    dst = torch.empty_like(src)
    for warps in WARPS:
        block = 4 * 32 * warps
        yield "chase", warps, lambda n, w=warps: chase[(n,)](nxt, outi, ITERS=400, num_warps=w)
        yield "fma", warps, lambda n, w=warps, b=block: fma[(n,)](x, out, ITERS=4096 * 8 // w, BLOCK=b, num_warps=w)
        yield "copy", warps, lambda n, w=warps, b=block: copy[(n,)](src, dst, PER_BLOCK=per_block, BLOCK=b, num_warps=w)


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if args.device != "cuda":
        raise SystemExit("partial_wave_traces.py needs a CUDA GPU")
    args.out.mkdir(parents=True, exist_ok=True)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    cases = list(launches("cuda", sms))
    # a wave's size: one launch of each at one block an SM's worth, profiled, its blocks an SM from the trace
    probe = args.out / "probe.json.gz"
    with profile(activities=activities("cuda")) as prof:
        for _, _, launch in cases:
            launch(sms)
        torch.cuda.synchronize()
    export_trace(prof, probe)
    per_sm = _blocks_per_sm(probe)
    probe.unlink()
    grids = []
    for (name, warps, launch), bps in zip(cases, per_sm):
        wave = bps * sms
        grids += [(name, warps, launch, max(1, round(w * wave))) for w in WAVES]
    for _, _, launch, n in grids:  # compile and warm up every grid
        launch(n)
    torch.cuda.synchronize()
    path = args.out / "partial-waves.json.gz"
    with profile(activities=activities("cuda")) as prof:
        for _ in range(args.reps):
            for _, _, launch, n in grids:
                launch(n)
        torch.cuda.synchronize()
    export_trace(prof, path)
    written(path)
    rows = _rows(path, [(name, warps, n) for name, warps, _, n in grids], args.reps)
    for r in rows:
        print(f"{r['kernel']:5s} {r['warps']:2d} warps {r['blocks_per_sm']} an SM  grid {r['grid']:6d} "
              f"waves {r['waves']:.2f}  {r['time_us']:8.1f} us  ideal {r['ideal_us']:8.1f}  loss {r['loss_pct']:5.1f}% "
              f" bounds {r['least_pct']:5.1f}%..{r['most_pct']:5.1f}%")
    meta = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "triton": triton.__version__,
            "sms": sms, "reps": args.reps, "rows": rows}
    (args.out / "partial-waves.json").write_text(json.dumps(meta, indent=1))


def _blocks_per_sm(path: Path) -> list:
    """Blocks an SM of each kernel launch in the probe trace, in launch order, by bambaprof's occupancy model."""
    trace = load_trace(path)
    gpu = trace.gpu
    order = sorted((i for i in range(len(gpu)) if gpu.kind[i] == "kernel"), key=lambda i: gpu.ts[i])
    out = []
    for i in order:
        occ = theoretical_occupancy(trace.devices[int(gpu.device[i])], tuple(gpu.grid[i]), tuple(gpu.block[i]),
                                    int(gpu.registers[i]), int(gpu.shared_memory[i]))
        out.append(occ.blocks_per_sm)
    return out


def _rows(path: Path, grids: list, reps: int) -> list:
    """The measured loss against the two bounds for each (kernel, warps, grid), from the trace's launches in order."""
    trace = load_trace(path)
    gpu = trace.gpu
    order = sorted((i for i in range(len(gpu)) if gpu.kind[i] == "kernel"), key=lambda i: gpu.ts[i])
    assert len(order) == reps * len(grids), (len(order), reps * len(grids))
    times, occs = defaultdict(list), {}
    for j, i in enumerate(order):
        key = grids[j % len(grids)]
        times[key].append(float(gpu.dur[i]))
        occs[key] = theoretical_occupancy(trace.devices[int(gpu.device[i])], tuple(gpu.grid[i]), tuple(gpu.block[i]),
                                          int(gpu.registers[i]), int(gpu.shared_memory[i]))
    rows = []
    for name, warps in dict.fromkeys((k[0], k[1]) for k in grids):
        mine = [k for k in grids if k[:2] == (name, warps)]
        whole = [statistics.median(times[k]) / occs[k].waves_per_sm for k in mine
                 if abs(occs[k].waves_per_sm - round(occs[k].waves_per_sm)) < 1e-9 and occs[k].waves_per_sm >= 1]
        per_wave = statistics.median(whole)
        for k in mine:
            occ, t = occs[k], statistics.median(times[k])
            w, s = occ.waves_per_sm, occ.waves_per_sm * occ.blocks_per_sm
            ideal = w * per_wave
            rows.append({"kernel": name, "warps": warps, "grid": k[2], "blocks_per_sm": occ.blocks_per_sm,
                         "waves": w, "time_us": t, "ideal_us": ideal, "loss_pct": 100 * (1 - ideal / t),
                         "most_pct": 100 * (1 - w / math.ceil(w)) if w > 1 else None,
                         "least_pct": 100 * (1 - s / math.ceil(s)) if w > 1 else None})
    for r in rows:  # below one wave the rule says nothing: show the grid's own shortfall for reference
        if r["most_pct"] is None:
            r["most_pct"] = r["least_pct"] = float("nan")
    return rows


if __name__ == "__main__":
    main()
