"""The run manifest as typed records (msgspec structs), with a schema version and migrations.

A manifest is written by ``profile`` (``kind = "profile"``: one :class:`~bambaprof.run.RunConfig`
of bambaprof's matrix) or by :func:`bambaprof.record` (``kind = "record"``: the user's own code, no
configuration). Units are in the field names: ``_ms``, ``_us``, ``_bytes``, ``_gbps`` (1e9 bytes/s),
``_w``, ``_mhz``, ``_pct``. ``None`` is unknown, never zero.

Schema versions:

- 1 (bambaprof 0.1, the runs of ``traces/examples/``): no ``kind`` nor ``name``; configurations written
  before a field existed lack it (its default applies).
- 2: ``kind`` and ``name``; ``timings.warmup_ms`` and ``timings.profiled_steps`` for recorded runs.

:func:`decode_manifest` migrates older versions step by step (``MIGRATIONS``) and refuses newer ones.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional

import msgspec

from ..errors import BambaprofError
from .config import RunConfig

SCHEMA_VERSION = 2


class Record(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of the manifest's records: :meth:`to_dict` gives plain JSON-ready values."""

    def to_dict(self) -> Dict[str, Any]:
        return msgspec.to_builtins(self, enc_hook=str)  # str subclasses (TorchVersion) as text


class Spread(Record):
    """Statistics of repeated measurements (one unit, given by the field that holds them)."""

    median: Optional[float] = None
    mean: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    p10: Optional[float] = None
    p90: Optional[float] = None
    stdev: Optional[float] = None
    n: Optional[int] = None


class Timings(Record):
    """Measured iterations (ms): every one, their spread, and throughput from the median."""

    iteration_ms: List[float] = []
    latency_ms: Spread = msgspec.field(default_factory=Spread)
    ttft_ms: Optional[Spread] = None  # generation: time to first token
    inter_token_ms: Optional[Spread] = None  # generation: every later token
    tokens_per_iteration: Optional[int] = None
    throughput_tokens_per_s: Optional[float] = None
    first_call_ms: Optional[float] = None
    warmup_ms: List[float] = []  # recorded runs: the warm-up steps, left out of the statistics
    profiled_steps: List[int] = []  # recorded runs: indices (into every step) the profiler was active for


class Memory(Record):
    """Peak device memory (CUDA caching allocator), bytes; unknown on the CPU. And what the allocator asked of the
    driver during the measured iterations (``torch.cuda.memory_stats``: ``num_device_alloc``, ``num_device_free``,
    ``num_alloc_retries``): calls that allocated device memory (``cudaMalloc``, or ``cuMemMap`` with expandable
    segments), that freed it, and allocations that failed and were retried after the cache was freed. A steady
    state makes none; unknown on the CPU and on a torch without these counters."""

    peak_allocated_bytes: Optional[int] = None
    peak_reserved_bytes: Optional[int] = None
    device_allocs_measured: Optional[int] = None
    device_frees_measured: Optional[int] = None
    alloc_retries_measured: Optional[int] = None


class CompileInfo(Record):
    """torch.compile: the mode and options, the first call (ms) and what dynamo counted."""

    mode: str = "none"
    options: Dict[str, Any] = {}
    dynamic: bool = False
    first_call_ms: Optional[float] = None
    compile_time_ms: Optional[float] = None  # first call minus the median iteration
    frames_compiled: int = 0
    graph_breaks: int = 0
    graph_break_reasons: Dict[str, int] = {}
    recompiles_during_measurement: int = 0
    recompiles_during_profile: int = 0  # inside the profiled steps: the trace holds compilation work


class Energy(Record, kw_only=True):
    """The energy counter's difference over the telemetry window."""

    joules: Optional[float] = None
    joules_per_token: Optional[float] = None
    window_ms: Optional[float] = None  # absent in runs made before the window was extended
    iterations: Optional[int] = None


