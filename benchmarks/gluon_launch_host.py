"""The Gluon chunk scan's host time a forward, and where it goes (GPU machine, Hopper, Triton 3.5 or 3.6).

The Gluon scan passes four host-side TMA descriptors. Triton's launcher encodes each one's ``CUtensorMap`` at every
launch (``fill_tma_descriptor``, in a Python wrapper around its C function); the launch shortcut's raw launch
(``launch.DescriptorParams``) expands the descriptors itself and keeps each encoding while the descriptor's
address, shape and strides repeat. This times, for the eager SSD core of one Bamba-9B mixer (bf16, h=128 p=64
n=128 g=1, chunk 256) at each shape, in interleaved rounds:

- ``host_us``: host time a forward (200 forwards enqueued back to back, / 200; the median of 5 repeats) and
  ``wall_us`` (the median of 50 forwards, each with a synchronisation before and after), for the Triton scan and
  each Gluon form named, the Gluon forms twice: with the encodings kept (``kept``) and with every launch encoding
  its descriptors again (``encoded``: ``launch.MAX_TENSOR_MAPS`` set to 0, which empties the cache at each launch,
  as Triton's wrapper encodes at each launch);
- whether every condition's outputs equal the shortcut-off ones bit for bit;
- the parts, once: a descriptor's encoding (Triton's ``make_tensordesc_arg``), the expansion of the four when kept,
  ``chunk_scan``'s own Python (a ``wrap`` that launches nothing), and the three ``as_strided`` views the scan made
  before its descriptors read x, B and C themselves.

    python benchmarks/gluon_launch_host.py [--shape 1x512 ...] [--scan gluon_late ...] [-o out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import torch
import triton

sys.path.insert(0, "benchmarks")
from host_time_mixer import host_us, launch_shortcut, write_result  # noqa: E402
from scan_launch_host import core, wall_us  # noqa: E402

from bambaprof.ssm.check import Shape, make_inputs  # noqa: E402
from bambaprof.ssm.kernels import launch, ssd, ssd_sm90, ssd_sm90_slim  # noqa: E402


def per_call_us(fn: Callable[[], Any], calls: int = 2000) -> float:
    """Host time (us) a call of ``fn`` (no GPU work), the median of 5 repeats of ``calls`` calls."""
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls * 1e6)
    return statistics.median(out)


def parts(inp: Dict[str, Any], form: str) -> Dict[str, float]:
    """Host us of the pieces of the Gluon launch of ``form`` on ``inp`` (see the module docstring)."""
    ssd.scan_override = form
    fn = core(inp)
    fn()
    fn()  # the second launch is a kept one: its raw launcher exists now
    wrapped = launch.wrapper_of(ssd_sm90_slim._chunk_scan_sm90_slim if ssd_sm90.FORMS[form].get("slim")
                                else ssd_sm90._chunk_scan_sm90)
    raws = [raw for _, _, raw in getattr(wrapped, "_kept", {}).values() if raw is not None]
    out: Dict[str, float] = {}
    x, B, C = inp["x"], inp["B"], inp["C"]
    out["three_views_us"] = per_call_us(lambda: [t.as_strided(*ssd_sm90._flat_rows(t)) for t in (x, B, C)])
    out["three_flat_rows_us"] = per_call_us(lambda: [ssd_sm90._flat_rows(t) for t in (x, B, C)])
    if raws and raws[0].descriptors is not None:
        expansion = raws[0].descriptors
        recorded: List[Any] = []

        class Recorder:  # a launch that keeps its arguments and launches nothing
            def __getitem__(self, grid: Any) -> Callable[..., None]:
                return lambda *a, **k: recorded.append((a, k))

        recorder = Recorder()

        def record(kernel: Any) -> Recorder:
            return recorder

        b, L, H, P = x.shape
        Q = 256
        nch = -(-L // Q)
        buffers = dict(dtp=torch.empty(b, H, nch, Q, device="cuda"), cs=torch.empty(b, H, nch, Q, device="cuda"),
                       cb=torch.empty(b, nch, 1, Q, Q, device="cuda", dtype=torch.bfloat16),
                       ring=torch.empty(b * H, 2, 128, 64, device="cuda"),
                       flags=torch.empty(b * H, device="cuda", dtype=torch.int32),
                       ticket=torch.empty(1, device="cuda", dtype=torch.int32), y=torch.empty_like(x),
                       final=torch.empty(b, H, P, 128, device="cuda"))

        def python_only():
            ssd_sm90.chunk_scan(x, B, C, buffers["dtp"], buffers["cs"], buffers["cb"], inp["D"], None,
                                buffers["ring"], buffers["flags"], buffers["ticket"], buffers["y"], buffers["final"],
                                Q, 1, False, record, **ssd_sm90.FORMS[form])

        out["chunk_scan_python_us"] = per_call_us(python_only)
        launch_args, launch_kwargs = recorded[-1]
        out["launch_key_us"] = per_call_us(lambda: launch._key(launch_args, launch_kwargs))
        params = list(launch_args)  # the four descriptors first, then the launch's other positional arguments
        descriptor, meta = params[0], expansion.metas[0]
        out["encode_one_descriptor_us"] = per_call_us(lambda: expansion.make(descriptor, meta))
        expansion(params)
        out["expand_four_kept_us"] = per_call_us(lambda: expansion(params))
    ssd.scan_override = None
    return {k: round(v, 2) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", action="append", default=None, help="b x L (default: 1x512 1x2048)")
    parser.add_argument("--scan", action="append", default=None, help="Gluon forms (default gluon_late gluon_slim)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    forms = args.scan or ["gluon_late", "gluon_slim"]
    conditions = ["triton"] + [f"{f} {how}" for f in forms for how in ("kept", "encoded")]
    result: Dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "triton": triton.__version__,
        "what": "SSD core (ssd_forward), Bamba-9B mixer shapes h=128 p=64 n=128 g=1 chunk 256, bf16, shortcut on",
        "conditions": conditions, "shapes": {}}
    kept_maps = launch.MAX_TENSOR_MAPS
    for spec in args.shape or ["1x512", "1x2048"]:
        b, L = (int(v) for v in spec.lower().split("x"))
        inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=False)
        samples: Dict[str, Dict[str, List[float]]] = {c: {"host_us": [], "wall_us": []} for c in conditions}
        reference: Dict[str, Any] = {}
        equal: Dict[str, bool] = {}
        for r in range(args.rounds):
            for condition in (conditions if r % 2 == 0 else conditions[::-1]):
                scan, _, how = condition.partition(" ")
                ssd.scan_override = scan
                launch.MAX_TENSOR_MAPS = 0 if how == "encoded" else kept_maps
                fn = core(inp)
                if scan not in reference:
                    with launch_shortcut("off"):
                        reference[scan] = [t.clone() for t in fn()]
                with launch_shortcut("on"):
                    for _ in range(3):
                        got = fn()
                    equal[condition] = all(torch.equal(a, b) for a, b in zip(got, reference[scan]))
                    samples[condition]["host_us"].append(host_us(fn))
                    samples[condition]["wall_us"].append(wall_us(fn))
        launch.MAX_TENSOR_MAPS = kept_maps
        ssd.scan_override = None
        row: Dict[str, Any] = {c: {k: round(statistics.median(v), 1) for k, v in samples[c].items()}
                               for c in conditions}
        for c in conditions:
            row[c]["bitwise_equal_to_shortcut_off"] = equal[c]
        with launch_shortcut("on"):
            row["parts"] = {form: parts(inp, form) for form in forms}
        result["shapes"][spec] = row
        for c in conditions:
            print(f"{spec} {c:20s} host {row[c]['host_us']:7.1f} us  wall {row[c]['wall_us']:7.1f} us  "
                  f"equal {row[c]['bitwise_equal_to_shortcut_off']}", flush=True)
        print(f"{spec} parts {json.dumps(row['parts'])}", flush=True)
    return write_result(args.output, result)


if __name__ == "__main__":
    sys.exit(main())
