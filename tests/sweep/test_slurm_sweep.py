"""A sweep through --launcher slurm on a real one-node Slurm cluster (loopback)."""

import json

import pytest

from bambaprof.cli import main
from tests.sweep import slurm_cluster

pytest.importorskip("submitit", reason="submitit is not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("slurm")
    try:
        env = slurm_cluster.start(d)
    except slurm_cluster.ClusterUnavailable as exc:
        pytest.skip(f"no test Slurm cluster: {exc}")
    yield env
    slurm_cluster.stop(d)


def test_sweep_through_slurm(cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_CONF", cluster["SLURM_CONF"])
    spec = tmp_path / "s.toml"
    spec.write_text('[model]\npreset = "tiny"\n[matrix]\nvariant = ["default", "independent"]\nworkload = ["mixer"]\n'
                    'seq_len = [16]\n[run]\nwarmup = 1\niters = 2\nprofile_warmup = 0\nprofile_active = 1\n')
    root = tmp_path / "root"
    code = main(["sweep", "run", str(spec), "--root", str(root), "--launcher", "slurm", "--partition", "debug",
                 "--time", "10", "--format", "json", "--no-report"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [r["status"] for r in rows] == ["done", "done"]
    index = json.loads((root / "index.json").read_text())["configs"]
    assert all(e["job_id"] and e["device"].startswith("slurm:") for e in index)
    assert all((root / "runs" / e["run_id"] / "rank0.pt.trace.json.gz").is_file() for e in index)
    # resume resubmits nothing when everything is done
    assert main(["sweep", "run", str(spec), "--root", str(root), "--launcher", "slurm", "--resume", "--no-report",
                 "--format", "json"]) == 0
    assert main(["sweep", "status", str(root), "--format", "json"]) == 0
    assert "done" in capsys.readouterr().err
