"""Nsight Compute CSV reading: values in base units whatever --print-units wrote, and what cannot be read."""

import gzip
from pathlib import Path

import pytest

from bambaprof.analysis.ncu import read_ncu_csv
from bambaprof.analysis.source import CSV_FIELD_LIMIT
from bambaprof.errors import BambaprofError

HEADER = ('"ID","Process ID","Kernel Name","Block Size","Grid Size","Section Name","Metric Name","Metric Unit",'
          '"Metric Value"')


def _row(kid, name, metric, unit, value):
    return f'"{kid}","7","{name}","(128, 1, 1)","(264, 1, 1)","Command line profiler metrics","{metric}","{unit}","{value}"'


def test_units_are_read_into_bytes_bytes_per_second_and_ns(tmp_path):
    rows = [_row(0, "_chunk_scan", "dram__bytes_read.sum", "Gbyte", "2.58"),
            _row(0, "_chunk_scan", "dram__bytes_write.sum", "Mbyte", "2,130.5"),
            _row(0, "_chunk_scan", "dram__bytes.sum.per_second", "Tbyte/second", "1.71"),
            _row(0, "_chunk_scan", "gpu__time_duration.sum", "msecond", "2.74"),
            _row(0, "_chunk_scan", "lts__t_sector_hit_rate.pct", "%", "75.07"),
            _row(1, "_chunk_prep", "dram__bytes_read.sum", "byte", "145,780,736"),
            _row(1, "_chunk_prep", "dram__bytes.sum.per_second", "byte/s", "1,185,390,453,763.25"),
            _row(1, "_chunk_prep", "gpu__time_duration.sum", "usecond", "52.6"),
            _row(1, "_chunk_prep", "launch__registers_per_thread", "register/thread", "96"),
            _row(1, "_chunk_prep", "launch__shared_mem_per_block_dynamic", "Kbyte/block", "32.77"),
            _row(1, "_chunk_prep", "sm__warps_active.avg.pct_of_peak_sustained_active", "%", "n/a")]
    path = tmp_path / "ncu.csv.gz"
    path.write_bytes(gzip.compress(("==PROF== Connected to process 7\n" + "\n".join([HEADER, *rows]) + "\n").encode()))
    scan, prep = read_ncu_csv(path)
    assert scan["name"] == "_chunk_scan" and scan["grid"] == (264, 1, 1) and scan["block"] == (128, 1, 1)
    assert scan["dram__bytes_read.sum"] == pytest.approx(2.58e9)
    assert scan["dram__bytes_write.sum"] == pytest.approx(2.1305e9)
    assert scan["dram__bytes.sum.per_second"] == pytest.approx(1.71e12)
    assert scan["gpu__time_duration.sum"] == pytest.approx(2.74e6)  # ns
    assert scan["lts__t_sector_hit_rate.pct"] == pytest.approx(75.07)
    assert prep["dram__bytes_read.sum"] == 145780736.0
    assert prep["dram__bytes.sum.per_second"] == pytest.approx(1.18539045376325e12)
    assert prep["gpu__time_duration.sum"] == pytest.approx(52600.0)
    assert prep["launch__registers_per_thread"] == 96.0
    assert prep["launch__shared_mem_per_block_dynamic"] == pytest.approx(32770.0)
    assert prep["sm__warps_active.avg.pct_of_peak_sustained_active"] == "n/a"


def test_a_table_saved_again_reads_the_same(tmp_path):
    """ncu quotes every field; a spreadsheet or pandas saving the table again quotes none (and may put a
    byte-order mark first); a kernel name cut inside a character keeps the rest of the row."""
    import csv
    import io

    rows = [_row(0, "_chunk_scan", "dram__bytes_read.sum", "Gbyte", "2.58"),
            _row(1, "gemm\udcff", "dram__bytes_read.sum", "byte", "145,780,736")]
    quoted = "==PROF== Connected to process 7\n" + "\n".join([HEADER, *rows]) + "\n"
    table = list(csv.reader(io.StringIO(quoted[quoted.index('"ID"'):])))
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    plain = out.getvalue()
    assert plain.startswith("ID,Process ID,")
    for name, data in (("plain.csv", plain.encode("utf-8", "surrogateescape")),
                       ("bom.csv", b"\xef\xbb\xbf" + plain.encode("utf-8", "surrogateescape"))):
        (tmp_path / name).write_bytes(data)
        scan, gemm = read_ncu_csv(tmp_path / name)
        assert scan["dram__bytes_read.sum"] == pytest.approx(2.58e9) and gemm["dram__bytes_read.sum"] == 145780736.0
        assert gemm["name"] == "gemm\ufffd"


