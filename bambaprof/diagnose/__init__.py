"""Diagnosis: an analysis turned into ranked findings with evidence and the next thing to try.

:func:`diagnose` applies every rule of :mod:`bambaprof.diagnose.rules` to an
:class:`~bambaprof.analysis.Analysis`; ``bambaprof.analyze`` puts the result in ``Analysis.findings``.
"""

from .rules import RULES, Finding, diagnose

__all__ = ["RULES", "Finding", "diagnose"]
