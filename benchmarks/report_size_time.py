"""Size and render time of the examples' report in headless Chromium (CPU, no network).

Builds the report of ``traces/examples/`` (as ``reports/examples/`` holds it), then, ``--repeats`` times in a
fresh page at 1440x900: the time from navigation to the load event (the first screen: tables and findings, the
plotly bundle parsed) and the time to draw every plot (``bambaprofDrawAll()``, as scrolling through the page
would). Reports medians, and fails (exit 1) past loose bounds: 3 MB, 5 s to the first screen, 10 s for every plot.

    python benchmarks/report_size_time.py -o benchmarks/results/report-size-time.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES, MAX_FIRST_S, MAX_ALL_S = 3_000_000, 5.0, 10.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from bambaprof.render.html import build_report

    examples = sorted(p for p in (ROOT / "traces" / "examples").iterdir() if p.is_dir())
    t = time.perf_counter()
    page_text = build_report(examples, title="bambaprof: Bamba-9B mixers on the H200 (examples)")
    build_s = time.perf_counter() - t
    path = Path(tempfile.mkdtemp()) / "report.html"
    path.write_text(page_text, encoding="utf-8")
    size = path.stat().st_size
    first, every, plots = [], [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(args.repeats):
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            t = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            page.evaluate("window.bambaprofDrawAll()")
            page.wait_for_function("[...document.querySelectorAll('div.plot')].every(d => d.querySelector('.main-svg'))")
            every.append(time.perf_counter() - t)
            plots = page.locator("div.plot").count()
            page.close()
        browser.close()
    result = {
        "what": "the examples' report (traces/examples, 10 runs) in headless Chromium, fresh page each time",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": len(examples), "plots": plots, "bytes": size, "build_s": round(build_s, 3),
        "first_screen_s_median": round(statistics.median(first), 3),
        "all_plots_drawn_s_median": round(statistics.median(every), 3),
        "first_screen_s": [round(x, 3) for x in first], "all_plots_drawn_s": [round(x, 3) for x in every],
        "bounds": {"bytes": MAX_BYTES, "first_screen_s": MAX_FIRST_S, "all_plots_drawn_s": MAX_ALL_S},
    }
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    ok = size < MAX_BYTES and result["first_screen_s_median"] < MAX_FIRST_S and \
        result["all_plots_drawn_s_median"] < MAX_ALL_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