class SeriesStats(Record):
    """Mean and max of one telemetry series' samples inside a window, and how many there were."""

    mean: Optional[float] = None
    max: Optional[float] = None
    samples: int = 0


class NvmlSummary(Record):
    power_w: Optional[SeriesStats] = None
    sm_clock_mhz: Optional[SeriesStats] = None
    mem_clock_mhz: Optional[SeriesStats] = None
    gpu_util_pct: Optional[SeriesStats] = None
    temperature_c: Optional[SeriesStats] = None
    clock_event_reasons_seen: List[int] = []  # NVML clocks-event reason bit masks seen in the window


class GpmSummary(Record):
    dram_bw_util_pct: Optional[SeriesStats] = None
    sm_occupancy_pct: Optional[SeriesStats] = None
    sm_util_pct: Optional[SeriesStats] = None
    tensor_util_pct: Optional[SeriesStats] = None


class TelemetrySummary(Record):
    nvml: Optional[NvmlSummary] = None
    gpm: Optional[GpmSummary] = None  # None: no GPM on this device


class TelemetryInfo(Record):
    """Whether NVML was sampled (else ``notice`` says why) and its summary over the telemetry window."""

    available: bool = False
    notice: Optional[str] = None
    gpm: bool = False
    summary: TelemetrySummary = msgspec.field(default_factory=TelemetrySummary)


class ProfileSettings(Record):
    """The torch.profiler schedule and options, and the trace clock's offset from the monotonic clock."""

    wait: int = 0
    warmup: int = 0
    active: int = 0
    record_shapes: bool = True
    profile_memory: bool = True
    with_stack: bool = False
    clock_offset_us: Optional[float] = None  # trace-clock us minus monotonic us


class NvmlDevice(Record):
    """What NVML says of the device: name, driver, memory bus and clock, power limit (W), the peak DRAM bandwidth
    they imply (GB/s = bus bytes x max memory clock x 2), and the PCIe link the device and its slot can train to
    (generation, lanes) with its data rate in one direction (GB/s, after the line encoding)."""

    name: Optional[str] = None
    driver: Optional[str] = None
    uuid: Optional[str] = None
    nvml_index: Optional[int] = None
    memory_bus_width_bits: Optional[int] = None
    max_memory_clock_mhz: Optional[int] = None
    power_limit_w: Optional[float] = None
    peak_bandwidth_gbps: Optional[float] = None
    pcie_link_generation: Optional[int] = None
    pcie_link_width: Optional[int] = None
    pcie_gbps: Optional[float] = None

    @property
    def pcie_link(self) -> Optional[str]:
        """The link's name (``PCIe 5.0 x16``); None where the generation or width is unknown."""
        if self.pcie_link_generation is None or self.pcie_link_width is None:
            return None
        return f"PCIe {self.pcie_link_generation}.0 x{self.pcie_link_width}"


class Ceilings(Record, kw_only=True):
    """What the device reaches, measured (see :mod:`bambaprof.collect.ceilings`): copy GB/s (bytes read +
    written), matmul TFLOP/s in bfloat16 and float32, when and how."""

    copy_gbps: float
    bf16_tflops: Optional[float] = None
    fp32_tflops: Optional[float] = None
    measured: Optional[str] = None
    method: Optional[str] = None


class Device(Record):
    """The device the run measured: ``kind`` is ``cuda`` or ``cpu``."""

    kind: str = "cpu"
    name: Optional[str] = None
    compute_capability: Optional[str] = None
    multiprocessors: Optional[int] = None
    total_memory_bytes: Optional[int] = None
    threads: Optional[int] = None  # CPU: torch's intra-op threads
    peak_bandwidth_gbps: Optional[float] = None
    peak_bandwidth_source: Optional[str] = None
    nvml: Optional[NvmlDevice] = None
    ceilings: Optional[Ceilings] = None  # measured by profile (CUDA), cached per device


