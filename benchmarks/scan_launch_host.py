"""The eager SSD core's host cost with the Triton chunk scan and the Gluon one, in each mode of the launch
shortcut (GPU machine, Hopper).

The Gluon scan (``ssd_sm90``) passes four TMA descriptors; until the launch shortcut keyed such launches, each
went through Triton's ``JITFunction.run``, and the eager forward took about 100 us more host time than with
``_chunk_scan`` (``h200-ssd-gluon-staged.json``: 198 against 91 us a forward at 1 x 512). For the core of one
Bamba-9B mixer (bf16, h=128 p=64 n=128 g=1, chunk 256) at each shape, for each scan (``triton``, and each Gluon
form named) and each mode of the shortcut (off / kept / keyed / on, scans and modes interleaved in each of three
rounds), this prints and writes:

- ``host_us``: host time per forward, 200 forwards enqueued back to back without a sync, / 200 (the median of
  5 repeats); where the GPU is the slower, this is the GPU's time instead (compare with ``kernel_us``);
- ``wall_us``: the median of 50 forwards each timed with a synchronisation before and after;
- ``kernel_us`` (per scan): GPU kernel time per forward (profiler), and whether the outputs of every mode equal
  the shortcut-off ones bit for bit.

    python benchmarks/scan_launch_host.py [--shape 1x512 ...] [--scan triton --scan gluon_async] [-o out.json]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import torch
import triton

sys.path.insert(0, ".")
from host_time_mixer import MODES, host_us, launch_shortcut, write_result  # noqa: E402  (benchmarks/ is this script's folder)

from bambaprof.ssm.check import Shape, make_inputs  # noqa: E402
from bambaprof.ssm.kernels import ssd  # noqa: E402


def wall_us(fn: Callable[[], Any], reps: int = 50) -> float:
    """Median wall time (us) of ``fn`` with a synchronisation before and after each call."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append((time.perf_counter() - t) * 1e6)
    return statistics.median(out)


def kernel_us(fn: Callable[[], Any], reps: int = 20) -> float:
    """GPU kernel time (us) per call of ``fn`` (PyTorch profiler, ``reps`` calls)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    return sum(e.self_device_time_total for e in prof.key_averages() if e.device_type.name == "CUDA") / reps


def core(inp: Dict[str, Any]) -> Callable[[], Any]:
    """One forward of the ``triton`` variant's SSD core on ``inp`` (Bamba's softplus on dt)."""
    return lambda: ssd.ssd_forward(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 256, D=inp["D"],
                                   dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", action="append", default=None, help="b x L (default: four target shapes)")
    parser.add_argument("--scan", action="append", default=None, help="triton or a Gluon form (default both)")
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    shapes = args.shape or ["1x512", "1x2048", "1x8192", "8x2048"]
    scans = args.scan or ["triton", "gluon_async"]
    result: Dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "triton": triton.__version__,
        "what": "SSD core (ssd_forward), Bamba-9B mixer shapes h=128 p=64 n=128 g=1 chunk 256, bf16",
        "modes": list(MODES), "shapes": {}}
    for spec in shapes:
        b, L = (int(v) for v in spec.lower().split("x"))
        inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=False)
        row: Dict[str, Any] = {}
        fn = core(inp)
        samples: Dict[str, Dict[str, Dict[str, List[float]]]] = {
            scan: {m: {"host_us": [], "wall_us": []} for m in MODES} for scan in scans}
        outputs: Dict[str, Dict[str, Any]] = {scan: {} for scan in scans}
        for r in range(3):  # scans and modes interleaved, so that a host's drift falls on all of them alike
            for scan in (scans if r % 2 == 0 else scans[::-1]):
                ssd.scan_override = scan
                for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                    with launch_shortcut(mode):
                        outputs[scan][mode] = [t.clone() for t in fn()]
                        samples[scan][mode]["host_us"].append(host_us(fn))
                        samples[scan][mode]["wall_us"].append(wall_us(fn))
        for scan in scans:
            ssd.scan_override = scan
            same = all(torch.equal(a, b) for mode in MODES
                       for a, b in zip(outputs[scan][mode], outputs[scan]["off"]))
            row[scan] = {"kernel_us": round(kernel_us(fn), 1), "bitwise_equal_across_modes": same,
                         **{m: {k: round(statistics.median(v), 1) for k, v in samples[scan][m].items()}
                            for m in MODES}}
            print(f"{spec} {scan:12s} kernel {row[scan]['kernel_us']:8.1f} us  equal {same}  " + "  ".join(
                f"{m}: host {row[scan][m]['host_us']:6.1f} wall {row[scan][m]['wall_us']:7.1f}" for m in MODES),
                flush=True)
        ssd.scan_override = None
        result["shapes"][spec] = row
    return write_result(args.output, result)


if __name__ == "__main__":
    sys.exit(main())