def test_a_long_template_kernel_name_is_read_whatever_read_csv_before(tmp_path):
    """A kernel name of 200 KB (C++ templates run long) is past the csv module's default limit of 128 KB: it reads,
    whether or not another CSV reader ran first in the process (the limit is process-wide; rocprofv3's reader
    raised it, so this once depended on the order)."""
    import csv

    csv.field_size_limit(128 * 1024)  # the default, as in a fresh process
    name = "void cutlass::Kernel<" + "k" * 200_000 + ">"
    path = tmp_path / "long.csv"
    path.write_text('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n"0","' + name + '","m","","1"\n')
    assert [r["name"] for r in read_ncu_csv(path)] == [name]


@pytest.mark.parametrize("content, says", [(b"", "no \"ID\" header"), (b"\x1f\x8b\x08garbage", "cannot read"),
                                           (b"Kernel,Metric\n1,2\n", "no \"ID\" header"),
                                           # the first lines of a real source page (H100, ncu 2025.3.1)
                                           (b'"Kernel Name","_chunk_scan_sm90",\n"Address","Source","Warp Stall Sampling '
                                            b'(All Samples)"\n"0x7fcfff7b5100","      LDC R1, c[0x0][0x28]","25"\n',
                                            "source page .* --page raw")])
def test_unreadable_files_get_one_clear_error(tmp_path, content, says):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BambaprofError, match=says):
        read_ncu_csv(path)


