"""Rows of results rendered as a terminal table (tabulate), JSON or CSV.

Rows are dicts. Columns choose and label what a table shows; JSON and CSV
carry every field of every row. ``None`` is an unknown value: an empty cell
in tables and CSV, ``null`` in JSON (never a made-up number).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from tabulate import tabulate

from .._json import json_safe
from ..errors import UsageError

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its header, and an optional cell formatter."""

    key: str
    header: str
    fmt: Optional[Callable[[Any], str]] = None


def sci(value: Any) -> str:
    """Scientific notation with 2 decimals (``1.23e-05``); unknown as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.2e}"


def shorten(value: Any, width: int = 60) -> str:
    """``value`` as text of at most ``width`` characters, cut in the middle (long C++ kernel
    names differ in their template arguments, so both ends matter)."""
    text = "" if value is None else str(value)
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[-(width - 3 - head):]


def kernel_label(value: Any, width: int = 80) -> str:
    """A kernel name as a table or chart shows it: its readable form
    (:func:`~bambaprof.analyze.names.kernel_display_name`) cut to ``width`` characters."""
    if value is None:
        return ""
    from ..analyze.names import kernel_display_name

    return shorten(kernel_display_name(str(value)), width)


def fixed(spec: str, suffix: str = "", kinds: tuple = (int, float)) -> Callable[[Any], str]:
    """A cell formatter: numbers of ``kinds`` as ``format(value, spec) + suffix``, anything else
    (unknown values included) as an empty cell. ``fixed(",.3f")``, ``fixed(".2f", "x")``."""

    def cell(value: Any) -> str:
        return f"{value:{spec}}{suffix}" if isinstance(value, kinds) else ""

    return cell


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


def to_json(obj: Any) -> str:
    """Indented JSON text of ``obj`` (through :func:`json_safe`), ending in a newline."""
    return json.dumps(json_safe(obj), indent=2) + "\n"


def render_rows(
    rows: Sequence[Dict[str, Any]],
    fmt: str = "table",
    columns: Optional[Sequence[Column]] = None,
    meta: Optional[Dict[str, Any]] = None,
) -> str:
    """Render ``rows`` as ``fmt`` (``table``, ``json`` or ``csv``); returns text ending in a newline.

    ``meta`` (JSON only) wraps the rows as ``{**meta, "rows": rows}``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "json":
        payload: Any = {**meta, "rows": list(rows)} if meta is not None else list(rows)
        return to_json(payload)
    if fmt == "csv":
        keys: List[str] = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
        return buf.getvalue()
    cols = list(columns) if columns else [Column(k, k) for k in (rows[0] if rows else {})]
    body = [
        [("" if r.get(c.key) is None else (c.fmt(r.get(c.key)) if c.fmt else r.get(c.key))) for c in cols]
        for r in rows
    ]
    return tabulate(body, headers=[c.header for c in cols], tablefmt="simple", disable_numparse=True) + "\n"
