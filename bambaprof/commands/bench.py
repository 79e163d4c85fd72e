"""``bambaprof bench ssd``: SSD cores timed side by side, against the roofline floor."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..render.columns import BENCH
from ..render.tables import render_rows
from ..ssm.capabilities import enable_triton_interpreter_if_no_gpu
from ._common import POSITIVE, check_scan_env, device_option, emit, format_option, output_option, progress, resolve_device

TARGET_SHAPES = ((1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192))



@click.group("bench")
def bench_group() -> None:
    """Benchmarks: `bench ssd` times SSD cores (or whole mixers) against the roofline floor."""


@bench_group.command("ssd")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Variant to time (repeatable). Default: every exact variant that runs here.")
@click.option("--mamba-ssm", "mamba_ssm", type=click.Path(file_okay=False), default=None,
              help="A folder holding mamba_ssm's source: time its mamba_chunk_scan_combined too.")
@click.option("--shape", "shapes", multiple=True, metavar="BxL",
              help="Batch x length (repeatable) [default: 1x512 1x2048 1x8192 8x2048 8x8192].")
@click.option("--heads", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--head-dim", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--state", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--groups", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--dtype", default="bfloat16", show_default=True)
@click.option("--rep-ms", type=POSITIVE, default=200.0, show_default=True, help="Time budget per measurement.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Interleaved rounds per shape: each core is timed once a round, in an order rotating by one.")
@click.option("--baseline", default=None, metavar="NAME",
              help="The core the ratios are to [default: mamba_ssm with --mamba-ssm, else the first variant].")
@click.option("--mixer", "mixer_mode", is_flag=True,
              help="Time the whole Mamba2 mixer (projections, conv, SSD, norm) per variant instead of the core.")
@click.option("--scan", "scans", multiple=True, metavar="NAME[:CHUNK]",
              help="A chunk scan of the triton variant to time (repeatable; auto, triton or a Gluon form such as "
                   "gluon_slim, optionally with the kernels' own chunk after a colon, e.g. gluon_late:128): its rows "
                   "are triton[NAME], side by side in the same rounds.")
@device_option()
@format_option(("table", "json", "csv"))
@output_option()
def bench_ssd_command(variants, mamba_ssm, shapes, heads, head_dim, state, groups, chunk_size, dtype, rep_ms,
                      rounds, baseline, mixer_mode, scans, device, fmt, output) -> None:
    """Time SSD cores (bambaprof's variants, and mamba_ssm's with --mamba-ssm) at Bamba-9B mixer shapes.

    Median of many calls after warm-up, inputs rotated past the L2 cache, the cores of a
    shape timed in interleaved rounds (so a drift of the device weighs on all alike); tokens/s,
    achieved GB/s over the minimum bytes, and % of the roofline floor from the
    measured copy bandwidth and matmul rate. On a GPU also the kernel time per call
    (PyTorch profiler: device activities only, no launch cost) and the launches per
    call. Ratios are to a baseline core. Out-of-memory is reported, not fatal. With NVML, each row also
    has the median SM clock and power over its own timing windows and the share of samples with the clock
    held down (power cap, heat).
    """
    check_scan_env()
    enable_triton_interpreter_if_no_gpu()
    from .._env import environment
    from ..bench.peers import optional_mamba_ssm
    from ..bench.ssd import bench_mixer, bench_ssd, measure_ceilings, peer_variant
    from ..collect.host_speed import host_info, probe_us
    from ..model.config import parse_dtype
    from ..ssm import get_variant, list_variants
    from ..ssm.capabilities import runnable
    from ..ssm.check import Shape

    dev = resolve_device(device)
    torch_dtype = parse_dtype(dtype)
    parsed = []
    for s in shapes or [f"{b}x{L}" for b, L in TARGET_SHAPES]:
        try:
            b, L = (int(v) for v in s.lower().split("x"))
        except ValueError:
            raise UsageError(f"--shape {s!r} must look like BATCHxLENGTH, e.g. 1x2048") from None
        if b <= 0 or L <= 0:
            raise UsageError(f"--shape {s!r}: batch and length must be positive")
        parsed.append(Shape(b, L, heads, head_dim, groups, state, chunk_size))
    if heads % groups:
        raise UsageError("--heads must be a multiple of --groups")
    names = list(variants) or [v.name for v in list_variants()
                               if v.exact and v.name != "reference" and runnable(v, dev).ok]
    cores = _with_scans({n: get_variant(n) for n in names}, scans)
    peer = optional_mamba_ssm(mamba_ssm)
    if peer is not None:
        cores["mamba_ssm"] = peer
    baseline = baseline or ("mamba_ssm" if peer is not None else next(iter(cores), None))
    if baseline not in cores:
        raise UsageError(f"--baseline {baseline!r} is not among the cores timed ({', '.join(cores) or 'none'})")
    if mixer_mode:
        mixers = [peer_variant("mamba_ssm", core, "mamba_ssm's mamba_chunk_scan_combined") if core is peer else core
                  for core in cores.values()]
        before = probe_us()
        with progress("benchmarking mixers", len(parsed) * len(mixers) * rounds) as bar:
            records = bench_mixer(mixers, parsed, torch_dtype, dev, rep_ms=rep_ms, progress=lambda _l: bar.update(1),
                                  rounds=rounds, baseline=baseline)
        meta = {"environment": environment(dev), "device": dev, "mode": "mixer", "baseline": f"mixer:{baseline}",
                "rounds": rounds, "host": host_info(before, probe_us()).to_dict(),
                "notes": "one Mamba2 mixer (in_proj, conv, SSD core, gated norm, out_proj) per core; a core "
                         "without fused mixer kernels (mamba_ssm's, the study's) gets torch's conv and norm. "
                         + _TIMING_NOTES}
        emit(render_rows(_rows(records, fmt), fmt, BENCH, meta=meta, compact=True), output)
        return
    ceilings = measure_ceilings(dev, torch_dtype)
    before = probe_us()
    with progress("benchmarking", len(parsed) * len(cores) * rounds) as bar:
        records = bench_ssd(cores, parsed, torch_dtype, dev, ceilings, rep_ms, progress=lambda _l: bar.update(1),
                            baseline=baseline, rounds=rounds)
    meta = {"environment": environment(dev), "device": dev, "ceilings": ceilings.__dict__, "baseline": baseline,
            "rounds": rounds, "host": host_info(before, probe_us()).to_dict(),
            "notes": _TIMING_NOTES}
    emit(render_rows(_rows(records, fmt), fmt, BENCH, meta=meta, compact=True), output)


_TIMING_NOTES = ("median_ms: median over interleaved rounds (an order rotating each round) of the median of "
                 "repeated calls after warm-up (autotuning excluded); kernel_ms: GPU time of the call's device "
                 "activities per call (PyTorch profiler), the median of one batch of 10 calls a round; "
                 "kernels_us: that time by kernel name; autotune: the configuration each autotuned kernel of a "
                 "peer chose at that shape (it tunes again at every shape); host: a fixed pure-Python loop's time "
                 "(us) before and after the timing, how fast the host ran Python (wall medians of launch-bound "
                 "shapes move with it); sm_clock_mhz, power_w: medians of the NVML samples (20 ms) inside the "
                 "row's timing windows, clock_held_pct: the share of them with a power cap, thermal or hardware "
                 "slowdown reason, clock_samples: how many there were (unknown without NVML)")


def _with_scans(cores: dict, scans) -> dict:
    """``cores`` with the triton variant replaced, in its place, by one core a chunk scan ``--scan`` names
    (``triton[NAME]``); unchanged without ``--scan``. Raises :class:`UsageError` for a name that is not a scan, or
    where the triton variant is not among the cores."""
    if not scans:
        return cores
    from ..bench.scans import SCANNED_VARIANT, parse_scans, scan_variant

    picked = parse_scans(scans)
    if SCANNED_VARIANT not in cores:
        raise UsageError(f"--scan picks the chunk scan of the {SCANNED_VARIANT} variant, which is not among the "
                         f"cores timed ({', '.join(cores)}): add --variant {SCANNED_VARIANT}")
    out = {}
    for name, core in cores.items():
        if name != SCANNED_VARIANT:
            out[name] = core
            continue
        for scan in picked:
            variant = scan_variant(core, scan)
            out[variant.name] = variant
    return out


def _rows(records, fmt: str) -> list:
    """Records as rows; the per-kernel breakdown and the autotuned configurations (mappings) only in JSON."""
    rows = [r.to_dict() for r in records]
    if fmt != "json":
        for row in rows:
            row.pop("kernels_us", None)
            row.pop("autotune", None)
    return rows
