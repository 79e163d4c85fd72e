"""The names of the files and folders a run directory (and a sweep root) is made of.

This is the one home of these names: the collector writes them, every reader finds files through them.
"""

from __future__ import annotations

#: The folder of a run directory that holds everything but the trace. Trace tools read every ``*.json`` and
#: ``*.gz`` file of a folder as a trace (HolisticTraceAnalysis does, and needs ``distributedInfo`` in each), so
#: the run's own files live one level down, where they do not look.
SIDE = "bambaprof"
#: The run's manifest (JSON, :class:`bambaprof.run.Manifest`).
MANIFEST = f"{SIDE}/manifest.json"
#: Where run directories written before the side folder hold their manifest (still read, and updated there).
LEGACY_MANIFEST = "manifest.json"
#: The Kineto trace, gzipped, named as ``tensorboard_trace_handler`` names a rank's trace (``*.pt.trace.json.gz``,
#: the pattern Kineto-based tools look for), with ``distributedInfo`` (rank 0 unless the job had ranks).
TRACE = "rank0.pt.trace.json.gz"
#: Names a run directory may hold its trace under, in order of preference (older runs and hand-made
#: folders: ``trace.json.gz``, or uncompressed).
TRACE_NAMES = (TRACE, "trace.json.gz", "trace.json")
#: For runs that replay CUDA graphs: one step of the same compiled code without graphs, gzipped Kineto trace,
#: whose launching ops give the replayed kernels their bytes (:mod:`bambaprof.analysis.launch_map`).
LAUNCH_MAP = f"{SIDE}/launch-map.json.gz"
#: For compiled CUDA runs: inductor's byte and FLOP counts by kernel name, read from its generated modules
#: (JSON, :mod:`bambaprof.collect.inductor_kernels`).
INDUCTOR_KERNELS = f"{SIDE}/inductor-kernels.json"
#: What the libraries wrote to stderr during the run (Kineto's session lines, allocator warnings): kept out
#: of the user's terminal (:mod:`bambaprof.collect.quiet`); absent when they wrote nothing.
LOG = f"{SIDE}/log.txt"
#: NVML/GPM samples as columns on the trace's clock (optional).
TELEMETRY = f"{SIDE}/telemetry.json.gz"
#: Prefix of the hidden folder a run directory is built in before it is renamed into place.
TMP_PREFIX = ".tmp-"
#: A sweep root keeps its run directories in this sub-folder, beside ``index.json`` and ``spec.json``.
SWEEP_RUNS = "runs"
