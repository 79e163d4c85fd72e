"""Memory checks before allocating (:mod:`bambaprof._memory`) and allocation failures told from bugs: sizes past
the machine's memory give a row or a one-line error in ``check``, ``bench ssd`` and ``accuracy``, never a traceback."""

import pytest
import torch

from bambaprof import _memory
from bambaprof._memory import TooLarge, gigabytes, is_out_of_memory, require_bytes
from bambaprof.cli import main
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, check_variants, input_bytes, make_inputs

#: One petabyte: past any machine this runs on.
PETABYTE = 10 ** 15


def test_torch_allocation_failures_are_told_from_other_errors():
    with pytest.raises(Exception) as too_big:  # the CPU allocator's RuntimeError
        torch.empty(PETABYTE, dtype=torch.uint8)
    assert is_out_of_memory(too_big.value)
    with pytest.raises(Exception) as past_64_bits:  # fails while the sizes are unpacked
        torch.empty(10 ** 20, dtype=torch.uint8)
    assert is_out_of_memory(past_64_bits.value)
    with pytest.raises(RuntimeError) as mismatch:
        torch.ones(2, 3) @ torch.ones(2, 3)
    assert not is_out_of_memory(mismatch.value)
    assert is_out_of_memory(MemoryError()) and not is_out_of_memory(KeyError("out of memory"))


def test_require_bytes_refuses_only_what_cannot_fit(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda device: 2_000_000_000)
    require_bytes(2_000_000_000, "cpu", "x")
    with pytest.raises(TooLarge, match=r"^inputs need at least 2\.5 GB and cpu has 2\.0 GB available$"):
        require_bytes(2_500_000_000, "cpu", "inputs")
    monkeypatch.setattr(_memory, "available_bytes", lambda device: None)  # unknown: let the allocator decide
    require_bytes(10 ** 30, "cpu", "x")
    assert gigabytes(582_400 * 10 ** 9) == "582,400.0 GB" and gigabytes(10 ** 30) == "1e+21 GB"


def test_input_bytes_counts_what_make_inputs_allocates():
    shape = Shape(2, 37, 4, 8, 2, 16, 16)
    for dtype in (torch.float32, torch.bfloat16):
        for initial in (False, True):
            inputs = make_inputs(shape, dtype, "cpu", seed=0, initial_state=initial)
            held = sum(t.numel() * t.element_size() for t in inputs.values() if t is not None)
            assert input_bytes(shape, dtype, initial) == held


def test_chunks_are_exact_at_any_length():
    assert Shape(1, 10 ** 23, 1, 1, 1, 1, 16).chunks == 6_250_000_000_000_000_000_000
    assert [Shape(1, L, 1, 1, 1, 1, 16).chunks for L in (1, 16, 17)] == [1, 1, 2]


def test_check_reports_a_shape_too_large_on_every_row():
    huge = Shape(2, 10 ** 13, 8, 16, 1, 16, 64)
    rows = check_variants([get_variant("default"), get_variant("independent")],
                          [huge, Shape(1, 40, 2, 4, 1, 8, 16)])
    assert [r.status.split(" (")[0] for r in rows[:2]] == ["error: out of memory"] * 2
    assert "need at least" in rows[0].status and rows[0].chunks == huge.chunks
    assert [r.status for r in rows[2:]] == ["pass", "reported"]  # the next shape still runs


def test_bench_reports_a_shape_too_large_as_out_of_memory():
    from bambaprof.bench.ssd import bench_ssd

    rows = bench_ssd({"default": get_variant("default").forward}, [Shape(1, 10 ** 20, 8, 16, 1, 16, 64)],
                     torch.float32, "cpu", rep_ms=1, rounds=1)
    assert [r.status for r in rows] == ["out of memory (inputs)"]


@pytest.mark.parametrize("argv, code, start", [
    (["bench", "ssd", "--groups", "0"], 2, "Invalid value for '--groups': 0 is not in the range x>=1"),
    (["bench", "ssd", "--heads", "0"], 2, "Invalid value for '--heads'"),
    (["bench", "ssd", "--head-dim", "-1"], 2, "Invalid value for '--head-dim'"),
    (["accuracy", "--variant", "default", "--seq-len", str(10 ** 22)], 1, "the model and 1 x "),
    (["check", "--variant", "default", "--seq-len", str(10 ** 22)], 1, "1 check(s) failed or errored"),
])
def test_sizes_past_memory_end_in_one_line(argv, code, start, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith(f"bambaprof: error: {start}") and len(err.strip().splitlines()) == 1, err


def test_prompt_token_ids_outside_the_vocabulary_are_refused(tmp_path, capsys):
    prompts = tmp_path / "p.json"
    prompts.write_text('{"prompts": [{"name": "a", "token_ids": [1, 2, 100000]}]}')
    assert main(["accuracy", "--variant", "default", "--prompts", str(prompts)]) == 2
    assert "token ids outside the vocabulary (0 to 255)" in capsys.readouterr().err


def test_an_allocation_failure_anywhere_is_one_line(monkeypatch, tmp_path, capsys):
    from bambaprof.commands import analyze as command
    from tests.analysis.synth import base_trace, write

    def allocator_fails(*args, **kwargs):
        torch.empty(PETABYTE, dtype=torch.uint8)

    monkeypatch.setattr(command, "analyze", allocator_fails)
    assert main(["analyze", str(write(tmp_path / "t.json.gz", base_trace()))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bambaprof: error: out of memory: ") and len(err.strip().splitlines()) == 1

    def a_bug(*args, **kwargs):
        raise RuntimeError("a bug, not an allocation")

    monkeypatch.setattr(command, "analyze", a_bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["analyze", str(write(tmp_path / "t.json.gz", base_trace()))])
