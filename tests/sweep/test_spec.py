"""Sweep specs are validated whole before anything runs: one line per problem, exit 2."""

import pytest

from bambaprof.cli import main
from bambaprof.sweep.spec import spec_problems

BAD = {
    "[matrix]\n": ["[matrix] is empty"],
    "[matrix]\nvariant = []\n": ["[matrix] variant is an empty list"],
    "model = 5\n": ["model must be a table"],
    "matrix = 5\n": ["matrix must be a table"],
    "[run]\ncompile_options = 5\n": ["compile_options must be a table"],
    '[model]\npreset = "nope"\n': ["preset 'nope' is unknown"],
    '[run]\nwarmup = "lots"\niters = 0\n': ["warmup = 'lots': expected `int`", "iters must be at least 1"],
    '[matrix]\ncompile = ["fast"]\nbatch = [0]\n': ["compile 'fast' is unknown", "batch values must be positive"],
    "[model]\nlayers = -1\nattention = 3\n": ["layers must be a positive integer", "attention must be true or false"],
    "[run]\nsample_interval_ms = 0\n": ["sample_interval_ms must be positive"],
    # the bounds of a run's counts are the API's and profile's (warm-up 0 was accepted, then run as 1)
    "[run]\nwarmup = 0\nseed = -1\n": ["warmup must be at least 1, not 0", "seed must be at least 0, not -1"],
    "[run]\ngpm_interval_ms = nan\ntelemetry_window_ms = inf\n": [  # TOML writes nan and inf
        "gpm_interval_ms must be positive and finite, not nan", "telemetry_window_ms must be finite and not negative"],
    # a [run] key that the matrix, the model or the command sets once went to RunConfig twice (a TypeError)
    '[run]\ndevice = "cuda"\nlayers = 2\nprompt_ids = [1]\nseq_len = 64\n': [
        "[run] cannot set device: it goes in the command's --device", "[run] cannot set layers: it goes in [model]",
        "[run] cannot set prompt_ids: it goes in [matrix] prompts", "[run] cannot set seq_len: it goes in [matrix]"],
}


@pytest.mark.parametrize("text", sorted(BAD))
def test_every_problem_is_one_line_and_nothing_runs(tmp_path, capsys, text):
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    assert main(["sweep", "run", str(spec), "--root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == len(BAD[text])
    for expected, line in zip(BAD[text], lines):
        assert expected in line
    assert not (tmp_path / "root").exists()


def test_a_valid_spec_has_no_problems():
    spec = {"model": {"preset": "tiny", "layers": 2, "attention": False, "dtype": "float32"},
            "matrix": {"variant": ["default"], "compile": "none", "workload": ["mixer"], "seq_len": [32]},
            "run": {"warmup": 1, "iters": 3, "sample_interval_ms": 20, "compile_options": {}}}
    assert spec_problems(spec, from_file=True) == []
    assert spec_problems({"matrix": {}}) == []  # flags without matrix values: the defaults

