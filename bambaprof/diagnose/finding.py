"""A finding, how findings are ranked, and what the rules share: the analysis's kernel rows and GPU window read
the same way by each.

A :class:`Finding` has a stable ``id``, a ``severity`` (``high``, ``medium``, ``low``), one plain sentence with
numbers, the ``evidence`` it rests on (kernels, phases, series: names and figures), a ``suggestion`` where
there is a next thing to try, and ``time_us``, the GPU time at stake (us; ``None`` for findings that are not
about time). Findings are ranked by time at stake, the others after them by severity. The severity of a
timed finding is its share of the GPU window: at least :data:`HIGH_SHARE_PCT` is high, at least
:data:`MEDIUM_SHARE_PCT` medium.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..analysis.comms import is_collective_kernel
from ..analysis.modules import module_tail

HIGH_SHARE_PCT = 25.0
MEDIUM_SHARE_PCT = 5.0
#: A kernel (or a run's judged kernel time) at least this many times its roofline floor is far from it: far-from-roofline
#: fires there, and the rules about occupancy, DRAM and warps leave kernels nearer their floor alone.
FAR_FROM_ROOFLINE_X = 2.0
#: Platforms of a trace (``Trace.platform``) with torch.cuda's graphs and sync debug mode to point to (HIP's through
#: the same API); the others (``xpu``, out-of-tree backends) get advice without them.
CUDA_API_PLATFORMS = ("cuda", "rocm")
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
#: Findings raised once per kernel, whose first evidence row names it (``kernel``): one kernel's finding is not
#: another's when runs are compared.
PER_KERNEL_FINDINGS = frozenset({"low-occupancy", "small-grid", "partial-wave", "dram-overfetch", "warp-stalls",
                                 "issue-bound",
                                 "cache-bound"})


def severity_rank(severity: str) -> int:
    """0 for ``high``, 1 for ``medium``, 2 for ``low`` (and 3 for anything else): lower is worse."""
    return _SEVERITY_ORDER.get(severity, 3)


@dataclass
class Finding:
    id: str
    severity: str
    message: str
    evidence: List[Dict[str, Any]] = field(default_factory=list)
    suggestion: Optional[str] = None
    time_us: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def gpu_window_us(a: Any) -> float:
    s = a.summary
    return (s.get("gpu_busy_us") or 0.0) + (s.get("gpu_idle_us") or 0.0)


def host_wait_pct(a: Any) -> float:
    """The share (%) of the GPU window (:func:`gpu_window_us`) in which the GPU sat idle waiting on the host
    (``idle_host_wait_us``); 0 where that is unknown or the window is empty."""
    window = gpu_window_us(a)
    return 100.0 * (a.summary.get("idle_host_wait_us") or 0.0) / window if window > 0 else 0.0


def severity_of(time_us: float, window_us: float) -> str:
    share = 100.0 * time_us / window_us if window_us > 0 else 0.0
    return "high" if share >= HIGH_SHARE_PCT else "medium" if share >= MEDIUM_SHARE_PCT else "low"


def kernel_rows(a: Any) -> List[Dict[str, Any]]:
    return [k for k in a.kernels if k.get("kind") == "kernel"]


def kernel_total(a: Any) -> float:
    return sum(k["total_us"] for k in kernel_rows(a))


def time_based_finding(a: Any, finding: str, on_host: bool, time: float, total: float, at_stake: Optional[float],
                       message: str, evidence: List[Dict[str, Any]], suggestion: str) -> "Finding":
    """The finding of a rule judged on :func:`time_base`: in a CPU-only profile (``on_host``) its severity by
    ``time``'s share of ``total`` (the span) and no time at stake; else by ``at_stake``'s share of the GPU window."""
    if on_host:
        return Finding(finding, severity_of(time, total), message, evidence, suggestion, None)
    return Finding(finding, severity_of(at_stake or 0.0, gpu_window_us(a)), message, evidence, suggestion, at_stake)


def timed_rows(a: Any, table: str, keys: Tuple[str, str],
               min_pct: float) -> Optional[Tuple[bool, float, str, List[Dict[str, Any]], float]]:
    """The rows of analysis table ``table`` with time under ``keys`` (the host's key in a CPU-only profile, else the
    GPU's; :func:`time_base`), where their time is at least ``min_pct`` of the base: ``(on_host, total, key, rows,
    time)``; None where it is not, or no row has any."""
    on_host, total = time_base(a)
    key = keys[0] if on_host else keys[1]
    rows = [r for r in getattr(a, table, None) or () if r.get(key)]
    time = sum(r[key] for r in rows)
    if not rows or not total or total <= 0 or 100.0 * time / total < min_pct:
        return None
    return on_host, total, key, rows, time


def time_base(a: Any) -> Tuple[bool, float]:
    """What a rule that judges ops' time sets it against: ``(True, span)`` in a CPU-only profile (their host time
    against the trace's span, us), else ``(False, kernel time)`` (their GPU time against the summed kernel time)."""
    on_host = a.summary.get("platform") == "cpu"
    return on_host, (a.summary.get("span_us") or 0.0) if on_host else kernel_total(a)


