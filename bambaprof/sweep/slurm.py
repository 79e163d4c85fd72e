"""The Slurm launcher: one job array through submitit, one configuration per task.

The sweep root must be on a path the compute nodes share. Each task runs
:mod:`bambaprof.sweep.worker` for its configuration; the index records each
configuration's job id, and its state comes from the run directory the task
writes (``bambaprof sweep status ROOT`` refreshes it). With ``wait`` the
launcher blocks until every task ends.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from ..errors import UsageError
from .index import SweepIndex


def _run_config_job(root: str, run_id: str) -> int:
    """What a Slurm task runs: one configuration; returns the worker's exit status."""
    from .worker import main

    return main([root, run_id])


def submit_slurm(
    index: SweepIndex,
    partition: Optional[str] = None,
    gpus_per_task: int = 0,
    time_min: int = 60,
    account: Optional[str] = None,
    sbatch: Optional[Dict[str, str]] = None,
    resume: bool = False,
    wait: bool = True,
    on_event: Optional[Callable[[str, str, str], None]] = None,
) -> SweepIndex:
    """Submit every configuration not done (all unless ``resume``) as one job array."""
    try:
        import submitit
    except ImportError:
        raise UsageError("--launcher slurm needs submitit (pip install submitit)") from None
    todo: List[str] = [e["run_id"] for e in index.entries if not (resume and e["state"] == "done")]
    if not todo:
        return index
    executor = submitit.AutoExecutor(folder=str(index.root / "slurm"), cluster="slurm")
    params = dict(timeout_min=time_min, cpus_per_task=1, slurm_array_parallelism=len(todo),
                  slurm_additional_parameters=dict(sbatch or {}))
    if partition:
        params["slurm_partition"] = partition
    if gpus_per_task:
        params["slurm_gpus_per_task"] = gpus_per_task
    if account:
        params["slurm_account"] = account
    executor.update_parameters(**params)
    try:
        jobs = executor.map_array(_run_config_job, [str(index.root)] * len(todo), todo)
    except Exception as exc:  # noqa: BLE001 - sbatch errors come in several types
        raise UsageError(f"Slurm refused the job array: {str(exc).strip().splitlines()[-1]}") from None
    for run_id, job in zip(todo, jobs):
        index.mark(run_id, "running", device=f"slurm:{job.job_id}", job_id=job.job_id)
        if on_event:
            on_event("start", run_id, job.job_id)
    if not wait:
        return index
    for run_id, job in zip(todo, jobs):
        try:
            code = job.result()
            error = f"worker exited with {code}" if code != 0 else None
        except Exception as exc:  # noqa: BLE001 - a failed or killed task
            error = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        index.refresh(run_id, fallback_error=error)
        entry = next(e for e in index.entries if e["run_id"] == run_id)
        if on_event:
            on_event(entry["state"], run_id, entry.get("error") or "")
    return index
