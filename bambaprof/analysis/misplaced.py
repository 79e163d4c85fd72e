"""Files of the tools bambaprof reads that were given where a trace goes, though they are read elsewhere.

An Nsight Compute report or CSV holds metrics per kernel and no timeline: ``analyze`` reads it with ``--ncu``
beside a trace of the same run. A rocprofv3 run is read from its kernel trace, with the files beside it
(HIP calls, copies, markers, agents); given one of those files instead, the error names the run's kernel trace.
For each, the error says where the file goes instead of only that it is not a trace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .ncu import REPORT_SUFFIXES, SOURCE_PAGE_HEADER
from .rocprof import KERNEL_TRACE, SIBLINGS

#: The header line of ``ncu --csv``'s table, maybe after ncu's log lines: ``"ID","Process ID",...`` (stricter than
#: the ``"ID"`` the reader looks for, since any CSV may start with an ID column).
NCU_CSV_HEADER = re.compile(rb'^(?:\xef\xbb\xbf)?"?ID"?,"?Process ID"?,', re.MULTILINE)
#: How far into a file its header is looked for (ncu prints ``==PROF==`` lines before it).
HEAD_BYTES = 65536

_NCU_WHERE = ("metrics per kernel without a timeline, read with --ncu beside a trace of the same run (bambaprof "
              "analyze TRACE --ncu {name})")


def misplaced_by_name(path: Path) -> Optional[str]:
    """Where a file that its name shows is another tool's, read elsewhere, goes instead; None for any other."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if path.suffix in REPORT_SUFFIXES:
        return "an Nsight Compute report: " + _NCU_WHERE.format(name=path.name)
    for sibling in SIBLINGS.values():
        if name.endswith(sibling):
            kernel_trace = name[:-len(sibling)] + KERNEL_TRACE
            return (f"rocprofv3's {sibling}, read with the run's kernel trace: give that ({kernel_trace}); the "
                    "files beside it with the same prefix are read with it")
    return None


def misplaced_by_text(head: bytes, name: str = "FILE") -> Optional[str]:
    """Where a file whose first bytes (inflated) show it is one of Nsight Compute's CSV pages goes instead (``name``:
    the file's, for the command); None otherwise."""
    head = head[:HEAD_BYTES]
    if NCU_CSV_HEADER.search(head):
        return "an Nsight Compute CSV: " + _NCU_WHERE.format(name=name)
    if SOURCE_PAGE_HEADER.search(head.decode("utf-8", "replace")):  # the reader's own test of a source page
        return ("an Nsight Compute source page (one kernel's instructions), which bambaprof does not read; --ncu reads "
                "the raw or details page beside a trace (ncu -i REPORT --csv --page raw)")
    return None
