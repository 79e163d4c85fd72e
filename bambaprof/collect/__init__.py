"""Collection: run a workload under torch.profiler and an NVML sampler into a run directory.

Entry points: :func:`run_one` (one :class:`RunConfig`), :func:`run_matrix` (many, with resume),
:func:`summary_rows` (the comparison table).
"""

from .config import RunConfig
from .runner import RunRecord, run_matrix, run_one, summary_rows

__all__ = ["RunConfig", "RunRecord", "run_matrix", "run_one", "summary_rows"]
