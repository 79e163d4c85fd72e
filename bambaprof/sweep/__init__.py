"""Sweeps: a matrix of configurations spread over workers, with an index of their states.

:func:`run_sweep` runs a spec (:mod:`bambaprof.sweep.spec`) over local workers or Slurm;
:func:`sweep_status` reads a sweep root's index.
"""

from .coordinator import SlurmOptions, SweepResult, local_slots, run_sweep, sweep_status

__all__ = ["SlurmOptions", "SweepResult", "local_slots", "run_sweep", "sweep_status"]
