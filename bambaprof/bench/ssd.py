"""Benchmark of SSD cores: every variant (and mamba_ssm's when given) at a list of shapes.

For each (variant, shape):

- **time**: the median of many calls after a warm-up (Triton autotuning and
  compilation happen in the warm-up), with CUDA events through
  ``triton.testing.do_bench`` on a GPU and the wall clock on the CPU; each call
  takes the next of several input sets, enough of them to exceed twice the L2
  cache, so that repeated calls do not read from cache. The cores of a shape are
  timed side by side in interleaved rounds (each core once a round, the order
  rotating), and the time is the median of the round medians;
- **tokens/s** = batch x length / time;
- **achieved GB/s** = the minimum bytes / time, where the minimum bytes are every
  input read once and every output written once: x, dt, B, C in their dtype,
  A, D, dt_bias in float32, y in x's dtype, the final state in float32;
- **% of roofline floor**: floor = max(minimum bytes / measured copy bandwidth,
  minimum FLOPs / measured matmul rate), and % = floor / time. Minimum FLOPs of
  the chunked algorithm (chunk Q): per head 4 L p n (chunk states and their
  output) + L Q p (the causal half of the intra-chunk product with x), and per
  group L Q n (the causal half of C B^T);
- **% of the FLOP floor** (kernel time): the FLOP term alone, minimum FLOPs / measured matmul rate
  (``flop_floor_ms``), over the kernel time: where the bytes' term is the larger (an H100 at Bamba's
  shapes) it differs from the roofline's %, and it is the figure a target stated against the FLOP floor
  asks for;
- **kernel time** (GPU only): the GPU time per call of everything the call runs on the
  device (kernels, memsets, copies), from the PyTorch profiler (CUPTI): the summed durations
  of those activities over a batch of 10 calls, divided by the calls; the median of the
  batches, one a round. It excludes the host's launch cost and the gaps between launches, so small shapes
  compare fairly; ``launches`` counts the device activities per call. Off a GPU it is unknown;
- ratios are against a baseline core (mamba_ssm's when given, else the first): wall time and
  kernel time, each to the baseline's of the same shape;
- configurations that run out of memory are reported as ``out of memory``;
- **clocks** (GPU with NVML): an NVML sampler (every 20 ms, in a child process) runs through the
  benchmark, and each row gets the samples stamped inside its own timing windows: the median SM
  clock (MHz), the median power (W) and ``clock_held_pct``, the share of those samples whose
  clock-event reasons include a power cap, thermal or hardware slowdown (so a core that runs the GPU
  into its power limit shows it, and a ratio between rows at different clocks can be read as such).
  The windows are the wall-time measurements (``do_bench``: its warm-up and timed calls), after a
  first call that compiles and autotunes, and not the profiled batch, whose setup leaves the GPU idle;
  ``clock_samples`` counts the samples inside them.
  Unknown without NVML, off a GPU, or when no sample fell inside the row's windows.

The ceilings are measured once per run: a large device-to-device copy (bytes
read + written) and a large matrix product in the benchmark's dtype.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch

from .._memory import TooLarge, is_out_of_memory, require_bytes
from ..analysis.ssd_kernels import minimum_bytes as ssd_minimum_bytes
from ..analysis.ssd_kernels import minimum_flops as ssd_minimum_flops
from ..errors import first_line
from ..ssm.check import Shape, make_inputs

if TYPE_CHECKING:
    from ..ssm import Variant


@dataclass
class Ceilings:
    """Measured copy bandwidth (GB/s, read + written) and matmul rate (TFLOP/s)."""

    copy_gbps: float
    matmul_tflops: float
    matmul_dtype: str


def median_ms(fn: Callable[[], Any], device: str, warmup_ms: float = 50, rep_ms: float = 200) -> float:
    """Median time of ``fn`` (ms): CUDA events via ``triton.testing.do_bench`` on a GPU, wall clock on the CPU."""
    if device.startswith("cuda"):
        import triton

        return float(triton.testing.do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median"))
    fn()
    times = []
    deadline = time.perf_counter() + rep_ms / 1e3
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 1000):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


@dataclass
class KernelTime:
    """GPU time per call (ms) of a callable's device activities, their count per call, and the time per
    activity name (us per call)."""

    ms: float
    launches: float
    by_name_us: Dict[str, float]


class Timed(NamedTuple):
    """What :func:`_interleaved` measured of one call: wall median (ms), kernel time, status, and the
    ``(start, end)`` monotonic-ns windows its timing ran in (for the clock samples)."""

    ms: Optional[float]
    kernel: Optional[KernelTime]
    status: str
    windows: Tuple[Tuple[int, int], ...] = ()


@dataclass
class ClockStats:
    """NVML samples inside a row's timing windows: median SM clock (MHz), median power (W), % of samples whose
    clock-event reasons include a power cap, thermal or hardware slowdown, and the sample count."""

    sm_clock_mhz: Optional[float] = None
    power_w: Optional[float] = None
    clock_held_pct: Optional[float] = None
    samples: int = 0


def clock_stats(nvml: Mapping[str, Sequence[Any]], windows: Sequence[Tuple[int, int]]) -> ClockStats:
    """:class:`ClockStats` of the NVML columns ``nvml`` (``t_ns``, ``sm_clock_mhz``, ``power_w``,
    ``clock_event_reasons``, as :class:`~bambaprof.collect.nvml.NvmlSampler` keeps them) over the samples
    stamped inside any of ``windows`` (monotonic ns, inclusive). A series without readings there is unknown."""
    from ..collect.nvml import CLOCK_HELD_DOWN_MASK

    stamps = nvml.get("t_ns") or []
    inside = [i for i, t in enumerate(stamps) if any(t0 <= t <= t1 for t0, t1 in windows)]

    def readings(name: str) -> List[Any]:
        column = nvml.get(name) or []
        return [column[i] for i in inside if i < len(column) and column[i] is not None]

    clocks, power, reasons = readings("sm_clock_mhz"), readings("power_w"), readings("clock_event_reasons")
    return ClockStats(
        sm_clock_mhz=float(statistics.median(clocks)) if clocks else None,
        power_w=float(statistics.median(power)) if power else None,
        clock_held_pct=100.0 * sum(1 for r in reasons if int(r) & CLOCK_HELD_DOWN_MASK) / len(reasons) if reasons else None,
        samples=len(inside))


def _start_clock_sampler(device: str) -> Any:
    """An NVML sampler (20 ms, child process) started for a CUDA ``device``; ``None`` off CUDA or without NVML."""
    if not device.startswith("cuda"):
        return None
    from ..collect.nvml import NvmlUnavailable, ProcessSampler, PynvmlBackend, nvml_device

    try:
        return ProcessSampler(functools.partial(PynvmlBackend, nvml_device(device))).start()
    except NvmlUnavailable:
        return None


def _stop_clock_sampler(sampler: Any) -> Mapping[str, Sequence[Any]]:
    """Stop ``sampler`` (``None`` allowed) and return its NVML columns (empty without one)."""
    if sampler is None:
        return {}
    sampler.stop()
    return sampler.nvml


def kernel_time(fn: Callable[[], Any], calls: int = 10, batches: int = 5) -> KernelTime:
    """The device time per call of ``fn`` from the PyTorch profiler (see the module docstring): summed
    activity durations over ``calls`` calls / ``calls``, the median of ``batches`` batches. CUDA only."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    per_batch: List[Tuple[float, int, Dict[str, float]]] = []
    for _ in range(batches):
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                fn()
            torch.cuda.synchronize()
        total, count = 0.0, 0
        names: Dict[str, float] = {}
        for evt in prof.events():
            if evt.device_type != DeviceType.CUDA:
                continue
            us = evt.time_range.elapsed_us()
            total += us
            count += 1
            names[evt.name] = names.get(evt.name, 0.0) + us / calls
        per_batch.append((total / calls, count, names))
    per_batch.sort(key=lambda t: t[0])
    us, count, names = per_batch[len(per_batch) // 2]
    return KernelTime(us / 1e3, count / calls, names)


def _copy_ms(device: str, n_bytes: int) -> float:
    src = torch.empty(n_bytes, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    return median_ms(lambda: dst.copy_(src), device)  # the buffers go when this returns


def _matmul_ms(device: str, m: int, dtype: torch.dtype) -> float:
    a = torch.randn(m, m, device=device, dtype=dtype)
    b = torch.randn(m, m, device=device, dtype=dtype)
    return median_ms(lambda: a @ b, device)


def measure_ceilings(device: str, dtype: torch.dtype) -> Ceilings:
    """Copy bandwidth over a 1 GiB (GPU) / 64 MiB (CPU) buffer and the matmul rate at 8192^3 (GPU) / 1024^3 (CPU)."""
    on_gpu = device.startswith("cuda")
    n_bytes = (1 << 30) if on_gpu else (64 << 20)
    m = 8192 if on_gpu else 1024
    mdtype = dtype if on_gpu else torch.float32
    copy_ms, mm_ms = _copy_ms(device, n_bytes), _matmul_ms(device, m, mdtype)
    return Ceilings(2 * n_bytes / (copy_ms * 1e6), 2 * m ** 3 / (mm_ms * 1e9), str(mdtype).replace("torch.", ""))


def _attempt(time_it: Callable[[], float]) -> tuple:
    """``(median ms, "ok")``, or ``(None, "out of memory" | "error: ...")`` when timing fails."""
    try:
        with torch.no_grad():
            return time_it(), "ok"
    except Exception as exc:  # noqa: BLE001 - one failing core must not stop the benchmark
        if is_out_of_memory(exc):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return None, "out of memory"
        return None, f"error: {first_line(exc)[:200]}"


def _interleaved(calls: Dict[str, Callable[[], Any]], device: str, rep_ms: float, rounds: int, on_gpu: bool,
                 progress: Optional[Callable[[str], None]] = None
                 ) -> Dict[str, Timed]:
    """Wall median (ms), kernel time and status of each call, measured side by side: in each of ``rounds``
    rounds every call gets a wall median over ``rep_ms / rounds`` and one profiled batch of 10 calls (GPU
    only), the order rotating by one each round. The results are the median of the round medians and the
    median batch, so a drift of the device (clocks, temperature) or a position in the order weighs on every
    call alike. A call that fails is reported with its status and left out of later rounds. Each call's
    timing windows (monotonic ns) come back with it."""
    names = list(calls)
    windows: Dict[str, List[Tuple[int, int]]] = {name: [] for name in names}
    walls: Dict[str, List[float]] = {name: [] for name in names}
    batches: Dict[str, List[KernelTime]] = {name: [] for name in names}
    status = {name: "ok" for name in names}
    rounds = max(1, rounds)
    share = rep_ms / rounds
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if status[name] != "ok":
                continue
            if progress:
                progress(f"{name} round {r + 1}/{rounds}")
            call = calls[name]
            if r == 0 and on_gpu:
                # compile and autotune before the clock window opens: a peer's autotuning (seconds, the GPU
                # mostly idle) or a first compile would fill the row's samples with idle readings
                _attempt(call)
                torch.cuda.synchronize(device)
            start = time.monotonic_ns()
            ms, status[name] = _attempt(lambda: median_ms(call, device, rep_ms=share))  # noqa: B023 - called at once
            if ms is None:
                continue
            windows[name].append((start, time.monotonic_ns()))  # the timed calls only: the profiler's setup idles
            walls[name].append(ms)
            if on_gpu:
                kt, st = _attempt(lambda: kernel_time(call, batches=1))  # noqa: B023 - called at once
                if kt is None:
                    status[name] = f"kernel time: {st}"
                    continue
                batches[name].append(kt)
    out: Dict[str, Timed] = {}
    for name in names:
        wall = statistics.median(walls[name]) if walls[name] else None
        ordered = sorted(batches[name], key=lambda k: k.ms)
        spans = tuple(windows[name])
        if status[name] == "ok":
            out[name] = Timed(wall, ordered[len(ordered) // 2] if ordered else None, "ok", spans)
        elif status[name].startswith("kernel time:"):
            out[name] = Timed(wall, None, status[name], spans)  # the wall time stands; the profiler failed
        else:
            out[name] = Timed(None, None, status[name])
    return out


def _rotating(core: Callable[..., Any], sets: List[dict], chunk_size: int) -> Callable[[], Any]:
    """A call of ``core`` on the next input set each time (so repeated calls do not hit the cache)."""
    turn = [0]

    def call() -> Any:
        inp = sets[turn[0] % len(sets)]
        turn[0] += 1
        return core(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], chunk_size, D=inp["D"],
                    dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)

    return call


def minimum_bytes(shape: Shape, dtype: torch.dtype) -> int:
    """Every input read once and every output written once (bytes; the analysis's definition,
    :func:`bambaprof.analysis.ssd_kernels.minimum_bytes`)."""
    return ssd_minimum_bytes(shape.batch, shape.seq_len, shape.heads, shape.head_dim, shape.groups, shape.state,
                             torch.empty((), dtype=dtype).element_size())


def minimum_flops(shape: Shape) -> int:
    """Minimum FLOPs of the chunked algorithm (see the module docstring)."""
    return ssd_minimum_flops(shape.batch, shape.seq_len, shape.heads, shape.head_dim, shape.groups, shape.state,
                             shape.chunk_size)


@dataclass
class BenchRecord:
    variant: str
    batch: int
    seq_len: int
    heads: int
    head_dim: int
    state: int
    groups: int
    chunk_size: int
    dtype: str
    status: str
    median_ms: Optional[float] = None
    tokens_per_s: Optional[float] = None
    achieved_gbps: Optional[float] = None
    roofline_floor_ms: Optional[float] = None
    pct_of_roofline: Optional[float] = None
    kernel_ms: Optional[float] = None
    launches: Optional[float] = None
    kernel_pct_of_roofline: Optional[float] = None
    flop_floor_ms: Optional[float] = None
    kernel_pct_of_flop_floor: Optional[float] = None
    baseline: Optional[str] = None
    vs_baseline: Optional[float] = None
    kernel_vs_baseline: Optional[float] = None
    sm_clock_mhz: Optional[float] = None
    power_w: Optional[float] = None
    clock_held_pct: Optional[float] = None
    clock_samples: Optional[int] = None
    kernels_us: Optional[Dict[str, float]] = None
    #: The kernel that takes most of a call's GPU time, with its share: which kernel ran where a core picks one by
    #: shape (the ``triton`` variant's chunk scan, Triton's or Gluon's).
    top_kernel: Optional[str] = None
    autotune: Optional[Dict[str, str]] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _input_sets(shape: Shape, dtype: torch.dtype, device: str, l2_bytes: int) -> List[dict]:
    per_set = minimum_bytes(shape, dtype)
    count = max(1, min(16, math.ceil(2 * l2_bytes / max(per_set, 1))))
    return [make_inputs(shape, dtype, device, seed=i, initial_state=False) for i in range(count)]


def _no_inputs(exc: Exception, names: Sequence[str], base: Dict[str, Any], records: List[BenchRecord],
               timed_rows: List[Timed]) -> None:
    """A shape whose inputs cannot be allocated: an ``out of memory (inputs)`` row for every core (any other
    failure is raised)."""
    if not (isinstance(exc, TooLarge) or is_out_of_memory(exc)):
        raise exc
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    status = "out of memory (inputs)"
    records.extend(BenchRecord(variant=name, status=status, **base) for name in names)
    timed_rows.extend(Timed(None, None, status) for _ in names)


def _shape_fields(shape: Shape, dtype: torch.dtype) -> Dict[str, Any]:
    """The shape and dtype columns every :class:`BenchRecord` of ``shape`` carries."""
    from ..model.config import dtype_name

    return dict(batch=shape.batch, seq_len=shape.seq_len, heads=shape.heads, head_dim=shape.head_dim,
                state=shape.state, groups=shape.groups, chunk_size=shape.chunk_size, dtype=dtype_name(dtype))


def bench_ssd(
    cores: Dict[str, Callable[..., Any]],
    shapes: Sequence[Shape],
    dtype: torch.dtype,
    device: str,
    ceilings: Optional[Ceilings] = None,
    rep_ms: float = 200,
    progress: Optional[Callable[[str], None]] = None,
    baseline: Optional[str] = None,
    rounds: int = 5,
) -> List[BenchRecord]:
    """Time every core at every shape. ``cores`` maps a name to a callable with the SSD contract;
    ratios are to ``baseline`` (a name in ``cores``; default: the first). The cores of a shape are
    timed in ``rounds`` interleaved rounds (see :func:`_interleaved`), ``rep_ms`` in all per core."""
    on_gpu = device.startswith("cuda")
    l2 = torch.cuda.get_device_properties(device).L2_cache_size if on_gpu else 0
    return _with_clocks(device, lambda: _bench_ssd_shapes(cores, shapes, dtype, device, ceilings, rep_ms, progress,
                                                          baseline, rounds, on_gpu, l2))


def _with_clocks(device: str, bench: Callable[[], Tuple[List[BenchRecord], List[Timed]]]) -> List[BenchRecord]:
    """Run ``bench`` (rows and their :class:`Timed`, row for row) under an NVML sampler where there is one,
    and give each row the clock statistics of its own timing windows."""
    sampler = _start_clock_sampler(device)
    try:
        records, timed = bench()
    finally:
        nvml = _stop_clock_sampler(sampler)
    if sampler is not None:
        for record, t in zip(records, timed):
            stats = clock_stats(nvml, t.windows)
            record.sm_clock_mhz, record.power_w, record.clock_held_pct, record.clock_samples = (
                stats.sm_clock_mhz, stats.power_w, stats.clock_held_pct, stats.samples)
    return records


def _bench_ssd_shapes(cores: Dict[str, Callable[..., Any]], shapes: Sequence[Shape], dtype: torch.dtype, device: str,
                      ceilings: Optional[Ceilings], rep_ms: float, progress: Optional[Callable[[str], None]],
                      baseline: Optional[str], rounds: int, on_gpu: bool, l2: int
                      ) -> Tuple[List[BenchRecord], List[Timed]]:
    records: List[BenchRecord] = []
    timed_rows: List[Timed] = []
    for shape in shapes:
        base = _shape_fields(shape, dtype)
        try:
            sets = _input_sets(shape, dtype, device, l2)
        except Exception as exc:  # noqa: BLE001 - a shape too large is a row, not the end of the benchmark
            _no_inputs(exc, list(cores), base, records, timed_rows)
            continue
        nbytes = minimum_bytes(shape, dtype)
        floor = flop_floor = None
        if ceilings is not None:
            flop_floor = minimum_flops(shape) / (ceilings.matmul_tflops * 1e9)
            floor = max(nbytes / (ceilings.copy_gbps * 1e6), flop_floor)
        where = f"b={shape.batch} L={shape.seq_len}"
        _retune(cores.values())
        timed = _interleaved({name: _rotating(core, sets, shape.chunk_size) for name, core in cores.items()},
                             device, rep_ms, rounds, on_gpu,
                             (lambda line, at=where: progress(f"{line} {at}")) if progress else None)
        records.extend(_with_picks(_record(name, timed[name], shape, base, on_gpu, nbytes, floor, flop_floor), core)
                       for name, core in cores.items())
        timed_rows.extend(timed[name] for name in cores)
        _set_ratios(records[-len(cores):], baseline or next(iter(cores)))
        del sets
        if on_gpu:
            torch.cuda.empty_cache()
    return records, timed_rows


def _record(name: str, timed: Timed, shape: Shape, base: Dict[str, Any],
            on_gpu: bool, nbytes: Optional[int] = None, floor: Optional[float] = None,
            flop_floor: Optional[float] = None) -> BenchRecord:
    """One row from :func:`_interleaved`'s :class:`Timed`; achieved GB/s from ``nbytes``
    (the minimum bytes), % of the roofline from ``floor`` and of the FLOP floor from ``flop_floor`` (ms) where
    given. A row without a wall time, or without a kernel time on a GPU, keeps only its status (and the wall time
    it has)."""
    ms, kt, status = timed.ms, timed.kernel, timed.status
    if ms is None or (on_gpu and kt is None):
        return BenchRecord(variant=name, status=status, median_ms=ms, **base)
    return BenchRecord(
        variant=name, status="ok", median_ms=ms, tokens_per_s=shape.batch * shape.seq_len / (ms / 1e3),
        achieved_gbps=nbytes / (ms * 1e6) if nbytes is not None else None, roofline_floor_ms=floor,
        pct_of_roofline=100.0 * floor / ms if floor else None,
        kernel_ms=kt.ms if kt else None, launches=kt.launches if kt else None,
        kernel_pct_of_roofline=100.0 * floor / kt.ms if kt and floor and kt.ms > 0 else None,
        flop_floor_ms=flop_floor,
        kernel_pct_of_flop_floor=100.0 * flop_floor / kt.ms if kt and flop_floor and kt.ms > 0 else None,
        kernels_us=kt.by_name_us if kt else None, top_kernel=_top_kernel(kt.by_name_us if kt else None), **base)


def _top_kernel(by_name_us: Optional[Dict[str, float]]) -> Optional[str]:
    """``name (share%)`` of the kernel with the most GPU time a call, or None without kernel times."""
    times = {k: v for k, v in (by_name_us or {}).items() if isinstance(v, (int, float)) and math.isfinite(v) and v > 0}
    if not times:
        return None
    name = max(times, key=times.__getitem__)
    return f"{name} ({100.0 * times[name] / sum(times.values()):.0f}%)"


def _retune(cores: Any) -> None:
    """Make each core that autotunes (a peer, see :mod:`bambaprof.bench.peers`) choose again at the next shape:
    its tuning key leaves the shape out, so one choice would otherwise serve every shape."""
    for core in cores:
        reset = getattr(core, "reset_autotuning", None)
        if reset is not None:
            reset()


def _with_picks(record: BenchRecord, core: Any) -> BenchRecord:
    """``record`` with the autotuned configurations ``core`` chose at its shape, where it reports them."""
    picks = getattr(core, "autotune_picks", None)
    if picks is not None:
        record.autotune = picks() or None
    return record


def _set_ratios(rows: Sequence[BenchRecord], baseline: str) -> None:
    """Each row's wall and kernel time as a ratio to the ``baseline`` row's (rows of one shape)."""
    ref = next((r for r in rows if r.variant == baseline and r.status == "ok"), None)
    for r in rows:
        r.baseline = baseline
        if ref is None:
            continue
        if r.median_ms is not None and ref.median_ms:
            r.vs_baseline = r.median_ms / ref.median_ms
        if r.kernel_ms is not None and ref.kernel_ms:
            r.kernel_vs_baseline = r.kernel_ms / ref.kernel_ms


def bench_mixer(
    variants: Sequence[Union[str, "Variant"]],
    shapes: Sequence[Shape],
    dtype: torch.dtype,
    device: str,
    hidden_size: Optional[int] = None,
    rep_ms: float = 200,
    progress: Optional[Callable[[str], None]] = None,
    rounds: int = 5,
    baseline: Optional[str] = None,
) -> List[BenchRecord]:
    """Time a whole Mamba2 mixer (in_proj, conv, SSD core, gated norm, out_proj) per variant.

    ``variants`` are variant names or :class:`~bambaprof.ssm.Variant` objects (e.g. mamba_ssm's core
    wrapped by :func:`peer_variant`); a variant without fused mixer kernels gets torch's conv and norm.
    The mixer's shapes come from each :class:`Shape` (heads, head dim, state, groups, chunk); the hidden
    size is heads x head dim / 2 (Mamba2's expand 2) unless given. The mixers of a shape are built
    together and timed side by side in ``rounds`` interleaved rounds (see :func:`_interleaved`) on one
    input, ``rep_ms`` in all per mixer; rows are named ``mixer:<variant>``, ratios are to the mixer of
    ``baseline`` (a variant name; default: the first).
    """
    from ..ssm import get_variant

    resolved = [get_variant(v) if isinstance(v, str) else v for v in variants]
    return _with_clocks(device, lambda: _bench_mixer_shapes(resolved, shapes, dtype, device, hidden_size, rep_ms,
                                                            progress, rounds, baseline))


def _bench_mixer_shapes(resolved: Sequence["Variant"], shapes: Sequence[Shape], dtype: torch.dtype, device: str,
                        hidden_size: Optional[int], rep_ms: float, progress: Optional[Callable[[str], None]],
                        rounds: int, baseline: Optional[str]) -> Tuple[List[BenchRecord], List[Timed]]:
    from ..model import build_mixer
    from ..model.config import BambaConfig, dtype_name

    names = [f"mixer:{v.name}" for v in resolved]
    on_gpu = device.startswith("cuda")
    records: List[BenchRecord] = []
    timed_rows: List[Timed] = []
    for shape in shapes:
        hidden = hidden_size or shape.heads * shape.head_dim // 2
        cfg = BambaConfig(
            vocab_size=16, hidden_size=hidden, intermediate_size=hidden, num_hidden_layers=1, num_attention_heads=1,
            num_key_value_heads=1, attn_layer_indices=(), mamba_n_heads=shape.heads, mamba_d_head=shape.head_dim,
            mamba_n_groups=shape.groups, mamba_d_state=shape.state, mamba_chunk_size=shape.chunk_size,
            mamba_expand=shape.heads * shape.head_dim // hidden, dtype=dtype_name(dtype), partial_rotary_factor=0.0)
        base = _shape_fields(shape, dtype)
        try:  # a lower bound: the input, the output and in_proj's output (twice the input or more)
            require_bytes(4 * shape.batch * shape.seq_len * hidden * torch.empty((), dtype=dtype).element_size(),
                          device, f"a mixer's activations at b={shape.batch} L={shape.seq_len}")
            hidden_states = torch.randn(shape.batch, shape.seq_len, hidden, device=device, dtype=dtype)
        except Exception as exc:  # noqa: BLE001 - a shape too large is a row, not the end of the benchmark
            _no_inputs(exc, names, base, records, timed_rows)
            continue
        calls: Dict[str, Callable[[], Any]] = {}
        unbuilt: Dict[str, str] = {}
        for name, variant in zip(names, resolved):
            mixer, status = _attempt(lambda: build_mixer(cfg, variant, seed=0, device=device))  # noqa: B023 - called at once
            if mixer is None:
                unbuilt[name] = status
            else:
                calls[name] = functools.partial(mixer, hidden_states)
        where = f"b={shape.batch} L={shape.seq_len}"
        _retune(v.forward for v in resolved)
        timed = _interleaved(calls, device, rep_ms, rounds, on_gpu,
                             (lambda line, at=where: progress(f"{line} {at}")) if progress else None)
        rows = [timed[name] if name in timed else Timed(None, None, unbuilt[name]) for name in names]
        records.extend(_with_picks(_record(name, row, shape, base, on_gpu), variant.forward)
                       for name, row, variant in zip(names, rows, resolved))
        timed_rows.extend(rows)
        _set_ratios(records[-len(names):], f"mixer:{baseline}" if baseline else names[0])
        del calls, hidden_states
        if on_gpu:
            torch.cuda.empty_cache()
    return records, timed_rows


def peer_variant(name: str, core: Callable[..., Any], summary: str = "") -> "Variant":
    """A benchmark peer's SSD core (e.g. mamba_ssm's, :func:`~bambaprof.bench.peers.load_mamba_ssm`) as a
    :class:`~bambaprof.ssm.Variant`, so that a mixer can be built around it (with torch's conv and norm)."""
    from ..ssm import Variant

    return Variant(name=name, forward=core, summary=summary, origin="peer")
