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
        (["analyze", COMPILED, "--peak-bandwidth", "-1"], "'--peak-bandwidth': must be a finite number above 0"),
        (["analyze"], "Missing argument"),
    ]:
        code, out, err = run(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (argv, err)


def test_table_modules(tmp_path, capsys):
    from tests.analysis.test_modules import _with_modules

    path = write(tmp_path / "m.json.gz", _with_modules(base_trace()))
    code, out, err = run(["analyze", str(path), "--table", "modules"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["module", "calls", "CPU", "self"]
    assert "Net_0/Block_0/Linear_1" in out and "GPU us" in out
    code, out, _ = run(["analyze", str(path), "--table", "modules", "--format", "csv"], capsys)
    rows = {r["module"]: r for r in csv.DictReader(io.StringIO(out))}
    assert float(rows["Net_0/Linear_0"]["gpu_us"]) == 10.0 and rows["Net_0"]["calls"] == "1"
    code, out, _ = run(["analyze", str(path)], capsys)
    assert "Modules (GPU time under each nn.Module call" in out and "Net/Block/Linear" in out
    code, out, _ = run(["analyze", str(write(tmp_path / "plain.json.gz", base_trace())), "--table", "modules"], capsys)
    assert code == 0 and out.startswith("no nn.Module calls in this trace") and "with_stack=True" in out


def test_an_empty_table_as_csv_is_its_header(tmp_path, capsys):
    """A trace without collectives or synchronisations: --format csv of those tables is the header line, so a
    script reading the file finds its fields (it was an empty line)."""
    path = str(write(tmp_path / "t.json.gz", base_trace()))
    for table, first in (("collectives", "kind,count,total_us,exposed_us"), ("syncs", "call,op,count")):
        assert main(["analyze", path, "--table", table, "--format", "csv"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(first) and out.count("\n") == 1


def test_the_contractions_table_or_why_it_is_empty(tmp_path, capsys):
    naive = str(DATA / "h200-fms-naive-mixer-eager-b1-L512.json.gz")
    code, out, _ = run(["analyze", naive, "--table", "contractions"], capsys)
    assert code == 0 and "abde,acde->abcd" in out and "8.59 GB" in out
    code, out, _ = run(["analyze", naive, "--table", "contractions", "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 and rows[0]["einsum"] == "abde,acde->abcd" and out.startswith("count,multiply,operands")
    code, out, _ = run(["analyze", naive], capsys)
    assert "Contractions computed elementwise" in out
    code, out, _ = run(["analyze", COMPILED, "--table", "contractions"], capsys)
    assert code == 0 and out.startswith("no contraction computed as a broadcast product")
    code, out, _ = run(["analyze", COMPILED, "--table", "contractions", "--format", "csv"], capsys)
    assert out.startswith("count,multiply,operands") and out.count("\n") == 1
    doc = base_trace()
    for e in doc["traceEvents"]:
        e.get("args", {}).pop("Input Dims", None)
    code, out, _ = run(["analyze", str(write(tmp_path / "t.json.gz", doc)), "--table", "contractions"], capsys)
    assert code == 0 and out.startswith("contractions unknown") and "record_shapes=True" in out
    code, out, _ = run(["analyze", naive, "--format", "json"], capsys)
    assert len(json.loads(out)["contractions"]) == 4


def test_the_copies_table_or_why_it_is_unknown(capsys):
    mamba = str(DATA / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    code, out, _ = run(["analyze", mamba, "--table", "copies"], capsys)
    assert code == 0 and out.splitlines()[2].split()[:3] == ["layout", "bf16", "->"] and "aten::conv1d" in out
    code, out, _ = run(["analyze", mamba, "--table", "copies", "--format", "csv"], capsys)
    assert out.startswith("kind,dtypes,shape,caller,inside,range,count") and out.count("\n") == 6
    code, out, _ = run(["analyze", COMPILED, "--table", "copies"], capsys)
    assert code == 0 and out.startswith("no copies made by aten::copy_ on the device")
    nsys = str(DATA / "nsys" / "h200-gpu-metrics.sqlite.gz")  # another tool's export: no PyTorch ops at all
    code, out, _ = run(["analyze", nsys, "--table", "copies"], capsys)
    assert code == 0 and out.startswith("copies unknown") and "an export of Nsight Systems records no PyTorch ops" in out


def test_one_traces_table_options_on_several_ranks_are_a_usage_error(tmp_path, capsys):
    """A folder of ranks is shown side by side; --table, --sort and --filter pick among one trace's tables, and
    were silently ignored there."""
    import shutil

    for rank, name in enumerate(("h200-fms-naive-mixer-eager-b1-L512.json.gz",
                                 "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")):
        shutil.copy(DATA / name, tmp_path / f"rank{rank}.json.gz")
    for extra in (["--table", "contractions"], ["--sort", "count"], ["--filter", "mul"]):
        code, out, err = run(["analyze", str(tmp_path), *extra], capsys)
        assert code == 2 and extra[0] in err and "name one rank's trace" in err and out == ""
    code, out, _ = run(["analyze", str(tmp_path), "--table", "all"], capsys)
    assert code == 0 and "slowest" in out
