"""Reading Nsight Compute's CSV (``ncu --csv``): one dict of metrics per profiled kernel.

ncu writes one row per (kernel, metric) with numbers formatted with thousands
separators; :func:`read_ncu_csv` folds them into one record per kernel ID, in
launch order, with numeric metric values as floats.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Dict, List, Union

from ..errors import BambaprofError


def _number(text: str):
    cleaned = text.replace(",", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        return text


def _dims(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.strip("() ").split(","))
    except ValueError:
        return ()


def read_ncu_csv(path: Union[str, Path]) -> List[Dict[str, object]]:
    """Records ``{"id", "name", "grid", "block", <metric>: value, ...}`` in kernel-ID order."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BambaprofError(f"{p}: cannot read Nsight Compute CSV ({exc})") from None
    # ncu may print log lines before the header; the header starts with "ID"
    start = text.find('"ID"')
    if start < 0:
        raise BambaprofError(f"{p}: not an Nsight Compute CSV (no \"ID\" header)")
    records: Dict[str, Dict[str, object]] = {}
    for row in csv.DictReader(io.StringIO(text[start:])):
        rec = records.setdefault(row["ID"], {
            "id": int(row["ID"]), "name": row.get("Kernel Name", ""),
            "grid": _dims(row.get("Grid Size", "")), "block": _dims(row.get("Block Size", "")),
        })
        rec[row["Metric Name"]] = _number(row.get("Metric Value", ""))
    return sorted(records.values(), key=lambda r: r["id"])
