"""The report in headless Chromium: loads without errors, plots render, nothing leaves the page.

Needs Debian's chromium (/usr/bin/chromium) and pip's playwright (.ci/run installs both);
playwright's own browser download is never used.
"""

import os
import shutil

import pytest

from bambaprof.render.html import build_report
from tests.render.test_html import EVIL, EXAMPLES, evil_trace

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (.ci/run installs it)")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed "
                                                                     "(.ci/run installs it)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_in_chromium(tmp_path):
    page_path = tmp_path / "report.html"
    page_path.write_text(build_report([*EXAMPLES[:3], evil_trace(tmp_path)]))
    errors, requests, dialogs = [], [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_path.as_uri(), wait_until="load")
        page.evaluate("window.bambaprofDrawAll()")  # plots are drawn as they near the viewport
        page.wait_for_timeout(1500)
        plots = page.locator("div.plot").count()
        rendered = page.locator("div.plot .main-svg").count()
        text = page.inner_text("body")
        browser.close()
    assert errors == [], errors
    assert dialogs == []  # the script-named kernel did not run
    external = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert external == [], external
    assert plots >= 6 and rendered >= plots  # each plot draws at least one svg
    assert EVIL in text  # shown as text


def test_every_axis_of_every_plot_has_a_rendered_title(tmp_path):
    page_path = tmp_path / "report.html"
    page_path.write_text(build_report(EXAMPLES[:3]))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(page_path.as_uri(), wait_until="load")
        page.evaluate("window.bambaprofDrawAll()")
        page.wait_for_timeout(1500)
        plots = page.evaluate("""() => [...document.querySelectorAll('div.plot')].map(d => ({
            axes: (d.layout ? Object.keys(d.layout).filter(k => /^[xy]axis\\d*$/.test(k)) : []),
            x: [...d.querySelectorAll('.xtitle')].map(e => e.textContent.trim()),
            y: [...d.querySelectorAll('.ytitle, .y2title, .y3title')].map(e => e.textContent.trim())}))""")
        browser.close()
    assert len(plots) >= 6
    for i, plot in enumerate(plots):
        assert plot["x"] and plot["y"], (i, plot)  # at least one titled x and y axis drawn
        assert all(plot["x"]) and all(plot["y"]), (i, plot)  # and no title left empty
        assert len(plot["x"]) + len(plot["y"]) >= len(plot["axes"]), (i, plot)  # one per axis of the layout


def test_the_first_screen_shows_the_summary_and_a_finding(tmp_path):
    """At 1440x900, without scrolling: what was compared, the summary table of each group in view, and at least
    one finding's row."""
    page_path = tmp_path / "report.html"
    page_path.write_text(build_report(EXAMPLES))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(page_path.as_uri(), wait_until="load")
        seen = page.evaluate("""() => {
            const inView = e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; };
            return {compared: inView(document.querySelector('p.compared')),
                    summaries: [...document.querySelectorAll('table.summary')].map(inView),
                    rows: [...document.querySelectorAll('table.summary tbody tr')].filter(inView).length,
                    findings: [...document.querySelectorAll('table.summary b[class^=sev-]')].filter(inView).length};
        }""")
        browser.close()
    assert seen["compared"] and seen["summaries"] and all(seen["summaries"]), seen
    assert seen["rows"] == len(EXAMPLES) and seen["findings"] >= 1, seen
