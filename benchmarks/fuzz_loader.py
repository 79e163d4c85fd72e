"""Fuzz the trace loader and analyzer: random mutations of real traces must give a result or one
:class:`~bambaprof.errors.BambaprofError`, never another exception (runs on the CPU).

Seeds: two real H200 traces, two real H100 traces recorded with one of the profiler's activities alone (CPU, CUDA),
a synthetic one with nn.Module calls and a backward pass, one of contractions computed elementwise (their
shapes and arguments mutated cell by cell too), one of attention calls by three backends, and one of compiled
calls with a graph break, and one of a cache grown by torch.cat. Mutations, seeded:
structural (an event's field replaced by a value of another type, a negative, huge,
non-finite or missing number, a nested or empty container; events duplicated, dropped or reordered) and
textual (bytes flipped, a slice deleted or repeated, the text truncated). Each mutant is written gzipped or
plain and analysed, then compared with the trace it came from, both ways, and set beside it as a second rank.

    python benchmarks/fuzz_loader.py [N] [SEED]     # default 20000 mutants, seed 0
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SEEDS = ["h200-models-trace.json.gz", "h200-validation-trace.json.gz", "activities/cpu.json.gz", "activities/cuda.json.gz",
         "attention/flex.json.gz"]

_ODD = [None, "", "x", "5", -1, -1e300, 1e300, 2**70, 0, True, [], {}, [1, 2], {"a": 1}, "NaN", 1.5, -0.0]


def _odd(rng: random.Random) -> Any:
    v = rng.choice(_ODD)
    return copy.deepcopy(v)


def mutate_structure(doc: Dict[str, Any], rng: random.Random) -> Dict[str, Any]:
    doc = copy.deepcopy(doc)
    events = doc.get("traceEvents", [])
    for _ in range(rng.randint(1, 4)):
        if not events:
            break
        choice = rng.random()
        ev = rng.choice(events)
        if choice < 0.45 and isinstance(ev, dict) and ev:
            key = rng.choice(list(ev))
            ev[key] = _odd(rng)
        elif choice < 0.7 and isinstance(ev, dict) and isinstance(ev.get("args"), dict) and ev["args"]:
            key = rng.choice(list(ev["args"]))
            if rng.random() < 0.2:
                del ev["args"][key]
            else:
                ev["args"][key] = _odd(rng)
        elif choice < 0.75 and isinstance(ev, dict) and isinstance(ev.get("args"), dict) \
                and isinstance(ev["args"].get("Input Dims"), list) and ev["args"]["Input Dims"]:
            _mutate_shape(ev["args"], rng)  # inside a shape or an argument: what shape models read
        elif choice < 0.8:
            events.insert(rng.randrange(len(events) + 1), copy.deepcopy(ev))
        elif choice < 0.9:
            events.pop(rng.randrange(len(events)))
        else:
            rng.shuffle(events)
    if rng.random() < 0.05:
        doc[rng.choice(["deviceProperties", "traceEvents", "distributedInfo", "schemaVersion"])] = _odd(rng)
    return doc


_ODD_DIMS = [-1, 0, 1, 2**40, 2**70, -2**63, 1.5, None, "8", True]


def _mutate_shape(args: Dict[str, Any], rng: random.Random) -> None:
    """One cell of a recorded shape, dtype or concrete argument set to an odd value, or a shape lengthened or cut."""
    dims = args["Input Dims"]
    k = rng.randrange(len(dims))
    choice = rng.random()
    if choice < 0.5 and isinstance(dims[k], list) and dims[k]:
        dims[k][rng.randrange(len(dims[k]))] = copy.deepcopy(rng.choice(_ODD_DIMS))
    elif choice < 0.65 and isinstance(dims[k], list):
        dims[k] = dims[k][:rng.randrange(len(dims[k]) + 1)] + [rng.choice([1, 3, 64])] * rng.randrange(3)
    elif choice < 0.8 and isinstance(args.get("Input type"), list) and args["Input type"]:
        types = args["Input type"]
        types[rng.randrange(len(types))] = rng.choice(["bool", "c10::Half", "double", "Scalar", "", "x", None])
    elif isinstance(args.get("Concrete Inputs"), list) and args["Concrete Inputs"]:
        concrete = args["Concrete Inputs"]
        concrete[rng.randrange(len(concrete))] = rng.choice(["[99]", "[-7, 0]", "[]", "[", "True", "1e400", "", None])


def mutate_text(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        choice = rng.random()
        i = rng.randrange(len(data))
        if choice < 0.4:
            data[i] = rng.randrange(256)
        elif choice < 0.6:
            del data[i:i + rng.randint(1, 64)]
        elif choice < 0.8:
            data[i:i] = data[i:i + rng.randint(1, 64)]
        else:
            del data[i:]
    return bytes(data)


def attempt(case: Callable[[], None], counts: Dict[str, int], unexpected: List[str]) -> None:
    """Run one mutant's ``case``: counted ``ok`` when it gives a result, ``refused`` when it raises one
    :class:`~bambaprof.errors.BambaprofError` (a one-line error), else its traceback kept in ``unexpected`` (the
    first five): what the fuzzers look for."""
    from bambaprof.errors import BambaprofError

    try:
        case()
        counts["ok"] += 1
    except BambaprofError:
        counts["refused"] += 1
    except Exception:  # noqa: BLE001 - what the fuzzer looks for
        if len(unexpected) < 5:
            unexpected.append(traceback.format_exc())


def run(n: int, seed: int, on_case: Callable[[int], None] = lambda i: None) -> Dict[str, Any]:
    """Analyse ``n`` mutants, and compare each one analysed with the analysis of the trace it came from, both ways
    (every table and warning of ``compare``, rendered and as JSON); returns counts and the first unexpected
    exceptions (with tracebacks)."""
    from bambaprof._json import json_safe
    from bambaprof.analysis import analyze
    from bambaprof.analysis.compare import Side, compare_sides
    from bambaprof.analysis.fleet import fleet_of, rank_row
    from bambaprof.commands.analyze import _render_fleet as render_fleet
    from bambaprof.render.text import render_analysis, render_comparison

    rng = random.Random(seed)
    seeds = [json.loads(gzip.decompress((DATA / s).read_bytes())) for s in SEEDS] + [_with_python_frames(),
                                                                                     _with_contractions(),
                                                                                     _with_attention(),
                                                                                     _with_compiled_calls(),
                                                                                     _with_growing_cats(),
                                                                                     _with_cuda_graphs(),
                                                                                     _with_grad_sync()]
    originals: Dict[int, Any] = {}
    counts = {"ok": 0, "refused": 0}
    compared = 0
    unexpected: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            on_case(i)
            which = rng.randrange(len(seeds))
            doc = seeds[which]
            text = json.dumps(mutate_structure(doc, rng)).encode()
            if rng.random() < 0.3:
                text = mutate_text(text, rng)
            gz = rng.random() < 0.5
            path = Path(tmp) / f"m{i % 8}.json{'.gz' if gz else ''}"
            path.write_bytes(gzip.compress(text, compresslevel=1) if gz else text)

            def case(path: Path = path, which: int = which, doc: Any = doc) -> None:  # this iteration's
                nonlocal compared
                a = analyze(path)
                render_analysis(a, a.kernels[:20], a.ops[:20])  # the table output's text, names and all
                json_safe(a.to_dict())
                if which not in originals:
                    original = Path(tmp) / f"seed{which}.json"
                    original.write_text(json.dumps(doc))
                    originals[which] = analyze(original)
                for base, cand in ((originals[which], a), (a, originals[which])):
                    comp = compare_sides(Side("baseline", ["a"], [base], [None]), Side("candidate", ["b"], [cand], [None]))
                    render_comparison(comp, 30)
                    json_safe(comp.to_dict() if hasattr(comp, "to_dict") else vars(comp))
                    compared += 1
                fleet = fleet_of([rank_row(originals[which], "a"), rank_row(a, "b")])  # the two as ranks of a job
                json_safe(fleet.to_dict())
                render_fleet(fleet, "table")

            attempt(case, counts, unexpected)
    return {"mutants": n, "seed": seed, "analysed": counts["ok"], "comparisons": compared,
            "refused_one_line": counts["refused"], "unexpected": unexpected}


def _with_python_frames() -> Dict[str, Any]:
    """The synthetic trace with nn.Module calls (``with_stack``) and a backward pass on another thread, so that
    mutations reach the module and autograd fields too."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.synth import base_trace
    from tests.analysis.test_modules import _with_backward, _with_modules

    return _with_backward(_with_modules(base_trace()))


