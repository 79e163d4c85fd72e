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
       "gpm":  {"t_us": [...], "dram_bw_util_pct": [...], "sm_occupancy_pct": [...],
                "sm_util_pct": [...], "tensor_util_pct": [...]}}

  A column that the device cannot report holds ``null`` values or is absent.

Readers here never raise on a missing optional file: they return ``None``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Dict, Optional

from .errors import BambaprofError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
TRACE = "trace.json.gz"
TELEMETRY = "telemetry.json.gz"


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
