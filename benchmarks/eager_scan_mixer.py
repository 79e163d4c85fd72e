"""Which chunk scan an eager forward should run at small shapes: the Triton scan or a Gluon form (GPU machine,
Hopper).

``ssd.auto_scan`` runs the Triton scan eagerly below ``ssd.EAGER_GLUON_PROGRAMS`` scan programs where the launch
shortcut keeps no whole forwards (with them, the Gluon scan at every size), because timed
alone, with a synchronisation after every call, the SSD core's wall time was shorter with it there (the Gluon
launch's host work is longer). A model does not synchronise after each core: the host enqueues the mixer's
projections, conv, core and norm ahead of the GPU, and where it stays ahead, what the core costs the forward is its
GPU time. This times both, side by side in interleaved rounds, for each scan named:

- ``core``: the SSD core alone (``ssd_forward``), wall median (ms) with a synchronisation around each call, and its
  GPU kernel time (profiler);
- ``mixer``: one Bamba-9B ``triton`` mixer (hidden 4096, 128 heads of 64, state 128, chunk 256, bf16), its
  ``do_bench`` median (ms: CUDA events, so it includes any time the GPU waits for the host) and kernel time;
- ``mixers4``: four such mixers called one after another with one synchronisation at the end, as the layers of a
  model run, wall median (ms) a forward of the four.

    python benchmarks/eager_scan_mixer.py [--shape 1x512 ...] [--scan triton --scan gluon_slim] [-o out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import statistics
import sys
from typing import Any, Callable, Dict, List

import torch
import triton

from bambaprof.bench.ssd import kernel_time, median_ms
from bambaprof.model import build_mixer
from bambaprof.model.config import BambaConfig
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd

sys.path.insert(0, ".")
from host_time_mixer import write_result  # noqa: E402
from scan_launch_host import core, wall_us  # noqa: E402  (benchmarks/ is this script's folder)


def layers(mixers: List[Any], hidden: torch.Tensor) -> torch.Tensor:
    """The mixers called one after another on ``hidden``, as a model's layers run (no synchronisation)."""
    for mixer in mixers:
        hidden = mixer(hidden)
    return hidden


def measure(kind: str, fn: Callable[[], Any]) -> Dict[str, float]:
    """One round's figures of ``fn``: ``wall_ms`` (synchronised, or ``do_bench`` for a mixer) and ``kernel_ms``."""
    with torch.no_grad():
        wall = median_ms(fn, "cuda", rep_ms=100) if kind == "mixer" else wall_us(fn, reps=30) / 1e3
        return {"wall_ms": wall, "kernel_ms": kernel_time(fn, calls=5, batches=3).ms}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", action="append", default=None, help="b x L (default: 1x512 1x2048 1x8192)")
    parser.add_argument("--scan", action="append", default=None, help="triton or a Gluon form (default: triton, "
                        "gluon_slim, gluon_late)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    shapes = args.shape or ["1x512", "1x2048", "1x8192"]
    scans = args.scan or ["triton", "gluon_slim", "gluon_late"]
    cfg = dataclasses.replace(BambaConfig(), num_hidden_layers=1, attn_layer_indices=(), dtype="bfloat16")
    mixers = [build_mixer(cfg, "triton", seed=i, device="cuda") for i in range(4)]
    result: Dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "triton": triton.__version__,
        "what": "eager forwards of the triton variant with each chunk scan: the SSD core alone (synchronised), one "
                "Bamba-9B mixer (do_bench, CUDA events), four mixers back to back (one synchronisation); medians "
                f"over {args.rounds} interleaved rounds", "shapes": {}}
    for spec in shapes:
        b, L = (int(v) for v in spec.lower().split("x"))
        inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=False)
        hidden = torch.randn(b, L, cfg.hidden_size, device="cuda", dtype=torch.bfloat16)

        kinds = {"core": core(inp), "mixer": functools.partial(mixers[0], hidden),
                 "mixers4": functools.partial(layers, mixers, hidden)}
        samples: Dict[str, Dict[str, Dict[str, List[float]]]] = {
            s: {k: {"wall_ms": [], "kernel_ms": []} for k in kinds} for s in scans}
        for r in range(args.rounds):
            for scan in (scans if r % 2 == 0 else scans[::-1]):
                ssd.scan_override = scan
                for kind, fn in kinds.items():
                    for key, value in measure(kind, fn).items():
                        samples[scan][kind][key].append(value)
        ssd.scan_override = None
        row = {s: {k: {key: round(statistics.median(v), 4) for key, v in fig.items()} for k, fig in per.items()}
               for s, per in samples.items()}
        result["shapes"][spec] = row
        for scan in scans:
            print(f"{spec} {scan:11s} " + "  ".join(
                f"{kind}: wall {row[scan][kind]['wall_ms']:.4f} kernel {row[scan][kind]['kernel_ms']:.4f}"
                for kind in kinds), flush=True)
    return write_result(args.output, result)


if __name__ == "__main__":
    sys.exit(main())
