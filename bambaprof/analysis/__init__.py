"""Trace analysis: any Kineto trace, run directory or Nsight Systems export into tables of kernel, op and
timeline metrics.

Needs no GPU, model or torch. Entry points: :func:`analyze` (everything) and
:func:`load_trace` (the columnar trace, for your own analyses).
"""

from .analysis import Analysis, analyze, select_rows
from .source import TraceError
from .trace import Trace, load_trace

__all__ = ["Analysis", "Trace", "TraceError", "analyze", "load_trace", "select_rows"]
