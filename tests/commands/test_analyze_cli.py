"""``bambaprof analyze`` on real and synthetic traces."""

import csv
import io
import json
from pathlib import Path

from bambaprof.cli import main
from tests.analysis.synth import base_trace, write

DATA = Path(__file__).resolve().parents[1] / "data"
COMPILED = str(DATA / "h200-mamba-ssd-mixer-compiled-default-b1-L512.json.gz")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_table_output(capsys):
    code, out, err = run(["analyze", COMPILED], capsys)
    assert code == 0, err
    for heading in ("Summary", "Kernels", "est occ % (Kineto)", "theor occ %", "CPU ops", "CPU-bound"):
        assert heading in out
    # kernels read without namespaces in the table; JSON keeps the full names
    assert "at::native::" not in out and "conv_depthwise2d_forward_kernel_generic<BFloat16, int>" in out
    code, out, err = run(["analyze", COMPILED, "--format", "json"], capsys)
    assert any(k["name"].startswith("at::native::") for k in json.loads(out)["kernels"])


def test_json_output_is_clean_and_complete(tmp_path, capsys):
    target = tmp_path / "a.json"
    code, out, err = run(["analyze", COMPILED, "--format", "json", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    data = json.loads(target.read_text())
    assert set(data) >= {"summary", "kernels", "ops", "launch", "stretches", "memory", "devices", "notes"}
    assert data["summary"]["kernel_count"] == 48


def test_top_sort_filter(capsys):
    code, out, _ = run(["analyze", COMPILED, "--format", "json", "--top", "2", "--sort", "count",
                        "--filter", "^triton_"], capsys)
    data = json.loads(out)
    assert len(data["kernels"]) == 2 and all(k["name"].startswith("triton_") for k in data["kernels"])
    assert data["kernels"][0]["count"] >= data["kernels"][1]["count"]
    assert data["ops"] == [] or all(o["name"].startswith("triton_") for o in data["ops"])


def test_csv_kernels_and_ops(tmp_path, capsys):
    path = write(tmp_path / "t.json.gz", base_trace())
    code, out, _ = run(["analyze", str(path), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["name"] for r in rows} >= {"gemm_kernel", "triton_poi_fused_add"}
    code, out, _ = run(["analyze", str(path), "--format", "csv", "--table", "ops", "--sort", "cpu_self_us"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "aten::copy_"


def test_usage_errors(capsys):
    for argv, message in [
        (["analyze", COMPILED, "--filter", "("], "--filter is not a valid regular expression"),
        (["analyze", COMPILED, "--top", "0"], "--top must be positive"),
        (["analyze", COMPILED, "--sort", "colour"], "--sort must be one of"),
        (["analyze", COMPILED, "--table", "ops", "--sort", "achieved_gbps"], "--sort for ops"),
        (["analyze", COMPILED, "--peak-bandwidth", "-1"], "--peak-bandwidth must be positive"),
        (["analyze"], "Missing argument"),
    ]:
        code, out, err = run(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (argv, err)
