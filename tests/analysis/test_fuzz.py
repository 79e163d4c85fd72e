"""The readers and analyzer under random mutations of real inputs: a result or one clean error, never another
exception (benchmarks/fuzz_loader.py for Kineto traces, benchmarks/fuzz_csv.py for Nsight Compute CSVs and
rocprofv3 run folders; longer runs of each are in benchmarks/results/fuzz-*.json)."""

from tests.scripts import load_script as _fuzzer


def test_mutated_traces_never_raise_anything_but_one_line_errors():
    result = _fuzzer("fuzz_loader").run(600, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    # the mutations are not all fatal: both outcomes are exercised
    assert result["analysed"] > 100 and result["refused_one_line"] > 50
    assert result["comparisons"] == 2 * result["analysed"]  # each one analysed is compared both ways


def test_mutated_csv_inputs_never_raise_anything_but_one_line_errors():
    result = _fuzzer("fuzz_csv").run(200, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    for kind in ("ncu", "rocprof"):  # both kinds of input, and both outcomes, are exercised
        assert result["exit_codes"][kind].get("0", 0) > 20 and result["exit_codes"][kind].get("1", 0) > 5


def test_mutated_rocprofv3_json_never_raises_anything_but_one_line_errors():
    result = _fuzzer("fuzz_rocprof_json").run(300, seed=0)
    assert result["unexpected"] == [], result["unexpected"][0]
    assert result["analysed"] > 100 and result["refused_one_line"] > 20