class Versions(Record):
    date: Optional[str] = None
    bambaprof: Optional[str] = None
    python: Optional[str] = None
    torch: Optional[str] = None
    cuda: Optional[str] = None
    triton: Optional[str] = None
    driver: Optional[str] = None
    device_name: Optional[str] = None
    launch_shortcut: Optional[str] = None  # "on"/"keyed"/"kept"/"off": bambaprof's Triton launches (ssm.kernels.launch)
    ssd_scan: Optional[str] = None  # the triton variant's chunk scan setting (BAMBAPROF_SSD_SCAN or the default)
    matmul_tf32: Optional[str] = None  # "on"/"off": cuBLAS may compute float32 matmuls in TF32 (CUDA runs)


#: The fields of :class:`Versions` that name the software stack a run's kernels came from.
SOFTWARE_STACK = ("torch", "cuda", "triton")
#: The fields of :class:`Versions` that are settings changing what runs (launch path, chunk scan, TF32 GEMMs):
#: two runs that differ in one ran different code, whatever their versions.
RUN_SETTINGS = ("launch_shortcut", "ssd_scan", "matmul_tf32")


class HostInfo(Record):
    """The host that issued the work, and how fast it ran Python around the measured steps: a fixed
    pure-Python loop timed just before and just after them (us, median of 5;
    :mod:`bambaprof.collect.host_speed`). Host-bound timings move with it."""

    cpu_model: Optional[str] = None
    logical_cpus: Optional[int] = None
    probe_before_us: Optional[float] = None
    probe_after_us: Optional[float] = None

    @property
    def probe_us(self) -> Optional[float]:
        """The probe's time (us): the mean of the two ends where both are known."""
        known = [v for v in (self.probe_before_us, self.probe_after_us) if v]
        return sum(known) / len(known) if known else None

    @property
    def probe_change(self) -> Optional[float]:
        """After over before: how much slower (above 1) the host ran Python at the end; None if unknown."""
        if self.probe_before_us and self.probe_after_us:
            return self.probe_after_us / self.probe_before_us
        return None


class Files(Record):
    """The run directory's files, by name; ``None`` when the run has none."""

    trace: Optional[str] = None
    telemetry: Optional[str] = None
    launch_map: Optional[str] = None  # runs that replay CUDA graphs: the same step without graphs
    inductor_kernels: Optional[str] = None  # compiled CUDA runs: inductor's counts by kernel name
    log: Optional[str] = None  # what the libraries wrote to stderr during the run


class AccuracyRow(Record, kw_only=True):
    """One variant on one prompt against the exact recurrence (``bambaprof accuracy --attach``)."""

    variant: str
    prompt: str
    batch: int = 1
    seq_len: int = 0
    chunks: int = 0
    new_tokens: int = 0
    reference_dtype: str = "float64"
    kl_mean: Optional[float] = None
    kl_max: Optional[float] = None
    top1_agreement_pct: Optional[float] = None
    greedy_agreement_pct: Optional[float] = None
    greedy_agreement_nocache_pct: Optional[float] = None
    first_divergence: Optional[int] = None
    status: str = "ok"
    perplexity: Optional[float] = None
    reference_perplexity: Optional[float] = None