def _with_attention() -> Dict[str, Any]:
    """A trace of attention calls (a fused one, one through the math fallback with its backward, one written by hand,
    a kernel found by name, and the flash-attn package's call with a sliding window), so that mutations reach the
    shapes, arguments, sequence numbers and nesting :mod:`bambaprof.analysis.attention` reads."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.test_attention import _flash_attn_package, gpu_attention_doc

    doc = gpu_attention_doc()
    package = _flash_attn_package(("128", "-1"))["traceEvents"]  # the flash-attn package's call, a window
    for event in package:  # after the others
        event["ts"] += 5000
    return {**doc, "traceEvents": doc["traceEvents"] + package}


def _with_compiled_calls() -> Dict[str, Any]:
    """A trace of compiled calls (one broken into two nested frames with eager ops between its graphs, one whole), so
    that mutations reach the regions, graph ranges and nesting :mod:`bambaprof.analysis.compiled_calls` reads."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.test_compiled_calls import gpu_compiled_doc

    return gpu_compiled_doc()


def _with_cuda_graphs() -> Dict[str, Any]:
    """Steps that record CUDA graphs (CUDA graph trees' ranges holding captures, and a capture by hand), so that
    mutations reach the ranges and runtime calls :mod:`bambaprof.analysis.cuda_graphs` pairs."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.test_cuda_graphs import _steps_doc

    return _steps_doc()


def _with_grad_sync() -> Dict[str, Any]:
    """DDP micro-batches reducing gradients in the backward, one optimizer step, so that mutations reach what
    :mod:`bambaprof.analysis.grad_sync` reads."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.test_grad_sync import _gpu_doc

    return _gpu_doc()


