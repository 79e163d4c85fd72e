"""The sweep root and its index: every configuration with its state.

``<root>/spec.json`` holds the expanded configurations; ``<root>/index.json`` their
states: ``pending``, ``running`` (with the device and start time), ``done`` or
``failed`` (with the error). Run directories go to ``<root>/runs/``. The index is
rewritten atomically by one process (the coordinator) only.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from .._io import write_text_atomic
from ..errors import UsageError
from ..run import SWEEP_RUNS, RunConfig, RunRecord, read_manifest

STATES = ("pending", "running", "done", "failed")
INDEX = "index.json"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_problem(entry: Any) -> Optional[str]:
    """Why an index entry cannot be one (its run id names a directory under the root's runs, so it must be a
    plain name), or ``None``."""
    if not isinstance(entry, dict):
        return f"is {json.dumps(entry)[:60]}, not an object"
    run_id, state = entry.get("run_id"), entry.get("state")
    config = entry["config"] if "config" in entry else None  # the configuration's dict, as create() wrote it
    if not isinstance(run_id, str) or not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
        return f"has no plain run_id ({run_id!r})"
    if state not in STATES:
        return f"({run_id}) has state {state!r}, not one of {', '.join(STATES)}"
    if not isinstance(config, dict):
        return f"({run_id}) has no config object"
    try:
        RunConfig.from_dict(config)
    except Exception as exc:  # noqa: BLE001 - any way a config fails to read is this entry's problem
        return f"({run_id}) has a config that does not read ({str(exc).splitlines()[0][:160]})"
    return None


class SweepIndex:
    """The index of a sweep root (``root/index.json``)."""

    def __init__(self, root: Path, entries: List[Dict[str, Any]]) -> None:
        self.root = Path(root)
        self.entries = entries

    @property
    def path(self) -> Path:
        """The index file."""
        return self.root / INDEX

    @property
    def runs_dir(self) -> Path:
        return self.root / SWEEP_RUNS

    @classmethod
    def create(cls, root: Path, configs: List[RunConfig], spec: Optional[Dict[str, Any]] = None) -> "SweepIndex":
        """A new index, or the existing one extended with configurations it does not hold yet."""
        root = Path(root)
        existing = cls.load(root) if (root / INDEX).is_file() else cls(root, [])
        known = {e["run_id"] for e in existing.entries}
        for cfg in configs:
            if cfg.run_id() not in known:
                existing.entries.append({"run_id": cfg.run_id(), "config": cfg.to_dict(), "state": "pending",
                                         "error": None, "device": None, "started": None, "finished": None,
                                         "attempts": 0})
                known.add(cfg.run_id())
        if spec is not None:
            write_text_atomic(root / "spec.json", json.dumps(spec, indent=1, default=str) + "\n")
        existing.save()
        return existing

    @classmethod
    def load(cls, root: Path) -> "SweepIndex":
        path = Path(root) / INDEX
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{root}: not a sweep root (no {INDEX})") from None
        except ValueError as exc:
            raise UsageError(f"{path}: unreadable ({exc})") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
        entries = data.get("configs") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise UsageError(f"{path}: not a sweep index (expected {{\"configs\": [...]}})")
        for i, entry in enumerate(entries):
            problem = _entry_problem(entry)
            if problem:
                raise UsageError(f"{path}: configuration {i} {problem}")
        return cls(Path(root), entries)

    def save(self) -> None:
        write_text_atomic(self.root / INDEX, json.dumps({"configs": self.entries}, indent=1) + "\n")

    def mark(self, run_id: str, state: str, **fields: Any) -> None:
        entry = next(e for e in self.entries if e["run_id"] == run_id)
        entry["state"] = state
        if state == "running":
            entry["started"], entry["finished"], entry["error"] = _now(), None, None
            entry["attempts"] = entry.get("attempts", 0) + 1
        if state in ("done", "failed"):
            entry["finished"] = _now()
        entry.update(fields)
        self.save()

    def refresh(self, run_id: Optional[str] = None, fallback_error: Optional[str] = None) -> None:
        """Move running configurations to done or failed from the run directories their tasks wrote
        (what ``sweep status`` does for launchers that do not watch their tasks)."""
        for entry in self.entries:
            if entry["state"] != "running" or (run_id is not None and entry["run_id"] != run_id):
                continue
            run_dir = self.runs_dir / entry["run_id"]
            manifest = read_manifest(run_dir)
            if manifest is not None:
                self.mark(entry["run_id"], "done" if manifest.ok else "failed",
                          error=None if manifest.ok else manifest.error)
            elif fallback_error is not None:
                self.mark(entry["run_id"], "failed", error=fallback_error)

    def counts(self) -> Dict[str, int]:
        return {s: sum(1 for e in self.entries if e["state"] == s) for s in STATES}

    def records(self) -> List[RunRecord]:
        """One record per configuration: its run directory's manifest where there is one, else the state
        the index holds (``pending``, ``running``, or ``failed`` with the launcher's error)."""
        out = []
        for e in self.entries:
            run_dir = self.runs_dir / e["run_id"]
            manifest = read_manifest(run_dir)
            out.append(RunRecord(e["run_id"], e["state"], run_dir if manifest is not None else None, manifest,
                                 RunConfig.from_dict(e["config"]), e.get("error")))
        return out

    def done_dirs(self) -> List[Path]:
        """The run directories of the configurations that are done."""
        return [self.runs_dir / e["run_id"] for e in self.entries if e["state"] == "done"]
