"""The names of the files and folders a run directory (and a sweep root) is made of.

This is the one home of these names: the collector writes them, every reader finds files through them.
"""

from __future__ import annotations

#: The run's manifest (JSON, :class:`bambaprof.run.Manifest`).
MANIFEST = "manifest.json"
#: The Kineto trace, gzipped.
TRACE = "trace.json.gz"
#: Names a run directory may hold its trace under, in order of preference (older runs and hand-made
#: folders may hold it uncompressed).
TRACE_NAMES = (TRACE, "trace.json")
#: For runs that replay CUDA graphs: one step of the same compiled code without graphs, gzipped Kineto trace,
#: whose launching ops give the replayed kernels their bytes (:mod:`bambaprof.analysis.launch_map`).
LAUNCH_MAP = "launch-map.json.gz"
#: For compiled CUDA runs: inductor's byte and FLOP counts by kernel name, read from its generated modules
#: (JSON, :mod:`bambaprof.collect.inductor_kernels`).
INDUCTOR_KERNELS = "inductor-kernels.json"
#: What the libraries wrote to stderr during the run (Kineto's session lines, allocator warnings): kept out
#: of the user's terminal (:mod:`bambaprof.collect.quiet`); absent when they wrote nothing.
LOG = "log.txt"
#: NVML/GPM samples as columns on the trace's clock (optional).
TELEMETRY = "telemetry.json.gz"
#: Prefix of the hidden folder a run directory is built in before it is renamed into place.
TMP_PREFIX = ".tmp-"
#: A sweep root keeps its run directories in this sub-folder, beside ``index.json`` and ``spec.json``.
SWEEP_RUNS = "runs"
