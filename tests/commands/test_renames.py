"""One name per concept: renamed flags and the sweep group answer with the new form."""

import pytest

from bambaprof.cli import main


@pytest.mark.parametrize("argv,message", [
    (["profile", "--out", "x"], "--out was renamed --runs"),
    (["view", "--host", "127.0.0.1", "--no-browser"], "--host was renamed --bind"),
    (["sweep", "examples/sweeps/tiny-cpu.toml"], "`bambaprof sweep run examples/sweeps/tiny-cpu.toml`"),
])
def test_old_forms_are_usage_errors_naming_the_new_one(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["sweep", "run", "--help"], ["sweep", "status", "--help"], ["sweep", "--help"]])
def test_sweep_subcommands_have_help(capsys, argv):
    assert main(argv) == 0
    assert "Usage: bambaprof sweep" in capsys.readouterr().out


def test_the_own_model_example_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "record_own_model.py"
    done = subprocess.run([sys.executable, str(script), "--runs", str(tmp_path), "--steps", "5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "median step:" in done.stdout and (tmp_path / "tiny-mamba2-block.html").is_file()