def _with_growing_cats() -> Dict[str, Any]:
    """A trace of a cache grown by torch.cat (tensor lists in its shapes), with CUDA's cat kernels, so that mutations
    reach what :mod:`bambaprof.analysis.growing_cats` reads."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.test_growing_cats import gpu_growing_doc

    return gpu_growing_doc()


def _with_contractions() -> Dict[str, Any]:
    """A trace of two contractions computed elementwise (``(a * b * c).mean(-1)`` and ``(x * y).sum()``) and of a
    cast and a layout copy (``.float()``, ``.contiguous()``) with their kernels, and of memory allocation calls (a
    driver call nested in the runtime's), a DataLoader fetch and a frame compiled in two profiled steps, so that
    mutations reach the shapes, arguments, calls and ranges :mod:`bambaprof.analysis.contractions`,
    :mod:`bambaprof.analysis.copies`, :mod:`bambaprof.analysis.allocations`, :mod:`bambaprof.analysis.data_loading`
    and :mod:`bambaprof.analysis.compilation` read."""
    sys.path.insert(0, str(DATA.parents[1]))
    from tests.analysis.synth import H200, _kernel, _op, _rt

    f = ["float", "float"]
    ops = [("aten::mul", 0, 5, [[8, 1, 16], [1, 8, 16]], f), ("aten::mul", 6, 5, [[8, 8, 16], [16]], f),
           ("aten::mean", 12, 5, [[8, 8, 16], [], [], []], ["float", "ScalarList", "Scalar", ""],
            ["", "[-1]", "False", ""]),
           ("aten::mul", 20, 5, [[32, 1], [1, 32]], f), ("aten::sum", 26, 5, [[32, 32], []], ["float", ""])]
    events = []
    for i, (name, ts, dur, dims, types, *concrete) in enumerate(ops):
        events.append(_op(name, ts, dur, i + 1, dims, types, **({"Concrete Inputs": concrete[0]} if concrete else {})))
        events += [_rt("cudaLaunchKernel", ts + 1, 1, 100 + i, i + 1), _kernel(f"k{i}", 100 + 10 * i, 8, 100 + i, i + 1)]
    for j, (callers, types) in enumerate(((("aten::to", "aten::_to_copy"), ["float", "c10::BFloat16", "Scalar"]),
                                          (("aten::contiguous", "aten::clone"), ["float", "float", "Scalar"]))):
        ts, ext = 40 + 20 * j, 10 + j
        events += [_op(name, ts + d, 12 - 2 * d, 50 + 2 * j + d) for d, name in enumerate(callers)]
        events += [_op("aten::copy_", ts + 2, 6, ext, [[4, 64], [4, 64], []], types),
                   _rt("cudaLaunchKernel", ts + 3, 1, 200 + j, ext), _kernel("direct_copy", 200 + 10 * j, 4, 200 + j, ext)]
    events += [_op("ProfilerStep#1", 0, 60, -1, cat="user_annotation"), _op("ProfilerStep#2", 60, 60, -1,
                                                                             cat="user_annotation"),
               _op("aten::empty_strided", 104, 20, 30), _rt("cudaMalloc", 105, 10, 300, 30),
               _rt("cuMemAlloc_v2", 106, 2, 301, 30), _rt("cudaFree", 126, 3, 302), _rt("cudaHostAlloc", 130, 2, 303),
               _op("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 131, 20, -1, cat="user_annotation"),
               _op("_compile.compile_inner (dynamo_timed)", 62, 30, -1, cat="user_annotation"),
               _op("GraphLowering.codegen (dynamo_timed)", 70, 10, -1, cat="user_annotation")]
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "traceEvents": events}


def main(argv) -> int:
    return command_line(argv, run, 20000)


def cli_exit_code(argv: List[str], unexpected: List[str]) -> int:
    """Run ``bambaprof ARGV`` in this process, its output discarded, and return its exit code (-1 for an
    exception); an exception, or an exit 1 whose error is not one line, is added to ``unexpected`` (at most 5 kept;
    shared by the fuzzers in this folder)."""
    from bambaprof.cli import main as bambaprof

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = bambaprof(argv)
    except Exception:  # noqa: BLE001 - what the fuzzers look for
        code = -1
        if len(unexpected) < 5:
            unexpected.append(traceback.format_exc())
    if code == 1 and len(err.getvalue().strip().splitlines()) != 1 and len(unexpected) < 5:
        unexpected.append(f"exit 1 without one line ({argv[0]}): {err.getvalue()[-500:]}")
    return code


def command_line(argv, fuzz: Callable[[int, int], Dict[str, Any]], default_n: int) -> int:
    """``script.py [N] [SEED]`` for a fuzzer's ``run(n, seed)``: its counts as JSON, its unexpected exceptions
    on stderr, exit 1 when there were any (shared by the fuzzers in this folder)."""
    n = int(argv[1]) if len(argv) > 1 else default_n
    seed = int(argv[2]) if len(argv) > 2 else 0
    t = time.perf_counter()
    result = fuzz(n, seed)
    result["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps({k: v for k, v in result.items() if k != "unexpected"}))
    for tb in result["unexpected"]:
        print(tb, file=sys.stderr)
    return 1 if result["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
