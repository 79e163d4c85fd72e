"""Plotly figures as the report pages carry them: built as plain dicts, axis titles in plotly's object form,
numbers rounded, and packed (gzip + base64) into the page; the plotly.js bundle inlined once per page.

Everything untrusted that reaches a label goes through :func:`esc` (plotly renders a subset of HTML in labels).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from .._json import json_safe
from .._untrusted import printable


def esc(text: Any) -> str:
    """Text for plotly labels: control characters as escapes (:func:`~bambaprof._untrusted.printable`), then
    HTML-escaped (plotly renders a subset of HTML in labels)."""
    return html.escape(printable("" if text is None else str(text)), quote=True)



#: Stacked bars' colours: as many as the most series a chart stacks (TOP_PHASES), none of them grey.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#393b79", "#e7969c", "#637939", "#843c39", "#6b6ecf")
#: The colour of the "other" bars: grey, so that no kernel shares it.
OTHER_COLOUR = "#b0b0b0"


def figure(data: List[Dict[str, Any]], layout: Dict[str, Any]) -> Dict[str, Any]:
    """A plotly figure; every axis title in the object form (``{"text": ...}``): current plotly.js ignores the
    old string shorthand, and the axes rendered without titles."""
    base: Dict[str, Any] = {"margin": {"l": 60, "r": 20, "t": 40, "b": 60}, "template": None, "hovermode": "closest",
                            "colorway": list(COLOURS)}
    base.update(layout)
    for key, axis in base.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            if isinstance(axis.get("title"), str):
                axis["title"] = {"text": axis["title"]}
            axis.setdefault("automargin", True)  # room for long tick labels and the title, never overlapping
    return {"data": data, "layout": base}



#: Significant digits of the numbers in the figures' JSON: more than a chart or its hover can show.
FIGURE_DIGITS = 5


def _rounded(obj: Any) -> Any:
    """``obj`` with every float rounded to :data:`FIGURE_DIGITS` significant digits (the page's size)."""
    if isinstance(obj, float):
        return float(f"{obj:.{FIGURE_DIGITS}g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def script_json(obj: Any) -> str:
    """JSON safe inside a <script> block: '<', '>' and '&' are unicode-escaped; floats rounded (:func:`_rounded`)."""
    text = json.dumps(_rounded(json_safe(obj)), allow_nan=False, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def packed_figure(obj: Any) -> str:
    """A figure as the page carries it: its JSON (:func:`_script_json`) gzip-compressed and base64-encoded,
    which the page inflates with the browser's ``DecompressionStream``. Figures of repeated names and
    numbers shrink about fivefold; base64 holds no character that could end the script block."""
    return base64.b64encode(gzip.compress(script_json(obj).encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def unpack_figure(text: str) -> Dict[str, Any]:
    """The figure dict of :func:`packed_figure`'s text (tests and tools reading a report)."""
    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))



#: plotly.js's cartesian bundle (npm ``plotly.js-cartesian-dist-min``, MIT, its LICENSE beside it): the trace
#: types the report draws (bar, scatter) at 1.5 MB, against 4.8 MB for the full bundle with maps and 3D.
PLOTLY_BUNDLE = Path(__file__).parent / "static" / "plotly-cartesian.min.js"
#: The trace types the bundle holds that the report may use.
BUNDLED_TRACE_TYPES = frozenset({"bar", "scatter", "heatmap", "histogram", "box"})


def plotly_js() -> str:
    return PLOTLY_BUNDLE.read_text(encoding="utf-8")



def ceilings_of(kernels: Iterable[Dict[str, Any]]) -> Dict[str, float]:
    """Compute ceilings (TFLOP/s) by dtype: the peaks the analysis judged ``kernels`` by (measured, else
    datasheet), the first one seen for each dtype."""
    out: Dict[str, float] = {}
    for k in kernels:
        if k.get("peak_tflops") and k.get("dtype"):
            out.setdefault(k["dtype"], k["peak_tflops"])
    return out


def roofline_lines(peak_gbps: Optional[float], ceilings: Dict[str, float], lo: float, hi: float
                   ) -> List[Dict[str, Any]]:
    """The lines of a roofline over arithmetic intensities ``lo`` to ``hi`` (FLOP/byte): the bandwidth roof
    (``peak_gbps`` x intensity, TFLOP/s) up to where it meets the top ceiling, and each dtype's compute ceiling
    from where the roof reaches it."""
    lines: List[Dict[str, Any]] = []
    top = max(ceilings.values(), default=None)
    if peak_gbps:
        ridge = top * 1e3 / peak_gbps if top else hi  # FLOP/byte where the roof meets the top ceiling
        end = max(min(ridge, hi * 10), lo)
        lines.append({"type": "scatter", "mode": "lines", "name": f"bandwidth roof ({peak_gbps:,.0f} GB/s)",
                      "x": [lo, end], "y": [lo * peak_gbps / 1e3, end * peak_gbps / 1e3], "hoverinfo": "name",
                      "line": {"dash": "dash", "color": "#c0392b"}})
    for dtype, tflops in sorted(ceilings.items(), key=lambda kv: -kv[1]):
        start = max(tflops * 1e3 / peak_gbps, lo) if peak_gbps else lo
        lines.append({"type": "scatter", "mode": "lines", "name": f"{dtype} compute ceiling ({tflops:,.0f} TFLOP/s)",
                      "x": [start, max(hi, start * 3)], "y": [tflops, tflops], "hoverinfo": "name",
                      "line": {"dash": "dot", "color": "#555555"}})
    return lines
