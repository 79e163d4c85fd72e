"""``bambaprof profile`` on the CPU."""

import json

import pytest

from bambaprof.cli import main
from bambaprof.run import iter_run_dirs, read_manifest

FAST = ["--warmup", "1", "--iters", "2", "--profile-warmup", "0", "--profile-active", "1", "--seq-len", "32"]


def test_matrix_with_summary(tmp_path, capsys):
    code = main(["profile", "--variant", "default", "--variant", "independent", "--workload", "mixer",
                 "--workload", "generate", "--new-tokens", "3", "--runs", str(tmp_path), "--format", "json", *FAST])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [(r["workload"], r["variant"]) for r in rows] == [
        ("mixer", "default"), ("mixer", "independent"), ("generate", "default"), ("generate", "independent")]
    assert all(r["status"] == "ok" for r in rows) and rows[0]["vs_baseline"] == 1.0
    assert "note: telemetry unavailable: the run is on the CPU" in err
    # library noise (Kineto's session lines, the allocator's warning) went to the runs' logs, not here
    assert "USDT" not in err and "profiler_st" not in err and "CPUAllocator" not in err
    assert f"runs in {tmp_path}/" in err and "bambaprof analyze " in err and "[4/4] independent generate" in err
    dirs = list(iter_run_dirs(tmp_path))
    assert len(dirs) == 4 and all(read_manifest(d).status == "ok" for d in dirs)
    code = main(["profile", "--variant", "default", "--variant", "independent", "--workload", "mixer",
                 "--workload", "generate", "--new-tokens", "3", "--runs", str(tmp_path), "--format", "json",
                 "--resume", *FAST])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0 and {r["status"] for r in rows} == {"skipped (done)"}


def test_prompts_file(tmp_path, capsys):
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"prompts": [{"name": "a", "tokens": 20}, {"name": "b", "token_ids": [1, 2, 3]}]}))
    code = main(["profile", "--variant", "default", "--workload", "prefill", "--prompts", str(prompts),
                 "--runs", str(tmp_path / "runs"), "--format", "json", "--warmup", "1", "--iters", "2"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0 and [r["seq_len"] for r in rows] == [20, 3]


@pytest.mark.parametrize("argv,message", [
    (["--variant", "nope"], "unknown variant 'nope'"),
    (["--iters", "0"], "--iters must be at least 1"),
    (["--batch", "0"], "--batch must be positive"),
    (["--compile-option", "oops"], "--compile-option must look like key=value"),
    (["--compile", "default", "--compile-option", "epilog_fusion=True"],
     "unknown inductor option 'epilog_fusion' (did you mean epilogue_fusion"),
    (["--prompts", "/no/such/file.json"], "cannot read"),
    (["--layers", "-2"], "--layers must be positive"),
    (["--compile", "fastest"], "Invalid value for '--compile'"),
])
def test_usage_errors(tmp_path, capsys, argv, message):
    code = main(["profile", "--runs", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_all_failed_exits_1(tmp_path, capsys, monkeypatch):
    import sys
    import types

    from bambaprof.ssm import Variant

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    mod = types.ModuleType("all_fail_mod")
    mod.V = Variant(name="v", forward=boom)
    monkeypatch.setitem(sys.modules, "all_fail_mod", mod)
    code = main(["profile", "--variant", "all_fail_mod:V", "--workload", "mixer", "--runs", str(tmp_path), *FAST])
    out, err = capsys.readouterr()
    assert code == 1 and "failed: " in err and err.strip().splitlines()[-1].startswith("bambaprof: error: all 1")


def _slow_module(tmp_path, interrupt_after: int):
    """A variant module: the first ``interrupt_after`` forwards work, the next raises KeyboardInterrupt (as Ctrl-C
    would); with a negative count every forward first marks that it started (the file ``started`` beside the
    module) and then sleeps 5 s, so that a signal sent once the mark exists always lands inside the run."""
    (tmp_path / "slow_mod.py").write_text(f'''
import pathlib
import time
from bambaprof.ssm import Variant
from bambaprof.ssm.chunked import chunked_forward, chunked_step
calls = {{"n": 0}}
def forward(*a, **k):
    calls["n"] += 1
    if {interrupt_after} < 0:
        (pathlib.Path(__file__).parent / "started").touch()
        time.sleep(5)
    elif calls["n"] > {interrupt_after}:
        raise KeyboardInterrupt
    return chunked_forward(*a, **k)
V = Variant(name="slow", forward=forward, step=chunked_step)
''')


def test_ctrl_c_exits_130_with_the_summary_and_the_resume_command(tmp_path, capsys, monkeypatch):
    _slow_module(tmp_path, interrupt_after=0)  # the second configuration is interrupted at its first forward
    monkeypatch.syspath_prepend(str(tmp_path))
    runs = tmp_path / "runs"
    code = main(["profile", "--variant", "default", "--variant", "slow_mod:V", "--workload", "mixer",
                 "--runs", str(runs), *FAST])
    out, err = capsys.readouterr()
    assert code == 130, err
    assert "default" in out and "slow" not in out  # the summary of what finished
    last = err.strip().splitlines()[-1]
    assert last.startswith("bambaprof: error: interrupted after 1 run(s)") and last.endswith("--resume")
    assert [p.name for p in runs.iterdir() if p.name.startswith(".tmp-")] == []


def test_sigterm_removes_the_run_in_progress_and_exits_143(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    _slow_module(tmp_path, interrupt_after=-1)
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "bambaprof", "profile", "--variant", "slow_mod:V", "--workload",
                             "mixer", "--runs", str(runs), *FAST], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "started").exists():  # the run is inside a forward
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated after 0 run(s)" in err and "Traceback" not in err
    assert list(runs.iterdir()) == []
