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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._json import json_safe
from .._untrusted import printable
from ..errors import UsageError

FORMATS = ("table", "json", "csv")


def sci(value: Any) -> str:
    """Scientific notation with 2 decimals (``1.23e-05``); unknown as empty."""
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
    (:func:`~bambaprof.analysis.names.kernel_display_name`) cut to ``width`` characters."""
    if value is None:
        return ""
    from ..analysis.names import kernel_display_name

    return shorten(kernel_display_name(str(value)), width)


def number(value: Any) -> str:
    """A number whose magnitude varies: ``12,345.6`` from 100 up, four significant digits below."""
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _scaled(value: Any, units: Tuple[Tuple[str, float], ...], last: str) -> str:
    for unit, scale in units:
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}{last}"


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


#: kind -> how a known cell value of that kind is written (numbers only, except the text kinds). The
#: unit is the column's: ``ms``, ``us`` and ``pct`` keep the value's unit and fix the decimals.
CELL_FORMATS: Dict[str, Callable[[Any], str]] = {
    "text": str,
    "int": lambda v: f"{v:d}" if isinstance(v, int) else f"{v:.0f}",
    "count": lambda v: f"{int(v):,d}" if float(v).is_integer() else f"{v:,.1f}",
    "ms": lambda v: f"{v:,.3f}",
    "us": lambda v: f"{v:,.1f}",
    "pct": lambda v: f"{v:.1f}",
    "ratio": lambda v: f"{v:.3f}",
    "times": lambda v: f"{v:.2f}x",
    "rate": lambda v: f"{v:,.0f}",
    "joules": lambda v: f"{v:.4f}",
    "num": number,
    "sci": sci,
    "bytes": lambda v: _scaled(v, (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)), " B"),
    "gb": lambda v: f"{v / 1e9:.2f}",
    "count_si": lambda v: _scaled(v, (("B", 1e9), ("M", 1e6), ("K", 1e3)), ""),
    "yes_no": yes_no,
    "noise": lambda v: "yes" if v else "no (noise)",
}
_NUMERIC = frozenset(CELL_FORMATS) - {"text", "yes_no", "noise"}


def format_cell(value: Any, kind: str = "text", width: Optional[int] = None) -> str:
    """One table cell: ``value`` written as ``kind`` (see :data:`CELL_FORMATS`; ``kernel`` is a kernel
    name's readable form), cut to ``width`` characters. Unknown values (``None``, and a number kind given
    something that is not a number) are empty cells, never a made-up number."""
    if value is None:
        return ""
    if kind == "kernel":
        return printable(kernel_label(value, width or 80))
    if kind in _NUMERIC and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        return ""
    text = printable(CELL_FORMATS[kind](value))
    return shorten(text, width) if width else text


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its header, the kind of its cells (:func:`format_cell`) and, for
    text, the widest a cell may be."""

    key: str
    header: str
    kind: str = "text"
    width: Optional[int] = None
    drop_rank: int = 0  # compact tables leave out columns of higher rank first to fit the width (0: never)

    def __post_init__(self) -> None:
        if self.kind not in CELL_FORMATS and self.kind != "kernel":
            raise ValueError(f"unknown cell kind {self.kind!r}")

    def cell(self, row: Dict[str, Any]) -> str:
        return format_cell(row.get(self.key), self.kind, self.width)


def to_json(obj: Any) -> str:
    """Indented JSON text of ``obj`` (through :func:`json_safe`), ending in a newline."""
    return json.dumps(json_safe(obj), indent=2) + "\n"


def render_rows(
    rows: Sequence[Dict[str, Any]],
    fmt: str = "table",
    columns: Optional[Sequence[Column]] = None,
    meta: Optional[Dict[str, Any]] = None,
    compact: bool = False,
    max_width: int = 120,
) -> str:
    """Render ``rows`` as ``fmt`` (``table``, ``json`` or ``csv``); returns text ending in a newline.

    ``meta`` (JSON only) wraps the rows as ``{**meta, "rows": rows}``. ``compact`` (table only) leaves out the
    columns that are empty in every row and narrows the width-limited text columns until a line fits
    ``max_width`` characters (they keep at least 16), then leaves out the columns of highest ``drop_rank``
    and says so in a last line.
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
        if not keys and columns:  # no rows: the header the columns name, so a reader still sees the fields
            keys = [c.key for c in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
        return buf.getvalue()
    cols = list(columns) if columns else [Column(k, k) for k in (rows[0] if rows else {})]
    if compact and rows:
        cols = [c for c in cols if any(c.cell(r).strip() not in ("", "-") for r in rows)]
    text = _table(rows, cols)
    dropped: List[str] = []
    while compact and max(map(len, text.splitlines()), default=0) > max_width:
        narrowable = [c for c in cols if c.width is not None and c.width > 16]
        droppable = [c for c in cols if c.drop_rank > 0]
        if narrowable:
            over = max(map(len, text.splitlines())) - max_width
            widest = max(narrowable, key=lambda c: c.width or 0)
            cols = [Column(c.key, c.header, c.kind, max(16, (c.width or 0) - over), c.drop_rank) if c is widest
                    else c for c in cols]
        elif droppable:
            gone = max(droppable, key=lambda c: c.drop_rank)
            dropped.append(gone.header)
            cols = [c for c in cols if c is not gone]
        else:
            break
        text = _table(rows, cols)
    if dropped:
        text += f"(left out to fit {max_width} columns: {', '.join(dropped)}; --format csv or json has them)\n"
    return text


def _table(rows: Sequence[Dict[str, Any]], cols: Sequence[Column]) -> str:
    body = [[c.cell(r) for c in cols] for r in rows]
    from tabulate import tabulate  # imported here: analyses that render no table skip its import (60 ms)

    return tabulate(body, headers=[c.header for c in cols], tablefmt="simple", disable_numparse=True) + "\n"
