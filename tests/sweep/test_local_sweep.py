"""Local sweeps: workers, a failing configuration, a hang, resume, status."""

import json
import sys
import textwrap

import pytest

from bambaprof.cli import main
from bambaprof.run import RunConfig
from bambaprof.sweep.index import SweepIndex
from bambaprof.sweep.local import run_local

QUICK = dict(warmup=1, iters=2, profile_warmup=0, profile_active=1, seq_len=16, workload="mixer")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A module, importable by worker processes, with a failing and a hanging variant."""
    (tmp_path / "sweep_plugins.py").write_text(textwrap.dedent("""
        import time
        from bambaprof.ssm import Variant
        def _boom(*a, **k):
            raise RuntimeError("planted failure")
        def _hang(*a, **k):
            time.sleep(600)
        BOOM = Variant(name="boom", forward=_boom)
        HANG = Variant(name="hang", forward=_hang)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + ":" + ":".join(p for p in sys.path if p))
    return tmp_path


def test_two_workers_a_failure_and_a_timeout(tmp_path, plugin):
    cfgs = [RunConfig(variant=v, **QUICK) for v in ("default", "independent", "sweep_plugins:BOOM", "sweep_plugins:HANG")]
    index = SweepIndex.create(tmp_path / "root", cfgs)
    events = []
    run_local(index, ["cpu0", "cpu1"], gpu=False, timeout_s=10, on_event=lambda *e: events.append(e))
    states = {e["config"]["variant"]: (e["state"], e["error"]) for e in SweepIndex.load(tmp_path / "root").entries}
    assert states["default"] == ("done", None) and states["independent"] == ("done", None)
    assert states["sweep_plugins:BOOM"] == ("failed", "RuntimeError: planted failure")
    assert states["sweep_plugins:HANG"][0] == "failed" and "timed out after 10 s" in states["sweep_plugins:HANG"][1]
    started = [e[1] for e in events if e[0] == "start"]
    assert sorted(started) == sorted(c.run_id() for c in cfgs)  # each configuration ran exactly once
    assert {e[2] for e in events if e[0] == "start"} == {"cpu0", "cpu1"}


def test_resume_after_an_interruption_runs_only_what_is_left(tmp_path):
    cfgs = [RunConfig(variant="default", **{**QUICK, "seq_len": L}) for L in (8, 16, 24)]
    index = SweepIndex.create(tmp_path / "root", cfgs)
    index.mark(cfgs[0].run_id(), "running", device="cpu0")  # as a killed coordinator leaves it
    run_local(index, ["cpu0"], gpu=False, timeout_s=60, on_event=None)
    first = {e["run_id"]: e["attempts"] for e in SweepIndex.load(tmp_path / "root").entries}
    index = SweepIndex.create(tmp_path / "root", cfgs)  # the same spec again: nothing added
    assert len(index.entries) == 3
    index.mark(cfgs[2].run_id(), "failed", error="pretend")
    started = []
    run_local(index, ["cpu0"], gpu=False, resume=True, on_event=lambda k, r, d: started.append(r) if k == "start" else None)
    assert started == [cfgs[2].run_id()]
    final = SweepIndex.load(tmp_path / "root")
    assert final.counts()["done"] == 3
    assert {e["run_id"]: e["attempts"] for e in final.entries}[cfgs[0].run_id()] == first[cfgs[0].run_id()]


def test_cli_spec_status_and_errors(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[model]\npreset = "tiny"\n[matrix]\nvariant = ["default"]\nworkload = ["mixer"]\n'
                    'seq_len = [16]\n[run]\nwarmup = 1\niters = 2\nprofile_warmup = 0\nprofile_active = 1\n')
    root = tmp_path / "root"
    assert main(["sweep", "run", str(spec), "--root", str(root), "--format", "json", "--no-report"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["status"] == "done" and (root / "spec.json").is_file()
    assert main(["sweep", "status", str(root), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["done"] == 1
    for argv, msg in (["run", str(tmp_path / "missing.toml")], "cannot read"), (["status"], "Missing argument 'ROOT'"), \
            (["status", str(tmp_path)], "not a sweep root"), (["run", str(spec), "--devices", "0"], "--devices needs CUDA"), \
            ([str(spec)], f"run a spec with `bambaprof sweep run {spec}`"):
        assert main(["sweep", *argv]) == 2
        assert msg in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[matrix]\nvariant = [\"default\"]\ncolour = [1]\n")
    assert main(["sweep", "run", str(bad), "--root", str(tmp_path / "r2")]) == 2
    assert "[matrix] has an unknown key 'colour'" in capsys.readouterr().err


def test_cli_matrix_flags_instead_of_a_spec(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "run", "--variant", "default", "--workload", "mixer", "--seq-len", "16", "--seq-len", "24",
            "--warmup", "1", "--iters", "2", "--no-report", "--format", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["seq_len"] for r in rows) == [16, 24] and {r["status"] for r in rows} == {"done"}
    (root,) = (tmp_path / "traces" / "sweeps").iterdir()  # a root named after the flags
    assert root.name.startswith("flags-")
    spec = json.loads((root / "spec.json").read_text())
    assert spec["matrix"] == {"variant": ["default"], "workload": ["mixer"], "seq_len": [16, 24]}
    assert main(argv + ["--resume"]) == 0  # the same flags find the same root: nothing left to run
    assert len(list((root / "runs").iterdir())) == 2
    capsys.readouterr()
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('[matrix]\nvariant = ["default"]\n')
    for extra, msg in ((["run", "s.toml", "--seq-len", "8"], "--seq-len: matrix flags and a SPEC file"),
                       (["status", str(root), "--variant", "default"], "No such option '--variant'")):
        assert main(["sweep", *extra]) == 2
        assert msg in capsys.readouterr().err