def is_collective(k: Dict[str, Any]) -> bool:
    """Whether kernel row ``k`` is a collective (NCCL, RCCL, ...): it moves data between devices, so neither the
    DRAM roofline nor the SM occupancy judges it (exposed-communication does)."""
    return is_collective_kernel(str(k.get("name", "")))


def far_from_floor(k: Dict[str, Any]) -> bool:
    """Whether kernel row ``k`` has a roofline floor and takes at least FAR_FROM_ROOFLINE_X times it."""
    return bool(k.get("floor_us")) and k["total_us"] >= FAR_FROM_ROOFLINE_X * k["floor_us"]


def compile_mode(a: Any) -> Optional[str]:
    m = a.manifest
    return m.compile.mode if m is not None and m.compile is not None else None


#: The compile modes of ``bambaprof profile`` that capture no CUDA graphs (None: a run that recorded none).
GRAPHLESS_MODES = (None, "none", "default", "max-autotune-no-cudagraphs")


def graph_share(a: Any) -> float:
    """The share (0-1) of the trace's kernels launched from CUDA graphs."""
    kernels = a.summary.get("kernel_count") or 0
    return (a.launch.get("graph_kernels") or 0) / kernels if kernels else 0.0


#: A trace whose kernels come this much (share) from CUDA graphs is judged to run under graphs already.
GRAPHED_SHARE = 0.5


#: A rate this far above the PCIe link's did not cross it (NVLink-C2C on Grace Hopper, a rounding of short copies).
_LINK_SLACK = 1.1


def link_text(a: Any, gbps: Optional[float]) -> str:
    """``, N% of the PCIe G x W link's R GB/s`` for a host-device copy rate (GB/s), where the run recorded its
    device's PCIe link (NVML: ``device.nvml.pcie_*``) and the rate fits it; else empty (a bare trace does not say
    which link the copies crossed)."""
    nvml = a.manifest.device.nvml if a.manifest is not None and a.manifest.device is not None else None
    link = nvml.pcie_gbps if nvml is not None else None
    if not gbps or not link or not nvml.pcie_link or gbps > _LINK_SLACK * link:
        return ""
    return f", {100 * gbps / link:.0f}% of the {nvml.pcie_link} link's {link:.1f} GB/s"


def us_text(v: float) -> str:
    return f"{v / 1e3:,.2f} ms" if v >= 1e3 else f"{v:,.1f} us"


def in_module_text(kernel: Dict[str, Any]) -> str:
    """``, in Mamba2Mixer/Linear``: the module holding most of a kernel's time (its ``module_tail``), where
    the trace recorded module calls; else nothing."""
    tail = module_tail(kernel.get("module"))
    return f", in {tail}" if tail else ""


def major_capability(a: Any) -> Optional[int]:
    """The major compute capability of the trace's devices (``9`` for ``"9.0"``), or None where unknown."""
    head = str(a.summary.get("compute_capability") or "").split(".")[0]
    return int(head) if head.isdigit() else None


def launches_text(n: int) -> str:
    return f"{n} launch" if n == 1 else f"{n} launches"


def memory_figures(a: Any) -> tuple:
    """(peak reserved bytes, the device's memory in bytes) from the run's manifest, else the trace; each None or 0
    where unknown."""
    m = a.manifest
    s = a.summary
    reserved = (m.memory.peak_reserved_bytes if m is not None else None) or s.get("peak_reserved_bytes")
    total = (m.device.total_memory_bytes if m is not None and m.device is not None else None) \
        or s.get("device_memory_bytes")
    return reserved, total
