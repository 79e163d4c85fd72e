"""The loader and analyzer under random mutations of real traces: a result or one clean error, never another
exception (benchmarks/fuzz_loader.py; a longer run of it is in benchmarks/results/fuzz-loader.json)."""

import importlib.util
from pathlib import Path


def _fuzzer():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_loader.py"
    spec = importlib.util.spec_from_file_location("fuzz_loader", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutated_traces_never_raise_anything_but_one_line_errors():
    result = _fuzzer().run(600, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    # the mutations are not all fatal: both outcomes are exercised
    assert result["analysed"] > 100 and result["refused_one_line"] > 50
