"""The run directory: the only contract between ``collect`` and everything after it.

A run directory ``traces/<run-id>/`` holds:

- ``manifest.json``: schema version, run id, creation time, command line,
  versions, device, workload configuration, timings, memory, compile and energy
  figures, and ``files`` naming the trace and telemetry files;
- ``trace.json.gz``: the Kineto trace;
- ``telemetry.json.gz`` (optional): NVML samples as columns, timestamps in
  microseconds on the trace's clock::

      {"schema": 1, "clock": "trace_us",
       "nvml": {"t_us": [...], "power_w": [...], "sm_clock_mhz": [...], "mem_clock_mhz": [...],
                "gpu_util_pct": [...], "mem_used_bytes": [...], "temperature_c": [...]},
       "gpm":  {"t_us": [...], "span_us": [...], "dram_bw_util_pct": [...], "sm_occupancy_pct": [...],
                "sm_util_pct": [...], "tensor_util_pct": [...]}}

  A GPM value describes the interval ``span_us`` long centred on its ``t_us`` (run
  directories written before ``span_us`` existed lack it). A column that the device
  cannot report holds ``null`` values or is absent. The manifest's ``energy`` is
  ``{"joules", "joules_per_token", "window_ms", "iterations"}`` over the telemetry
  window (the measured iterations and the untimed ones that extend it), or ``null``.

Readers here never raise on a missing optional file: they return ``None``.
A run directory is complete or absent: :class:`RunDirWriter` writes into a hidden
temporary folder beside it and renames it into place at the end; an interrupted
run leaves nothing under the final name (and its temporary folder is removed).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import uuid
from pathlib import Path
import math
from typing import Any, Dict, Iterator, List, Optional

from ._json import json_safe
from .errors import BambaprofError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
TRACE = "trace.json.gz"
TELEMETRY = "telemetry.json.gz"



def series_window_stats(times: Any, values: Any, lo: float, hi: float,
                        spans: Optional[List[float]] = None) -> Dict[str, Optional[float]]:
    """Mean and max of one telemetry series' finite samples inside ``[lo, hi]``, and how many there were.

    ``times`` and ``lo``/``hi`` share one unit (ns while sampling, us in a run directory). A sample with
    a span (GPM: the interval its value describes, centred on its time) counts only when its whole
    interval lies inside the window. Missing series, non-numbers and NaN or infinity are skipped.
    """
    if not isinstance(times, list) or not isinstance(values, list):
        return {"mean": None, "max": None, "samples": 0}
    spans = spans if isinstance(spans, list) else [0] * len(times)
    picked = [v for t, span, v in zip(times, spans, values)
              if isinstance(t, (int, float)) and isinstance(v, (int, float)) and isinstance(span, (int, float))
              and lo <= t - span / 2 and t + span / 2 <= hi and math.isfinite(v)]
    if not picked:
        return {"mean": None, "max": None, "samples": 0}
    return {"mean": sum(picked) / len(picked), "max": max(picked), "samples": len(picked)}

def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, EOFError, ValueError) as exc:
        raise BambaprofError(f"{path}: unreadable ({exc})") from None


def read_manifest(run_dir: Path) -> Optional[Dict[str, Any]]:
    """The run's manifest, or ``None`` when the directory has none."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict):
        raise BambaprofError(f"{path}: not a run manifest (expected a JSON object)")
    return data


def read_telemetry(run_dir: Path, manifest: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """The run's telemetry columns, or ``None`` when it has none."""
    name = TELEMETRY
    if manifest and isinstance(manifest.get("files"), dict):
        name = manifest["files"].get("telemetry") or name
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    data = _read_json(path)
    return data if isinstance(data, dict) else None


TMP_PREFIX = ".tmp-"


class RunDirWriter:
    """Builds ``root/<run_id>`` in a temporary folder; :meth:`commit` renames it into place."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.root = Path(root)
        self.run_id = run_id
        self.final = self.root / run_id
        self.tmp = self.root / f"{TMP_PREFIX}{run_id}-{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> "RunDirWriter":
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise BambaprofError(f"cannot create a run directory under {self.root}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.tmp.exists():  # not committed: an error or an interruption
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name: str) -> Path:
        return self.tmp / name

    def write_json(self, name: str, data: Any) -> None:
        """Write ``data`` as JSON; non-finite floats (NVML can report NaN) become ``null``."""
        text = json.dumps(json_safe(data), indent=1, default=str, allow_nan=False)
        if name.endswith(".gz"):
            with gzip.open(self.tmp / name, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            (self.tmp / name).write_text(text + "\n", encoding="utf-8")

    def commit(self) -> Path:
        """Move the finished folder to its final name (replacing an earlier run of the same id)."""
        old = None
        if self.final.exists():
            old = self.root / f"{TMP_PREFIX}old-{self.run_id}-{uuid.uuid4().hex[:6]}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporary folders left by runs that were killed; returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(TMP_PREFIX)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def iter_run_dirs(root: Path) -> Iterator[Path]:
    """Run directories (those with a manifest) directly under ``root``, by name."""
    root = Path(root)
    if not root.is_dir():
        return
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file():
            yield p
