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
