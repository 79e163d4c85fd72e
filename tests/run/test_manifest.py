"""The typed run record: reading every schema version, writing, updating, iterating folders of runs."""

import json
import shutil
from pathlib import Path

import pytest

from bambaprof.errors import BambaprofError
from bambaprof.run import (
    SCHEMA_VERSION,
    AccuracyRow,
    Manifest,
    RunConfig,
    Timings,
    decode_manifest,
    encode_manifest,
    iter_runs,
    read_manifest,
    update_manifest,
    write_manifest,
)
from bambaprof.run.manifest import MIGRATIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"
#: Manifests of schema version 1, as bambaprof 0.1 wrote them on the H200 (the examples before phases).
V1_RUNS = Path(__file__).resolve().parents[1] / "data" / "v1-runs"
V1_EXAMPLE = V1_RUNS / "bamba-9b-triton-none-mixer-b1-L512-7f72bedb"


def test_a_version_1_manifest_is_migrated_and_keeps_every_value():
    raw = json.loads((V1_EXAMPLE / "manifest.json").read_text())
    assert raw["schema_version"] == 1 and "kind" not in raw
    m = read_manifest(V1_EXAMPLE)
    assert m.schema_version == SCHEMA_VERSION == 2 and m.kind == "profile" and m.name == m.run_id == V1_EXAMPLE.name
    assert isinstance(m.config, RunConfig) and m.config.variant == "triton" and m.config.seq_len == 512
    assert m.timings.latency_ms.median == raw["timings"]["latency_ms"]["median"]
    assert m.timings.iteration_ms == raw["timings"]["iteration_ms"]
    assert m.energy.joules == raw["energy"]["joules"]
    assert m.gpm.dram_bw_util_pct.mean == raw["telemetry"]["summary"]["gpm"]["dram_bw_util_pct"]["mean"]
    assert m.device.nvml.peak_bandwidth_gbps == raw["device"]["nvml"]["peak_bandwidth_gbps"]
    # written back, every value of version 1 is still there (the new fields are additions)
    again = json.loads(encode_manifest(m))

    def same(old, new, where=""):
        if isinstance(old, dict):
            for k, v in old.items():
                if k != "schema_version":
                    same(v, new[k], f"{where}.{k}")
        else:
            assert old == new, where

    same(raw, again)


def test_fields_a_version_1_run_lacked_take_their_defaults():
    m = read_manifest(V1_RUNS / "bamba-9b-default-none-mixer-b1-L512-253d7224")
    assert m.config.telemetry_window_ms == RunConfig.default_of("telemetry_window_ms")
    assert m.config.host == "bambaprof" and m.energy.window_ms is None and m.timings.ttft_ms is None


@pytest.mark.parametrize("text,message", [
    ('{"schema_version": 99, "run_id": "x"}', "newer than this bambaprof reads"),
    ('{"schema_version": "one"}', "not a run manifest"),
    ('[1, 2]', "expected a JSON object"),
    ('{"run_id": "x", "timings": {"iteration_ms": "fast"}}', "not a valid run manifest"),
    ('{"run_id": ', "unreadable"),
])
def test_bad_manifests_are_one_line_errors(text, message):
    with pytest.raises(BambaprofError, match=message) as info:
        decode_manifest(text.encode(), "m.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("m.json: ")


def test_every_version_before_the_current_one_has_a_migration():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_write_then_read_is_the_same_record(tmp_path):
    m = Manifest(run_id="r", name="mine", kind="record", timings=Timings(iteration_ms=[1.0, 2.0]),
                 accuracy=[AccuracyRow(variant="v", prompt="p", kl_mean=float("nan"))])
    write_manifest(tmp_path, m)
    back = read_manifest(tmp_path)
    assert back.name == "mine" and back.timings.iteration_ms == [1.0, 2.0]
    assert back.accuracy[0].kl_mean is None  # NaN is unknown in JSON, never a number
    assert read_manifest(tmp_path / "nowhere") is None


def test_update_rewrites_atomically_and_refuses_a_folder_without_a_manifest(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(V1_EXAMPLE, run)

    def attach(m):
        m.accuracy = [AccuracyRow(variant="triton", prompt="random-64", kl_mean=1e-9)]

    update_manifest(run, attach)
    stored = json.loads((run / "manifest.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION and stored["accuracy"][0]["kl_mean"] == 1e-9
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(BambaprofError, match="not a run directory"):
        update_manifest(tmp_path / "empty", attach)

    def fails(m):
        raise RuntimeError("half way")

    before = (run / "manifest.json").read_bytes()
    with pytest.raises(RuntimeError):
        update_manifest(run, fails)
    assert (run / "manifest.json").read_bytes() == before


def test_iter_runs_walks_a_folder_a_sweep_root_and_a_run_directory(tmp_path):
    assert [r.run_id for r in iter_runs(V1_EXAMPLE)] == [V1_EXAMPLE.name]
    assert len(list(iter_runs(EXAMPLES))) == 10 and len(list(iter_runs(V1_RUNS))) == 2
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    shutil.copytree(V1_EXAMPLE, sweep / "runs" / V1_EXAMPLE.name)
    (sweep / "index.json").write_text("{}")
    records = list(iter_runs(sweep))
    assert [r.run_id for r in records] == [V1_EXAMPLE.name] and records[0].ok and records[0].config.variant == "triton"
    assert list(iter_runs(tmp_path / "nothing")) == []


def test_a_hand_made_manifest_without_a_run_id_takes_the_folder_name(tmp_path):
    (tmp_path / "my-run").mkdir()
    (tmp_path / "my-run" / "manifest.json").write_text('{"status": "ok"}')
    m = read_manifest(tmp_path / "my-run")
    assert m.run_id == m.name == "my-run" and m.timings is None and m.device is None


def test_the_run_config_round_trips_through_a_dict():
    cfg = RunConfig(variant="triton", compile="max-autotune", compile_options={"epilogue_fusion": True},
                    prompt_ids=(1, 2, 3))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg and cfg.length == 3
    with pytest.raises(BambaprofError, match="unknown configuration field"):
        RunConfig.from_dict({"colour": 1})
