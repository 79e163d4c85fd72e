"""The run record: the run directory and its typed manifest, the only contract between collection
and everything after it (analyze, compare, report, view).

Needs no torch. :func:`read_manifest` returns a :class:`Manifest` (older schema versions migrated),
:func:`write_manifest` and :func:`update_manifest` write one atomically, :class:`RunDirWriter` builds
a whole run directory atomically, :func:`iter_runs` walks a folder of runs or a sweep root.
"""

from .config import COMPILE_MODES, HOSTS, MEASUREMENT_FIELDS, WORKLOADS, RunConfig, safe_run_name
from .directory import (
    RunDirWriter,
    RunRecord,
    is_run_dir,
    iter_run_dirs,
    iter_runs,
    read_manifest,
    read_telemetry,
    remove_stale_temporaries,
    update_manifest,
    upgrade_layout,
    write_manifest,
)
from .layout import INDUCTOR_KERNELS, LAUNCH_MAP, LOG, MANIFEST, SWEEP_RUNS, TELEMETRY, TMP_PREFIX, TRACE, TRACE_NAMES
from .manifest import (
    SCHEMA_VERSION,
    AccuracyRow,
    Ceilings,
    CompileInfo,
    Device,
    Energy,
    Files,
    GpmSummary,
    HostInfo,
    Manifest,
    Memory,
    NvmlDevice,
    NvmlSummary,
    ProfileSettings,
    SeriesStats,
    Spread,
    TelemetryInfo,
    TelemetrySummary,
    Timings,
    Versions,
    decode_manifest,
    encode_manifest,
)
from .summary import summary_rows
from .telemetry import series_window_stats

__all__ = [
    "COMPILE_MODES", "HOSTS", "INDUCTOR_KERNELS", "LAUNCH_MAP", "LOG", "MANIFEST", "MEASUREMENT_FIELDS",
    "SCHEMA_VERSION", "SWEEP_RUNS", "TELEMETRY", "TMP_PREFIX", "TRACE", "TRACE_NAMES", "WORKLOADS", "AccuracyRow",
    "Ceilings", "CompileInfo", "Device", "Energy", "Files", "GpmSummary", "HostInfo", "Manifest", "Memory", "NvmlDevice",
    "NvmlSummary", "ProfileSettings", "RunConfig", "RunDirWriter", "RunRecord", "SeriesStats", "Spread",
    "TelemetryInfo", "TelemetrySummary", "Timings", "Versions", "decode_manifest", "encode_manifest", "is_run_dir",
    "iter_run_dirs", "iter_runs", "read_manifest", "read_telemetry", "remove_stale_temporaries", "safe_run_name",
    "series_window_stats", "summary_rows", "update_manifest", "upgrade_layout", "write_manifest",
]
