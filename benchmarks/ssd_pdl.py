"""Programmatic dependent launch of the chunk scan after _chunk_prep, off against on, side by side.

The SSD forward of the `triton` variant is two kernels; with PDL (BAMBAPROF_SSD_PDL, on by default on sm_90+)
the scan is launched while the prep kernel runs and waits for it on the GPU (griddepcontrol.wait), so its
launch latency overlaps the prep. Summed kernel durations cannot show that (the scan's duration then includes
its wait), so this times the forward's GPU time without the host: CALLS forwards captured in one CUDA graph,
replayed, timed with CUDA events (us a forward, median of ROUNDS, off and on interleaved), and the span from
the prep's start to the scan's end in a profiler trace of the graph (median over its forwards). Outputs of the
two modes are compared bit for bit first.

    git apply benchmarks/forms/ssd-pdl.patch   # PDL is not in the committed kernels: it lost
    python3 benchmarks/ssd_pdl.py -o benchmarks/results/h200-ssd-pdl.json
"""

import argparse
import json
import os
import statistics
import sys

import torch

from bambaprof._env import environment
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd

SHAPES = [(1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192)]
CALLS, ROUNDS = 20, 7


def set_pdl(on: bool) -> None:
    os.environ["BAMBAPROF_SSD_PDL"] = "1" if on else "0"
    ssd._pdl.cache_clear()


def graph_of(core, inp, Q):
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
    for _ in range(3):
        core(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], Q, **kw)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(CALLS):
            y = core(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], Q, **kw)
    return g, y


def replay_us(g) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    g.replay()
    start.record()
    g.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / CALLS


def spans_us(g) -> float:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        g.replay()
        torch.cuda.synchronize()
    ks = sorted((e.time_range.start, e.time_range.end, e.name) for e in prof.events()
                if e.device_type == torch.autograd.DeviceType.CUDA and "_chunk_" in e.name)
    spans, start = [], None
    for s, e, name in ks:
        if "_chunk_prep" in name:
            start = s
        elif start is not None:
            spans.append(e - start)
            start = None
    return statistics.median(spans) if spans else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    core = get_variant("triton")
    rows = []
    for b, L in SHAPES:
        sh = Shape(b, L, 128, 64, 1, 128, 256)
        inp = make_inputs(sh, torch.bfloat16, "cuda", seed=0, initial_state=False)
        graphs, outs = {}, {}
        for on in (False, True):
            set_pdl(on)
            graphs[on], y = graph_of(core, inp, sh.chunk_size)
            graphs[on].replay()
            torch.cuda.synchronize()
            outs[on] = (y[0] if isinstance(y, tuple) else y).clone()
        same = bool(torch.equal(outs[False], outs[True]))
        times = {False: [], True: []}
        for _ in range(ROUNDS):
            for on in (False, True):
                times[on].append(replay_us(graphs[on]))
        span = {on: spans_us(graphs[on]) for on in (False, True)}
        off_us, on_us = statistics.median(times[False]), statistics.median(times[True])
        row = dict(shape=f"{b}x{L}", bitwise_equal=same, graph_us_off=off_us, graph_us_on=on_us,
                   ratio=on_us / off_us, span_us_off=span[False], span_us_on=span[True],
                   rounds_off=times[False], rounds_on=times[True])
        rows.append(row)
        print(f"{b}x{L}: equal={same} graph us/forward off {off_us:.2f} on {on_us:.2f} ({on_us / off_us:.3f}x); "
              f"prep-start to scan-end us off {span[False]:.2f} on {span[True]:.2f}", flush=True)
        del graphs
    doc = {"about": __doc__.strip().splitlines()[0], "environment": environment("cuda"), "calls_per_graph": CALLS,
           "rounds": ROUNDS, "shape": "h=128 p=64 n=128 g=1 chunk 256, bf16", "rows": rows}
    text = json.dumps(doc, indent=1)
    if args.output:
        open(args.output, "w").write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