def test_the_raw_page_one_row_a_kernel_with_units_under_the_header(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_text(
        '==PROF== Disconnected from process 7\n'
        '"ID","Process ID","Kernel Name","Block Size","Grid Size","dram__bytes_read.sum","dram__bytes_write.sum",'
        '"gpu__time_duration.sum","thread Domain:Push/Pop_Range"\n'
        '"","","","","","Mbyte","Gbyte","usecond",""\n'
        '"0","7","_chunk_scan","(128, 1, 1)","(264, 1, 1)","2,580.1","2.13","2,740.5","measure"\n'
        '"1","7","_chunk_prep","(128, 1, 1)","(1024, 1, 1)","12.5","0.004","52.6","measure"\n')
    scan, prep = read_ncu_csv(path)
    assert (scan["id"], scan["name"], scan["grid"]) == (0, "_chunk_scan", (264, 1, 1))
    assert scan["dram__bytes_read.sum"] == pytest.approx(2.5801e9)
    assert scan["dram__bytes_write.sum"] == pytest.approx(2.13e9)
    assert scan["gpu__time_duration.sum"] == pytest.approx(2.7405e6)
    assert prep["dram__bytes_read.sum"] == pytest.approx(12.5e6) and "thread Domain:Push/Pop_Range" not in prep


@pytest.mark.parametrize("content, says", [
    ('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n"x1","k","m","","1"\n', "kernel ID 'x1' is not"),
    ('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n"0","' + "k" * (CSV_FIELD_LIMIT + 1) +
     '","m","","1"\n', "not a readable"),  # a field past the readers' limit
])
def test_malformed_tables_get_one_clear_error(tmp_path, content, says, capsys):
    from bambaprof.cli import main

    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(BambaprofError, match=says):
        read_ncu_csv(path)
    trace = str(Path(__file__).resolve().parents[1] / "data" / "h200-models-trace.json.gz")
    assert main(["analyze", trace, "--ncu", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says.split("'")[0] in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("registers", ["n/a", "1e400", "nan"])
def test_a_register_count_that_is_not_a_whole_number_is_no_crash(tmp_path, registers):
    from bambaprof.analysis import analyze

    data = Path(__file__).resolve().parents[1] / "data"
    lines = gzip.decompress((data / "h200-validation-ncu.csv.gz").read_bytes()).decode().splitlines()
    lines = [line.rsplit(",", 1)[0] + f',"{registers}"' if '"launch__registers_per_thread"' in line else line
             for line in lines]
    path = tmp_path / "ncu.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = analyze(data / "h200-validation-trace.json.gz", ncu_csv=path).ncu
    assert rows and all(r["matched"] and r["same_config"] is False for r in rows)


# warp states as ncu 2025 printed them for the H200's chunk scan (benchmarks/results/h200-ncu-chunk-scan.txt:
# `--metrics smsp__average_warps_issue_stalled_*`) and as its WarpStateStats section labels them on the details page
# (benchmarks/results/h100-ncu-gluon-late-1x2048.txt)
RAW_STALLS = {"long_scoreboard": "2.31", "barrier": "1.26", "selected": "1.00", "wait": "0.85",
              "short_scoreboard": "0.73", "not_selected": "0.44", "math_pipe_throttle": "0.21", "sleeping": "0"}
LABELLED_STALLS = {"Stall Long Scoreboard": "2.33", "Stall Barrier": "1.44", "Stall Short Scoreboard": "0.82",
                   "Stall Wait": "0.80", "Stall MIO Throttle": "0.48", "Stall LG Throttle": "0.39",
                   "Stall Not Selected": "0.23", "Stall Dispatch Stall": "0.12", "Stall IMC Miss": "0.02",
                   "Stall GMMA": "0.09", "Stall Tex Throttle": "0"}


def test_warp_states_are_read_from_raw_metric_names_and_from_section_labels(tmp_path):
    from bambaprof.analysis.ncu import warp_stalls

    rows = [_row(0, "_chunk_scan", f"smsp__average_warps_issue_stalled_{k}_per_issue_active.ratio", "inst", v)
            for k, v in RAW_STALLS.items()]
    rows += [_row(0, "_chunk_scan", "smsp__pcsamp_warps_issue_stalled_barrier", "warp", "1,533"),  # samples, not cycles
             _row(0, "_chunk_scan", "smsp__average_warps_issue_stalled_bogus_per_issue_active.ratio", "inst", "9")]
    rows += [_row(1, "_chunk_scan_sm90", k, "inst", v) for k, v in LABELLED_STALLS.items()]
    rows += [_row(1, "_chunk_scan_sm90", "Warp Cycles Per Issued Instruction", "cycle", "8.24"),
             _row(1, "_chunk_scan_sm90", "Issued Warp Per Scheduler", "", "0.23"),
             _row(2, "_chunk_prep", "gpu__time_duration.sum", "usecond", "5.2"),
             _row(3, "k", "Stall Barrier", "inst", "n/a")]
    path = tmp_path / "ncu.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    raw, labelled, none, odd = (warp_stalls(r) for r in read_ncu_csv(path))
    assert list(raw["reasons"])[:3] == ["long_scoreboard", "barrier", "selected"]  # largest first
    assert raw["reasons"]["long_scoreboard"] == pytest.approx(2.31) and "bogus" not in raw["reasons"]
    assert raw["cycles_per_issue"] == pytest.approx(6.80) and raw["issue_rate"] is None  # no ncu figure: the sum
    assert labelled["reasons"]["mio_throttle"] == pytest.approx(0.48)
    assert labelled["reasons"]["dispatch_stall"] == pytest.approx(0.12) and labelled["reasons"]["gmma"] == 0.09
    assert labelled["cycles_per_issue"] == pytest.approx(8.24) and labelled["issue_rate"] == pytest.approx(0.23)
    assert none is None and odd is None  # no warp states, or none that reads as a number


NCU_DATA = Path(__file__).parents[1] / "data" / "ncu"


def test_a_real_run_gives_the_same_warp_states_from_the_raw_page_and_the_labelled_details():
    """The mixer's kernels (benchmarks/ncu_models.py) on an H100, ncu 2025.3.1 with WarpStateStats, SpeedOfLight,
    Occupancy and LaunchStats (benchmarks/h200_ncu_stall_fixture.sh), exported as the raw page, as the details page
    with --print-details all, and as the details page alone (no stall reasons there)."""
    from bambaprof import analyze

    trace = NCU_DATA / "h100-mixer-kernels-trace.json.gz"
    raw, labelled, plain = (analyze(trace, ncu_csv=NCU_DATA / f"h100-mixer-kernels-{page}.csv.gz").ncu
                            for page in ("raw", "details-all", "details"))
    assert len(raw) == len(labelled) == len(plain) == 7 and all(r["matched"] for r in raw + labelled + plain)
    for r, lab, p in zip(raw, labelled, plain):
        assert r["ncu_stalls"] == pytest.approx(lab["ncu_stalls"], abs=0.006)  # the labels round to 2 decimals
        assert r["ncu_cycles_per_issue"] == pytest.approx(lab["ncu_cycles_per_issue"], abs=0.006)
        assert r["ncu_issue_rate"] == pytest.approx(lab["ncu_issue_rate"], abs=0.006)
        assert p["ncu_stalls"] is None and p["ncu_top_stalls"] is None  # the default page has no reasons
        # the labelled pages give the duration, registers and occupancy the raw names give
        assert p["same_config"] and p["ncu_us"] == pytest.approx(r["ncu_us"], rel=0.01)
        assert p["ncu_achieved_occupancy_pct"] == pytest.approx(r["ncu_achieved_occupancy_pct"], abs=0.01)
        # the reasons and the issue cycle add up to the cycles between a warp's issues
        assert sum(r["ncu_stalls"].values()) == pytest.approx(r["ncu_cycles_per_issue"], rel=0.02)
    gemm, conv = raw[0], raw[2]
    assert gemm["name"].startswith("nvjet") and gemm["ncu_top_stalls"].startswith("barrier 6.2")
    assert conv["ncu_issue_rate"] == pytest.approx(0.76, abs=0.01) and "not_selected" in conv["ncu_top_stalls"]


def test_a_report_is_exported_by_the_ncu_cli_or_named_as_such(tmp_path, monkeypatch):
    """A ``.ncu-rep`` goes through ``ncu -i REPORT --csv --page raw`` (``$BAMBAPROF_NCU``, else ``ncu`` on PATH);
    without one, or when the export fails, one line says what to run."""
    import stat

    from bambaprof.analysis.ncu import warp_stalls

    report = tmp_path / "run.ncu-rep"
    report.write_bytes(b"NVIDIA Nsight Compute report\x00\x01")  # not a CSV: only ncu reads it
    fake = tmp_path / "ncu"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $3 $4 $5\" = '-i --csv --page raw' ] || exit 3\n"
                    f"zcat {NCU_DATA / 'h100-mixer-kernels-raw.csv.gz'}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("BAMBAPROF_NCU", str(fake))
    records = read_ncu_csv(report)
    assert len(records) == 7 and warp_stalls(records[2])["issue_rate"] == pytest.approx(0.76, abs=0.01)
    fake.write_text("#!/bin/sh\necho '==ERROR== the report is damaged' >&2\nexit 1\n")
    with pytest.raises(BambaprofError, match=r"`ncu -i run.ncu-rep --csv --page raw > run.csv` failed \(exit 1\): "
                                             r"==ERROR== the report is damaged"):
        read_ncu_csv(report)
    monkeypatch.delenv("BAMBAPROF_NCU")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(BambaprofError, match="no ncu here to export it: run `ncu -i run.ncu-rep --csv --page raw"):
        read_ncu_csv(report)


def test_a_real_source_page_is_named_as_such_and_read_by_the_stall_script():
    """The source page of the Gluon chunk scan (gluon_late, 1x2048, H100, ncu 2025.3.1): --ncu names it and says
    which page to export; benchmarks/ncu_sass_stalls.py reads it into the breakdown the README quotes."""
    import subprocess
    import sys

    page = NCU_DATA / "h100-gluon-late-1x2048-source-page.csv.gz"
    with pytest.raises(BambaprofError, match="source page .*--page raw"):
        read_ncu_csv(page)
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "ncu_sass_stalls.py"
    done = subprocess.run([sys.executable, str(script), str(page), "--top", "5"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "4272 instructions, 8898 samples"
    twentieths = [float(v) for v in lines[1].split(": ")[1].split()]
    assert len(twentieths) == 20 and sum(twentieths[:2]) == pytest.approx(19.9, abs=0.05)  # the prologue's 20%
    assert lines[2].startswith("reasons (%): long_sb 29.1, barrier 17.2")
    assert len(lines) == 3 + 5 and "MUFU.LG2" in done.stdout  # the first use of the staged dt' waits on its load


def test_the_busiest_unit_is_named_only_where_all_four_are_known():
    from bambaprof.analysis.ncu import _unit_fields

    labelled = {"Compute (SM) Throughput": 29.1, "L1/TEX Cache Throughput": 60.9, "L2 Cache Throughput": 88.9,
                "DRAM Throughput": 37.8}  # the Gluon chunk scan at 8x2048 on an H100, as the details page labels them
    assert _unit_fields(labelled) == {"ncu_sm_pct": 29.1, "ncu_l1_pct": 60.9, "ncu_l2_pct": 88.9,
                                      "ncu_busiest": "L2 89%"}
    assert _unit_fields({k: v for k, v in labelled.items() if k != "DRAM Throughput"})["ncu_busiest"] is None
    assert _unit_fields(dict(labelled, **{"L2 Cache Throughput": float("nan")}))["ncu_l2_pct"] is None
    raw = {"sm__throughput.avg.pct_of_peak_sustained_elapsed": 93.9,
           "l1tex__throughput.avg.pct_of_peak_sustained_active": 74.0,
           "lts__throughput.avg.pct_of_peak_sustained_elapsed": 64.4,
           "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed": 29.6}
    assert _unit_fields(raw)["ncu_busiest"] == "SM 94%"
