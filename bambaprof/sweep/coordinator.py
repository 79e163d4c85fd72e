"""A whole sweep from its spec: the worker slots, the launcher, the records and the report.

:func:`run_sweep` is what ``bambaprof sweep run`` does, callable from Python: it creates (or extends) the
sweep root's index, runs every configuration not done over local worker slots or a Slurm job array, and
returns a :class:`SweepResult` with one :class:`~bambaprof.run.RunRecord` per configuration and, where
runs finished, the HTML report it wrote into the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import UsageError
from ..run import RunRecord, remove_stale_temporaries
from .index import SweepIndex
from .spec import configs_from_spec

#: The sweep root's HTML report of its finished runs.
REPORT = "report.html"


@dataclass
class SlurmOptions:
    """How a Slurm job array is submitted: partition, GPUs per task, time limit (minutes), account,
    extra ``sbatch`` options, and whether to wait for the tasks."""

    partition: Optional[str] = None
    gpus_per_task: int = 0
    time_min: int = 60
    account: Optional[str] = None
    sbatch: Dict[str, str] = field(default_factory=dict)
    wait: bool = True


@dataclass
class SweepResult:
    """What a sweep left: its index, a record per configuration, and the report (if one was written)."""

    index: SweepIndex
    records: List[RunRecord]
    report: Optional[Path] = None

    @property
    def root(self) -> Path:
        return self.index.root


def local_slots(gpu: bool, devices: Optional[Sequence[str]] = None, workers: Optional[int] = None) -> List[str]:
    """Worker slots for the local launcher: one per GPU (``devices``, default every visible GPU), or on a
    CPU-only machine ``workers`` numbered slots (default 1)."""
    if gpu:
        if workers is not None:
            raise UsageError("--workers is for CPU-only machines; choose GPUs with --devices")
        if devices:
            return list(devices)
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    if devices:
        raise UsageError("--devices needs CUDA GPUs; on the CPU use --workers")
    if workers is not None and workers <= 0:
        raise UsageError("--workers must be positive")
    return [f"cpu{i}" for i in range(workers or 1)]


def run_sweep(spec: Dict, root: Path, launcher: str = "local", devices: Optional[Sequence[str]] = None,
              workers: Optional[int] = None, timeout_s: Optional[float] = None, resume: bool = False,
              slurm: Optional[SlurmOptions] = None, report: bool = True,
              on_event: Optional[Callable[[str, str, str], None]] = None) -> SweepResult:
    """Run the configurations of ``spec`` into the sweep root ``root``.

    ``on_event(kind, run_id, detail)`` hears ``start``, ``done`` and ``failed``. ``timeout_s`` kills and
    fails a configuration that runs longer. With ``report``, the finished runs' HTML report is written to
    ``root/report.html``. A Slurm sweep submitted without waiting returns records of the submitted state.
    """
    from ..ssm.capabilities import cuda_available

    if launcher not in ("local", "slurm"):
        raise UsageError(f"unknown launcher {launcher!r} (local or slurm)")
    if timeout_s is not None and timeout_s <= 0:
        raise UsageError("--timeout must be positive")
    gpu = cuda_available()
    slurm = slurm or SlurmOptions()
    if launcher == "slurm":
        if devices or workers is not None:
            raise UsageError("--devices and --workers are for the local launcher")
        if slurm.time_min <= 0 or slurm.gpus_per_task < 0:
            raise UsageError("--time must be positive and --gpus-per-task not negative")
        slots: List[str] = []
    else:
        slots = local_slots(gpu, devices, workers)
    target_gpu = gpu or (launcher == "slurm" and slurm.gpus_per_task > 0)
    configs = configs_from_spec(spec, "cuda" if target_gpu else "cpu")
    index = SweepIndex.create(Path(root), configs, spec)
    remove_stale_temporaries(index.runs_dir)  # left by workers killed hard (never a live run's)
    if launcher == "slurm":
        from .slurm import submit_slurm

        submit_slurm(index, slurm.partition, slurm.gpus_per_task, slurm.time_min, slurm.account, slurm.sbatch,
                     resume, slurm.wait, on_event)
        if not slurm.wait:
            return SweepResult(index, index.records())
    else:
        from .local import run_local

        run_local(index, slots, gpu, timeout_s, resume, on_event)
    written = None
    done = index.done_dirs()
    if report and done:
        from .._io import write_text_atomic
        from ..render.html import build_report

        written = write_text_atomic(index.root / REPORT, build_report(done, title=f"sweep {index.root.name}"))
    return SweepResult(index, index.records(), written)


def sweep_status(root: Path) -> SweepIndex:
    """The index of the sweep root ``root``, with running configurations moved to done or failed from the
    run directories their tasks wrote."""
    index = SweepIndex.load(Path(root))
    remove_stale_temporaries(index.runs_dir)  # left by workers killed hard
    index.refresh()
    return index