class Manifest(Record, kw_only=True):
    """``manifest.json``: what ran, on what, how it went, and the files it left.

    ``status`` is ``ok`` or ``failed`` (then ``error`` holds one line and the measured sections are
    absent). ``config`` and ``model`` (the model's shapes) describe ``profile`` runs; a recorded run
    has neither.
    """

    schema_version: int = SCHEMA_VERSION
    kind: str = "profile"
    run_id: str
    name: str
    created: Optional[str] = None
    finished: Optional[str] = None
    command: Optional[str] = None
    status: str = "ok"
    error: Optional[str] = None
    versions: Versions = msgspec.field(default_factory=Versions)
    config: Optional[RunConfig] = None
    model: Optional[Dict[str, Any]] = None
    device: Optional[Device] = None
    timings: Optional[Timings] = None
    host: Optional[HostInfo] = None
    memory: Memory = msgspec.field(default_factory=Memory)
    compile: Optional[CompileInfo] = None
    energy: Optional[Energy] = None
    telemetry: TelemetryInfo = msgspec.field(default_factory=TelemetryInfo)
    profile: Optional[ProfileSettings] = None
    warnings: List[str] = []
    files: Files = msgspec.field(default_factory=Files)
    accuracy: List[AccuracyRow] = []

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def latency_ms(self) -> Optional[float]:
        """The median measured iteration (ms), or ``None``."""
        return self.timings.latency_ms.median if self.timings is not None else None

    @property
    def throughput_tokens_per_s(self) -> Optional[float]:
        return self.timings.throughput_tokens_per_s if self.timings is not None else None

    @property
    def joules_per_token(self) -> Optional[float]:
        return self.energy.joules_per_token if self.energy is not None else None

    @property
    def device_name(self) -> Optional[str]:
        return self.device.name if self.device is not None else None

    @property
    def gpm(self) -> GpmSummary:
        """The GPM summary (every series unknown when there was none)."""
        return self.telemetry.summary.gpm or GpmSummary()

    @property
    def sm_clock_mhz(self) -> Optional[float]:
        """The mean SM clock over the telemetry window (MHz, NVML); None when not sampled or not a clock
        (non-finite, zero or negative)."""
        nvml = self.telemetry.summary.nvml
        clock = nvml.sm_clock_mhz if nvml is not None else None
        mean = clock.mean if clock is not None and clock.samples else None
        return mean if mean is not None and math.isfinite(mean) and mean > 0 else None


def _v1_to_v2(data: Dict[str, Any]) -> Dict[str, Any]:
    """Version 1 had only ``profile`` runs: the name is the run id."""
    data = dict(data)
    data.setdefault("kind", "profile")
    if data.get("run_id") is not None:
        data.setdefault("name", data["run_id"])
    data["schema_version"] = 2
    return data


#: version -> the function that turns a manifest of that version into the next one.
MIGRATIONS: Dict[int, Callable[[Dict[str, Any]], Dict[str, Any]]] = {1: _v1_to_v2}

_DECODER = msgspec.json.Decoder()


def migrate(data: Dict[str, Any]) -> Dict[str, Any]:
    """``data`` (a decoded manifest of any known version) as the current schema version."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BambaprofError(f"not a run manifest (schema_version {version!r})")
    if version > SCHEMA_VERSION:
        raise BambaprofError(f"manifest schema version {version} is newer than this bambaprof reads "
                             f"({SCHEMA_VERSION}): upgrade bambaprof")
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data


def decode_manifest(raw: bytes, where: str = "manifest", run_id: Optional[str] = None) -> Manifest:
    """A :class:`Manifest` from JSON bytes of any known schema version; one-line
    :class:`~bambaprof.errors.BambaprofError` when it is not one. ``run_id`` stands in for a manifest
    without one (a hand-made one: the run directory's name)."""
    try:
        data = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise BambaprofError(f"{where}: unreadable ({exc})") from None
    except RecursionError:
        raise BambaprofError(f"{where}: unreadable (nested too deeply)") from None
    if not isinstance(data, dict):
        raise BambaprofError(f"{where}: not a run manifest (expected a JSON object)")
    if run_id is not None:
        data.setdefault("run_id", run_id)
    try:
        return msgspec.convert(migrate(data), Manifest, strict=False)
    except BambaprofError as exc:
        raise BambaprofError(f"{where}: {exc}") from None
    except msgspec.ValidationError as exc:
        raise BambaprofError(f"{where}: not a valid run manifest ({exc})") from None


def encode_manifest(manifest: Manifest) -> bytes:
    """Indented JSON of ``manifest`` (non-finite floats as ``null``), ending in a newline."""
    from .._json import json_safe

    text = msgspec.json.format(msgspec.json.encode(json_safe(manifest.to_dict())), indent=1)
    return text + b"\n"
