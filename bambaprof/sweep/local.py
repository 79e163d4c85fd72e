"""The local launcher: configurations handed to one worker slot per device, each run in its own process.

A slot is a device (``CUDA_VISIBLE_DEVICES`` pins the run's process to it) or, on
the CPU, a worker number. Each configuration runs as ``python -m
bambaprof.sweep.worker``; a crash, an out-of-memory or a hang past
``timeout_s`` (the process is killed) fails that configuration only. The
coordinator (this process) alone writes the index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..run import read_manifest
from .index import SweepIndex


@dataclass
class _Job:
    run_id: str
    slot: str
    proc: subprocess.Popen
    started: float
    log: "tempfile._TemporaryFileWrapper"


def _tail(log) -> str:
    log.seek(0)
    lines = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("USDT", "Warning", "warnings.warn"))]
    return (useful or lines or [""])[-1][:300]


def _worker_env() -> Dict[str, str]:
    """This environment, with the folder this bambaprof is imported from first on PYTHONPATH, so that
    workers run the same code whatever the working directory (also from an uninstalled checkout)."""
    env = dict(os.environ)
    home = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([home] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_local(index: SweepIndex, slots: List[str], gpu: bool, timeout_s: Optional[float] = None,
              resume: bool = False, on_event: Optional[Callable[[str, str, str], None]] = None,
              poll_s: float = 0.2) -> SweepIndex:
    """Run every configuration not done (all of them unless ``resume``) over ``slots``."""
    todo = [e["run_id"] for e in index.entries if not (resume and e["state"] == "done")]
    for entry in index.entries:
        if not (resume and entry["state"] == "done"):
            entry["state"] = "pending"
    index.save()
    free = list(slots)
    running: Dict[str, _Job] = {}
    queue = list(todo)
    try:
        while queue or running:
            while queue and free:
                run_id = queue.pop(0)
                slot = free.pop(0)
                env = _worker_env()
                if gpu:
                    env["CUDA_VISIBLE_DEVICES"] = slot
                log = tempfile.TemporaryFile()
                proc = subprocess.Popen([sys.executable, "-m", "bambaprof.sweep.worker", str(index.root), run_id],
                                        stdout=log, stderr=subprocess.STDOUT, env=env)
                running[run_id] = _Job(run_id, slot, proc, time.monotonic(), log)
                index.mark(run_id, "running", device=slot)
                if on_event:
                    on_event("start", run_id, slot)
            time.sleep(poll_s)
            for run_id, job in list(running.items()):
                code = job.proc.poll()
                timed_out = code is None and timeout_s is not None and time.monotonic() - job.started > timeout_s
                if code is None and not timed_out:
                    continue
                if timed_out:
                    job.proc.kill()
                    job.proc.wait()
                    state, error = "failed", f"timed out after {timeout_s:g} s (killed)"
                else:
                    manifest = read_manifest(index.runs_dir / run_id)
                    if code == 0 and manifest is not None and manifest.ok:
                        state, error = "done", None
                    else:
                        state = "failed"
                        error = ((manifest.error if manifest is not None else None)
                                 or f"worker exited with {code}: {_tail(job.log)}")
                job.log.close()
                index.mark(run_id, state, error=error)
                free.append(job.slot)
                del running[run_id]
                if on_event:
                    on_event(state, run_id, error or "")
    except BaseException:
        for job in running.values():  # interrupted: stop the workers, leave them pending for --resume
            job.proc.kill()
            job.proc.wait()
            index.mark(job.run_id, "pending")
        raise
    return index
