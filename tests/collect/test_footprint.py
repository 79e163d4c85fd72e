"""The lower-bound footprint checked before a configuration runs."""

import json
from pathlib import Path

import pytest

from bambaprof.collect.footprint import estimate, weight_bytes
from bambaprof.model.config import preset
from bambaprof.ssm import get_variant
from bambaprof.ssm.chunked import chunked_workspace_bytes

MEASURED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "h200-ssd-footprint.json"


def test_chunked_workspace_is_a_lower_bound_of_the_measured_peak():
    """Against the SSD core's peak measured on the H200 (bytes above its inputs): below it, and within 25%
    (81% of it at 1x512, 98% at 1x2048)."""
    records = json.loads(MEASURED.read_text())["records"]
    checked = 0
    for r in records:
        if r["variant"] in ("default", "independent") and r.get("peak_bytes"):
            bound = chunked_workspace_bytes(r["batch"], r["seq_len"], r["heads"], r["head_dim"], r["state"],
                                            r["chunk_size"])
            assert 0.75 * r["peak_bytes"] <= bound <= r["peak_bytes"], r
            checked += 1
    assert checked >= 4


def test_weights_count_the_mixer_or_the_model():
    c = preset("bamba-9b", layers=4, attention=False, dtype="bf16")
    mixer = weight_bytes(c, mixer_only=True)
    assert mixer == pytest.approx(204_573_952)  # in_proj 4096x16768 + conv + out_proj 8192x4096 + vectors, bf16
    assert weight_bytes(c, mixer_only=False) > 4 * mixer
    triton = estimate(c, "mixer", get_variant("triton").extra, 1, 2048)
    assert triton.workspace == 0 and triton.total == mixer + 2 * 2048 * 4096 * 2


def test_a_configuration_that_cannot_fit_is_refused_before_it_runs(tmp_path, capsys):
    from bambaprof.cli import main
    from bambaprof.run import iter_run_dirs, read_manifest

    code = main(["profile", "--variant", "default", "--workload", "mixer", "--seq-len", "10000000",
                 "--runs", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "needs at least" in err
    (run,) = iter_run_dirs(tmp_path)
    m = read_manifest(run)
    assert m.status == "failed" and "SSD workspace 169.0 GB" in m.error and "available: not run" in m.error
