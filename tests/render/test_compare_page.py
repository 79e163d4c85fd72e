"""``compare --format html``: the gate's verdict first, diff charts per phase and kernel, phases compared."""

import re
from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.analysis.compare import compare
from bambaprof.cli import main
from bambaprof.render.figure import unpack_figure
from bambaprof.render.group_charts import DIFF_ROWS

EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"
A = next(EXAMPLES.glob("*-triton-none-mixer-*"))
B = next(EXAMPLES.glob("*-default-none-mixer-*"))


def _figures(page):
    return [unpack_figure(b) for b in
            re.findall(r'<script type="application/gzip\+base64" id="fig\d+-data">(.*?)</script>', page, re.S)]


def test_phase_rows_sum_to_each_sides_phase_table():
    comp = compare([A], [B])
    assert sum(p["time_baseline_us"] for p in comp.phases) == pytest.approx(
        sum(p["gpu_us"] for p in analyze(A).phase_kinds))
    assert sum(p["time_candidate_us"] for p in comp.phases) == pytest.approx(
        sum(p["gpu_us"] for p in analyze(B).phase_kinds))
    deltas = [abs(p["delta_us"]) for p in comp.phases]
    assert deltas == sorted(deltas, reverse=True)  # the time at stake first


def test_the_gates_verdict_leads_and_the_diff_charts_hold_the_deltas(tmp_path, capsys):
    out = tmp_path / "c.html"
    assert main(["compare", str(A), str(B), "--format", "html", "-o", str(out), "--fail-on-regression", "5"]) == 1
    page = out.read_text()
    verdict = page.index('class="verdict fail">FAIL: regression: GPU time')
    assert verdict < page.index("<h2>Summary</h2>")  # at the top
    phases, kernels = _figures(page)
    comp = compare([A], [B])
    for fig, rows in ((phases, comp.phases), (kernels, comp.kernels)):
        bar = fig["data"][0]
        want = [r["delta_us"] for r in rows if r["delta_us"]][:DIFF_ROWS][::-1]
        assert bar["x"] == pytest.approx(want, rel=1e-4)
        assert bar["marker"]["color"] == ["#b03a2e" if d > 0 else "#1a7f37" for d in want]  # red slower
    assert main(["compare", str(A), str(A), "--format", "html", "-o", str(out), "--fail-on-regression", "5"]) == 0
    assert 'class="verdict pass">PASS: gpu_time within 5% of the baseline' in out.read_text()
    assert main(["compare", str(A), str(B), "--format", "html", "-o", str(out)]) == 0
    assert "verdict" not in out.read_text().split("<body>")[1].split("<h2>")[0]  # no gate asked, none shown
