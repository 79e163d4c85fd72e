"""Files of the tools bambaprof reads that were given where a trace goes, though they are read elsewhere.

An Nsight Compute report or CSV holds metrics per kernel and no timeline: ``analyze`` reads it with ``--ncu``
beside a trace of the same run. A rocprofv3 run is read from its kernel trace, with the files beside it
(HIP calls, copies, markers, agents); given one of those files instead, the error names the run's kernel trace.
A run directory's own files (its manifest, NVML telemetry, inductor's kernel counts) are read with the run: given
one, the error names the run directory. JSON documents that are not traces (``analyze`` and ``compare`` output
with ``--format json``, a PyTorch execution trace) are named by their top-level keys. For each, the error says where
the file goes instead of only that it is not a trace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from ..run.layout import INDUCTOR_KERNELS, MANIFEST, SIDE, TELEMETRY
from .ncu import REPORT_SUFFIXES, SOURCE_PAGE_HEADER
from .rocprof import KERNEL_TRACE, SIBLINGS
from .source import json_key_of

#: The header line of ``ncu --csv``'s table, maybe after ncu's log lines: ``"ID","Process ID",...`` (stricter than
#: the ``"ID"`` the reader looks for, since any CSV may start with an ID column).
NCU_CSV_HEADER = re.compile(rb'^(?:\xef\xbb\xbf)?"?ID"?,"?Process ID"?,', re.MULTILINE)
#: How far into a file its header is looked for (ncu prints ``==PROF==`` lines before it).
HEAD_BYTES = 65536

_NCU_WHERE = ("metrics per kernel without a timeline, read with --ncu beside a trace of the same run (bambaprof "
              "analyze TRACE --ncu {name})")


#: A run directory's side files (not the launch map: that is a trace), by name, with what each holds.
RUN_FILES = {Path(MANIFEST).name: "manifest", Path(TELEMETRY).name: "NVML telemetry",
             Path(INDUCTOR_KERNELS).name: "inductor kernel counts"}

#: JSON documents that are not traces, told by their top-level keys: (keys the document has, the first key, what it
#: is). The first key is the one the writer puts first (``analyze``'s summary, ``compare``'s baseline).
JSON_DOCUMENTS = (
    (("summary", "kernels"), "summary",
     "a bambaprof analysis (analyze --format json), not a trace: analyze or report the trace or run directory it came "
     "from (its summary's 'trace' names it)"),
    (("baseline", "candidate", "summary"), "baseline",
     "a bambaprof comparison (compare --format json), not a trace: compare the traces or runs it names"),
    (("schema", "clock", "nvml"), "schema",
     "bambaprof's NVML telemetry (a run directory's telemetry.json.gz), read with the run: give its run directory"),
    (("schema", "nodes"), "schema",
     "a PyTorch execution trace (ExecutionTraceObserver): its ops' graph, without times; analyze the profiler's "
     "(Kineto) trace recorded beside it"),
    (("schema_version", "run_id"), "schema_version",
     "a bambaprof run manifest: give its run directory"),
)


def misplaced_by_name(path: Path) -> Optional[str]:
    """Where a file that its name shows is another tool's, read elsewhere, goes instead; None for any other."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if path.parent.name == SIDE and path.name in RUN_FILES:
        return (f"a run directory's {RUN_FILES[path.name]} ({SIDE}/{path.name}), read with the run: give the run "
                f"directory ({path.parent.parent})")
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
    return json_document(head)


def json_document(head: bytes) -> Optional[str]:
    """What a JSON document that is not a trace is (:data:`JSON_DOCUMENTS`), told from its first bytes: its first
    key and the others it names; None for any other (a trace has ``traceEvents``)."""
    first = json_key_of(head)
    if first is None or b'"traceEvents"' in head:
        return None
    for keys, first_key, what in JSON_DOCUMENTS:
        if first_key is not None and first != first_key:
            continue
        if all(b'"' + k.encode() + b'"' in head for k in keys):
            return what
    return None
