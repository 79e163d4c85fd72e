"""Each finding on a synthetic input that triggers it, and on one that does not."""

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest

from bambaprof.analysis import analyze
from bambaprof.diagnose import diagnose, finding, measured
from bambaprof.diagnose import rules as R
from bambaprof.run import (
    CompileInfo,
    Device,
    HostInfo,
    Manifest,
    Memory,
    NvmlDevice,
    NvmlSummary,
    ProfileSettings,
    SeriesStats,
    TelemetryInfo,
    TelemetrySummary,
    Versions,
)
from tests.analysis.synth import H200, _kernel, _op, _rt, write


def trace_of(kernels, gap_us=1.0, launch_lead_us=0.5, ext_op=None):
    """Kernels back to back with ``gap_us`` idle between them, each launched ``launch_lead_us`` before it starts
    (so a long gap is the host's); ``kernels`` are (name, dur, grid, block, regs, smem)."""
    events, t = [], 100.0
    for i, (name, dur, grid, block, regs, smem) in enumerate(kernels):
        launch = t - launch_lead_us
        events.append(_rt("cudaLaunchKernel", launch, 0.2, 1000 + i, 5000 + i))
        if ext_op is not None:
            events.append(_op(ext_op[0], launch - 0.3, 0.6, 5000 + i, *ext_op[1:]))
        events.append(_kernel(name, t, dur, 1000 + i, 5000 + i, grid=grid, block=block, regs=regs, smem=smem))
        t += dur + gap_us
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "traceEvents": events}


def ids(a):
    return [f.id for f in diagnose(a)]


def analysis(tmp_path, trace):
    return analyze(write(tmp_path / "t.json.gz", trace))


BIG = ((132, 4, 1), (256, 1, 1), 32, 0)


def test_host_bound(tmp_path):
    starved = trace_of([("k", 10.0, *BIG)] * 20, gap_us=40.0, launch_lead_us=0.5)  # the launch comes late
    a = analysis(tmp_path, starved)
    f = next(f for f in diagnose(a) if f.id == "host-bound")
    assert f.time_us == pytest.approx(19 * 39.5, rel=1e-3) and f.severity == "high"
    assert "CUDA graphs" in f.suggestion and "78% of its 960.0 us window" in f.message
    busy = trace_of([("k", 10.0, *BIG)] * 20, gap_us=1.0, launch_lead_us=5.0)  # launched well ahead
    assert "host-bound" not in ids(analysis(tmp_path, busy))


def test_idle_unexplained_where_no_launch_call_is_in_the_trace(tmp_path):
    """The same starved kernels without their launch calls (a trace of GPU work alone): the idle time is a fact,
    its cause unknown, so host-bound stays silent and idle-unexplained says what to record."""
    starved = trace_of([("k", 10.0, *BIG)] * 20, gap_us=40.0)
    starved["traceEvents"] = [e for e in starved["traceEvents"] if e.get("cat") != "cuda_runtime"]
    a = analysis(tmp_path, starved)
    assert a.summary["idle_host_wait_us"] is None and a.summary["cpu_bound_us"] is None
    found = {f.id: f for f in diagnose(a)}
    assert "host-bound" not in found
    f = found["idle-unexplained"]
    assert f.time_us == pytest.approx(19 * 40.0) and f.severity == "high"
    assert "79% of its 960.0 us window" in f.message and "ProfilerActivity.CPU" in f.suggestion
    with_calls = analysis(tmp_path, trace_of([("k", 10.0, *BIG)] * 20, gap_us=40.0))
    assert "idle-unexplained" not in ids(with_calls)  # split: host-bound judges it
    busy = trace_of([("k", 10.0, *BIG)] * 20, gap_us=1.0)
    busy["traceEvents"] = [e for e in busy["traceEvents"] if e.get("cat") != "cuda_runtime"]
    assert "idle-unexplained" not in ids(analysis(tmp_path, busy))  # 2% idle


def test_host_bound_advice_for_a_trace_from_elsewhere_reads_the_trace(tmp_path):
    """Without a run's manifest the advice speaks torch (not only bambaprof's flags), and a trace whose kernels
    already come from CUDA graphs is not told to capture graphs."""
    starved = trace_of([("k", 10.0, *BIG)] * 20, gap_us=40.0, launch_lead_us=0.5)
    f = next(f for f in diagnose(analysis(tmp_path, starved)) if f.id == "host-bound")
    assert 'torch.compile(mode="reduce-overhead")' in f.suggestion and "already" not in f.suggestion
    graphed = copy.deepcopy(starved)
    for e in graphed["traceEvents"]:
        if e.get("name") == "cudaLaunchKernel":
            e["name"] = "cudaGraphLaunch"
    f = next(f for f in diagnose(analysis(tmp_path, graphed)) if f.id == "host-bound")
    assert "100% of the kernels already come from CUDA graphs" in f.suggestion
    assert "Capture" not in f.suggestion


@pytest.mark.parametrize("setting, ours, named", [
    ("off", True, True), ("kept", True, True), ("keyed", True, True), ("on", True, False), (None, True, False),
    ("off", False, False),
])
def test_host_bound_names_a_launch_shortcut_held_back(setting, ours, named):
    """With bambaprof's Triton kernels in the trace and the shortcut recorded off, kept or keyed, the host-bound
    finding suggests the whole shortcut first; otherwise it does not mention it."""
    kernel = _k("_chunk_scan", launched_by="bambaprof::ssd_chunk_scan" if ours else "aten::mm")
    m = _manifest(compile=CompileInfo(mode="none"), versions=Versions(launch_shortcut=setting))
    a = _a([kernel], {"gpu_busy_us": 400.0, "gpu_idle_us": 600.0, "idle_host_wait_us": 600.0}, manifest=m)
    f = next(f for f in diagnose(a) if f.id == "host-bound")
    assert ("launch shortcut" in f.suggestion) == named and "CUDA graphs" in f.suggestion
    if named:
        assert f.suggestion.startswith(f"bambaprof's Triton kernels launched with the launch shortcut {setting}")


ADD = ("aten::add", [[1 << 20], [1 << 20], []], ["float", "float", "Scalar"])


def test_fusion_candidate(tmp_path):
    many = trace_of([("elementwise_kernel<128, 4, add>", 3.0, *BIG)] * 12, gap_us=0.2, launch_lead_us=5.0, ext_op=ADD)
    a = analysis(tmp_path, many)
    f = next(f for f in diagnose(a) if f.id == "fusion-candidate")
    assert "12 launches" in f.message and "float32" in f.message and "--compile default" in f.suggestion
    assert "torch.compile the code that launches them" in f.suggestion  # a trace without a run: torch first
    few = trace_of([("elementwise_kernel<128, 4, add>", 3.0, *BIG)] * 3 + [("gemm", 200.0, *BIG)], gap_us=0.2,
                   launch_lead_us=5.0, ext_op=ADD)
    assert "fusion-candidate" not in ids(analysis(tmp_path, few))


def test_small_grid(tmp_path):
    narrow = trace_of([("walk", 500.0, (16, 1, 1), (128, 1, 1), 32, 0)], launch_lead_us=5.0)
    f = next(f for f in diagnose(analysis(tmp_path, narrow)) if f.id == "small-grid")
    assert "12% of them" in f.message and f.time_us == pytest.approx(500)
    wide = trace_of([("walk", 500.0, (120, 1, 1), (128, 1, 1), 32, 0)], launch_lead_us=5.0)  # 91% of the SMs
    assert "small-grid" not in ids(analysis(tmp_path, wide))


def _tiles(grid):
    """One 500 us kernel of ``grid`` blocks of 256 threads at 128 registers: 2 blocks an SM, waves of 264 on the
    H200's 132 SMs."""
    return trace_of([("tile", 500.0, (grid, 1, 1), (256, 1, 1), 128, 0)], launch_lead_us=5.0)


def test_partial_wave(tmp_path):
    f = next(f for f in diagnose(analysis(tmp_path, _tiles(300))) if f.id == "partial-wave")
    # 300 / 264 = 1.136 waves: 2 waves' time for 1.136 of work (43.2%); 300 / 132 = 2.27 blocks an SM, 3 at the
    # busiest (24.2%)
    assert f.time_us == pytest.approx(500 * (1 - 300 / 528)) and f.severity == "high"
    assert "300 blocks in 1.14 waves of 264 (2 an SM on 132 SMs)" in f.message and "fills 14%" in f.message
    assert "(43%, if its blocks run as fast" in f.message and "24% if they share its throughput" in f.message
    assert f.evidence[0]["partial_wave_min_us"] == pytest.approx(500 * (1 - (300 / 132) / 3))
    assert "264 blocks (1 whole wave: more work a block) or 528 (2: less work a block)" in f.suggestion
    # 80 registers a thread fit 3 blocks an SM: 300 of 396 slots, one wave
    assert "At most 80 registers a thread, 3 blocks would fit an SM and the grid would run in 1 wave (0.76) " \
        "instead of 2." in f.suggestion
    for whole_or_less in (528, 766, 200):  # 2 whole waves; 2.90 (3.3% at most); under one wave (small-grid's)
        assert "partial-wave" not in ids(analysis(tmp_path, _tiles(whole_or_less)))


def test_partial_wave_is_capped_by_the_roofline():
    """A kernel near its floor cannot gain what its partial wave may take: the excess caps the time at stake, and
    below 10% of its time nothing is said."""
    row = dict(grid="300x1x1", blocks_per_sm=2, waves_per_sm=300 / 264, partial_wave_us=216.0,
               partial_wave_min_us=121.0)
    near = _a([_k("tile", 500.0, floor_us=470.0, excess_us=30.0, **row)])
    assert "partial-wave" not in ids(near)
    far = _a([_k("tile", 500.0, floor_us=400.0, excess_us=100.0, **row)])
    f = next(f for f in diagnose(far) if f.id == "partial-wave")
    assert f.time_us == pytest.approx(100.0) and "Its roofline floor leaves 100.0 us of that to gain." in f.message
    assert "of its 10 launches' 500.0 us" in f.message
    short = _a([_k("tile", 40.0, **{**row, "partial_wave_us": 17.0})])  # 4 us a launch: as short as a launch's ramp
    assert "partial-wave" not in ids(short)
    collective = _a([_k("ncclDevKernel_AllReduce_Sum_bf16_RING_LL", 500.0, **row)])
    assert "partial-wave" not in ids(collective)


def _projections(mean_us, runs=4, at_stake_us=40.0, cpu_us=300.0):
    return {"caller": "attention", "shape": "1x1x4096", "dtype": "bf16", "weights": "4096x4096, 1024x4096, 1024x4096",
            "products": 3, "runs": runs, "launches": 3 * runs, "cpu_us": cpu_us, "gpu_us": 3 * runs * mean_us,
            "mean_us": mean_us, "floor_us": 10.0, "stacked_floor_us": 9.0, "at_stake_us": at_stake_us}


def test_split_projections():
    small = _a([_k(total=500.0)])
    small.projections = [_projections(8.0)]  # 40 us at stake: 8% of 500 us of kernel time
    f = next(f for f in diagnose(small) if f.id == "split-projections")
    assert f.time_us == pytest.approx(40.0) and f.severity == "low"  # 4% of the 1 ms window
    assert "4 runs of matrix products of one activation shape ran one product at a time (12 products)" in f.message
    assert "3 products by weights 4096x4096, 1024x4096, 1024x4096 (bf16, activation 1x1x4096, 4 runs)" in f.message
    assert "(8 products fewer) would save up to 40.0 us (8% of kernel time)" in f.message
    assert "torch.cat([q.weight, k.weight, v.weight])" in f.suggestion
    large = _a([_k(total=500.0)])
    large.projections = [_projections(45.0)]  # long products: stacked or not, near their own efficiency
    assert "split-projections" not in ids(large)
    little = _a([_k(total=5000.0)])
    little.projections = [_projections(8.0)]  # 0.8% of kernel time
    assert "split-projections" not in ids(little)
    on_host = _a(summary={"platform": "cpu", "span_us": 2000.0})
    on_host.projections = [{**_projections(8.0), "gpu_us": None, "mean_us": None, "at_stake_us": None}]
    f = next(f for f in diagnose(on_host) if f.id == "split-projections")
    assert f.time_us is None and f.severity == "medium" and "300.0 us of host time, 15% of the trace's span" in f.message
    assert not R.can_judge(_a(summary={"kernel_us": 500.0}), "split-projections")  # no table: no shapes


def test_split_projections_on_a_real_h100_trace():
    """The tiny model's attention on an H100 (fp32, generating without a cache): q, k and v, one run a forward."""
    a = analyze(Path(__file__).resolve().parents[1] / "data" / "generation" / "h100-run-no-cache")
    f = next(f for f in diagnose(a) if f.id == "split-projections")
    assert "6 runs of matrix products of one activation shape ran one product at a time (18 products)" in f.message
    assert "under attention, 3 products by weights 64x64, 32x64, 32x64 (fp32, 6 activation shapes, 6 runs)" in f.message
    assert f.time_us == pytest.approx(a.summary["projection_at_stake_us"]) and f.severity == "low"
    assert R.can_judge(a, "split-projections")


def _repeats(dtype="bf16", masked=False, gpu_us=60.0):
    return {"caller": "attention", "form": "aten::repeat_interleave", "kv_heads": 8, "repeats": 4, "head_dim": 128,
            "dtype": dtype, "calls": 16, "copies": 32, "min_length": 4097, "max_length": 4112, "elements": 2 ** 28,
            "bytes": 2 ** 29, "backend": "cudnn", "masked": masked, "cpu_us": 400.0, "gpu_us": gpu_us}


def test_repeated_kv_advice_by_dtype_and_mask():
    """On a GPU, enable_gqa=True is FlashAttention's alone: 16-bit calls without a mask get it; float32 or masked
    calls are told it would send them to the math backend."""
    def finding(*rows):
        a = _a([_k(total=500.0)], {"platform": "cuda", "kernel_us": 500.0})
        a.kv_repeats = list(rows)
        return next((f for f in diagnose(a) if f.id == "repeated-kv"), None)

    f = finding(_repeats())
    assert f.time_us == pytest.approx(60.0) and f.severity == "medium"  # 6% of the 1 ms window
    assert "16 attention calls read keys and values copied to the query's heads first: 32 copies (536.87 MB " \
        "written), 60.0 us, 12% of kernel time" in f.message
    assert "8 key and value heads repeated 4x by aten::repeat_interleave (bf16, 4,097 to 4,112 tokens" in f.message
    assert "these 16-bit calls without a mask can run" in f.suggestion
    for row, named in ((_repeats("fp32"), "fp32"), (_repeats(masked=True), "bf16, masked")):
        f = finding(row)
        assert f"these calls ({named}) would fall back to the math backend" in f.suggestion
        assert "flash_attn_func" in f.suggestion
    assert finding(_repeats(gpu_us=20.0)) is None  # 4% of kernel time
    assert not R.can_judge(_a(summary={"kernel_us": 500.0}), "repeated-kv")  # no table: no shapes


def test_all_position_logits():
    """On a GPU: the prefills' LM head time on positions other than the last is the time at stake."""
    row = {"shape": "1x2048x4096", "weight": "128256x4096", "dtype": "bf16", "calls": 2, "positions": 2048,
           "logits_bytes": 2 * 2048 * 128256 * 2, "cpu_us": 40.0, "gpu_us": 90.0, "extra_cpu_us": 39.98,
           "extra_gpu_us": 89.96}
    a = _a([_k(total=500.0)], {"platform": "cuda", "kernel_us": 500.0})
    a.prefill_logits = [row]
    f = next(f for f in diagnose(a) if f.id == "all-position-logits")
    assert f.time_us == pytest.approx(89.96) and f.severity == "medium"  # 9% of the 1 ms window
    assert "2 prefills ran the LM head (weight 128256x4096" in f.message and "2,048 in the largest" in f.message
    assert "writing 1.05 GB of logits to keep one row a sequence" in f.message and "18% of kernel time" in f.message
    a.prefill_logits = [{**row, "extra_gpu_us": 20.0}]  # 4% of kernel time
    assert "all-position-logits" not in ids(a)
    assert not R.can_judge(_a(summary={"kernel_us": 500.0}), "all-position-logits")  # no table: no shapes


def _a(kernels=(), summary=None, manifest=None, phase_kinds=(), ncu=None, module_kinds=()):
    base = {"gpu_busy_us": 1000.0, "gpu_idle_us": 0.0, "idle_host_wait_us": 0.0}
    return SimpleNamespace(kernels=list(kernels), summary={**base, **(summary or {})}, manifest=manifest,
                           stretches=[], phase_kinds=list(phase_kinds), findings=[], ncu=ncu,
                           module_kinds=list(module_kinds))


def _k(name="k", total=500.0, **kw):
    row = {"name": name, "kind": "kernel", "count": 10, "total_us": total, "mean_us": total / 10, "bytes_known": 10,
           "bytes": 1e6, "floor_us": None, "excess_us": None, "bound": "unknown", "small_grid": False}
    row.update(kw)
    return row


def test_far_from_roofline():
    far = _a([_k(total=900.0, floor_us=100.0, excess_us=800.0, bound="memory")],
             {"floor_us": 100.0, "above_floor_x": 9.0, "floor_coverage_pct": 90.0})
    f = next(f for f in diagnose(far) if f.id == "far-from-roofline")
    assert "9.0x above it" in f.message and f.time_us == pytest.approx(800)
    near = _a([_k(total=150.0, floor_us=100.0, excess_us=50.0, bound="memory")],
              {"floor_us": 100.0, "above_floor_x": 1.5, "floor_coverage_pct": 90.0})
    assert "far-from-roofline" not in ids(near)
    barely_judged = _a([_k(total=900.0, floor_us=100.0, excess_us=800.0)],
                       {"floor_us": 100.0, "above_floor_x": 9.0, "floor_coverage_pct": 20.0})
    assert "far-from-roofline" not in ids(barely_judged)


def test_far_from_roofline_names_the_module_of_its_kernels():
    module = {"module": "Model/DecoderLayer/Mamba2Mixer/Linear", "gpu_us": 900.0, "floor_us": 100.0,
              "excess_us": 800.0}
    far = _a([_k(total=900.0, floor_us=100.0, excess_us=800.0, bound="memory", module=module["module"])],
             {"floor_us": 100.0, "above_floor_x": 9.0, "floor_coverage_pct": 90.0}, module_kinds=[module])
    f = next(f for f in diagnose(far) if f.id == "far-from-roofline")
    assert "(memory, in Mamba2Mixer/Linear)" in f.message
    assert {"module": module["module"], "time_us": 900.0, "floor_us": 100.0, "excess_us": 800.0} in f.evidence
    outside = _a([_k(total=900.0, floor_us=100.0, excess_us=800.0, bound="memory", module="(no module)")],
                 {"floor_us": 100.0, "above_floor_x": 9.0, "floor_coverage_pct": 90.0})
    assert "(memory)" in next(f for f in diagnose(outside) if f.id == "far-from-roofline").message


def test_low_occupancy():
    held = _k(total=600.0, floor_us=100.0, excess_us=500.0, bound="memory", theoretical_occupancy_pct=12.5,
              limiter="registers", registers=255, shared_memory_bytes=0, block="128x1x1")
    f = next(f for f in diagnose(_a([held])) if f.id == "low-occupancy")
    assert "12.5% theoretical occupancy, limited by registers" in f.message and "registers" in f.suggestion
    at_roofline = dict(held, total_us=150.0, excess_us=50.0)  # a GEMM near its floor: occupancy is no problem
    assert "low-occupancy" not in ids(_a([at_roofline]))
    by_threads = dict(held, limiter="warps")
    assert "low-occupancy" not in ids(_a([by_threads]))
    late = dict(held, theoretical_occupancy_pct=12.5, limiter="registers+shared_memory", registers=182,
                shared_memory_bytes=108676, blocks_per_sm=2, one_more_block_blocks=3,
                one_more_block_occupancy_pct=18.75, one_more_block_registers=168,
                one_more_block_shared_memory_bytes=76800)  # gluon_late on an H100 or H200
    f = next(f for f in diagnose(_a([late])) if f.id == "low-occupancy")
    assert ("At most 168 registers a thread and 76,800 B of shared memory a block would fit 3 blocks an SM instead "
            "of 2 (18.8% theoretical occupancy).") in f.message
    assert "fewer registers per thread" in f.suggestion and "less shared memory a block" in f.suggestion
    only_regs = dict(late, one_more_block_shared_memory_bytes=None)
    assert "At most 168 registers a thread would fit" in next(f for f in diagnose(_a([only_regs]))).message
    unknown = dict(late, one_more_block_blocks=None)
    assert "would fit" not in next(f for f in diagnose(_a([unknown])) if f.id == "low-occupancy").message


def test_unknown_bytes():
    unknown = _a([_k(total=500.0, bytes_known=0, bytes=None), _k("b", total=500.0)])
    f = next(f for f in diagnose(unknown) if f.id == "unknown-bytes")
    assert f.message.startswith("50% of kernel time")
    assert "unknown-bytes" not in ids(_a([_k(total=990.0), _k("b", total=10.0, bytes_known=0, bytes=None)]))


def _ncu(name, derived, dram, matched=True):
    return {"name": name, "matched": matched, "derived_bytes": derived, "ncu_dram_bytes": dram}


def test_dram_overfetch():
    scan = _k("scan", total=600.0, floor_us=150.0, excess_us=450.0, bound="compute")
    twice = [_ncu("scan", 1.2e9, 2.5e9), _ncu("scan", 1.2e9, 2.3e9), _ncu("scan", 1e9, 9e9, matched=False)]
    f = next(f for f in diagnose(_a([scan, _k("other", total=400.0)], ncu=twice)) if f.id == "dram-overfetch")
    assert "moved 4.80 GB of DRAM" in f.message and "2.0x the 2.40 GB" in f.message and "2 launches" in f.message
    assert "4.0x its floor" in f.message and f.time_us is None and f.severity == "high"  # 60% of the window
    assert f.evidence[0]["ratio"] == pytest.approx(2.0)
    assert "dram-overfetch" not in ids(_a([scan], ncu=[_ncu("scan", 1.2e9, 1.5e9)]))  # 1.25x: as it must
    assert "dram-overfetch" not in ids(_a([dict(scan, total_us=200.0)], ncu=twice))  # 1.3x its floor
    assert "dram-overfetch" not in ids(_a([scan], ncu=[_ncu("scan", 1e6, 9e6)]))  # too few bytes to judge
    assert "dram-overfetch" not in ids(_a([scan, _k("big", total=19000.0)], ncu=twice))  # 3% of kernel time
    assert "dram-overfetch" not in ids(_a([scan]))  # no Nsight Compute data
    odd = [_ncu("scan", 1.2e9, float("nan")), _ncu("scan", 1.2e9, "n/a"), _ncu("scan", float("inf"), 5e9),
           _ncu("scan", 0.0, 5e9), _ncu("scan", 1.2e9, None)]
    assert "dram-overfetch" not in ids(_a([scan], ncu=odd))  # unreadable counters are no evidence
    f = next(f for f in diagnose(_a([scan], ncu=odd + twice)) if f.id == "dram-overfetch")
    assert "2 launches" in f.message


def _stalled(name, us, cycles, rate=None, matched=True, **reasons):
    return {"name": name, "matched": matched, "ncu_us": us, "ncu_cycles_per_issue": cycles, "ncu_issue_rate": rate,
            "ncu_stalls": reasons}


def test_warp_stalls():
    scan = _k("scan", total=600.0, floor_us=150.0, excess_us=450.0, bound="compute")
    ncu = [_stalled("scan", 80.0, 8.0, 0.2, long_scoreboard=3.0, barrier=1.5, selected=1.0, not_selected=2.5),
           _stalled("scan", 20.0, 4.0, 0.3, long_scoreboard=1.0, barrier=2.0, selected=1.0),
           _stalled("scan", 1.0, 99.0, 0.0, matched=False, wait=99.0)]
    f = next(f for f in diagnose(_a([scan, _k("other", total=400.0)], ncu=ncu)) if f.id == "warp-stalls")
    # weighted by ncu time: 7.2 cycles an issue, long scoreboard 2.6 (36%), barrier 1.6 (22%); not_selected is no wait
    assert "every 7.2 cycles" in f.message and "issue in 22% of their cycles" in f.message
    assert "global or local memory" in f.message and "long_scoreboard: 2.60 cycles an issue, 36%" in f.message
    assert "barrier: 1.60 cycles an issue, 22%" in f.message and "2 launches" in f.message
    assert "stages" in f.suggestion and f.time_us is None and f.severity == "high"
    assert f.evidence[0]["stalls"]["long_scoreboard"] == pytest.approx(2.6)
    assert "warp-stalls" not in ids(_a([scan]))  # no Nsight Compute data
    assert "warp-stalls" not in ids(_a([dict(scan, total_us=200.0)], ncu=ncu))  # 1.3x its floor
    assert "warp-stalls" not in ids(_a([scan, _k("big", total=19000.0)], ncu=ncu))  # 3% of kernel time
    busy = [_stalled("scan", 10.0, 8.0, 0.7, long_scoreboard=5.0)]  # the schedulers issue 70% of cycles
    assert "warp-stalls" not in ids(_a([scan], ncu=busy))
    f = next(f for f in diagnose(_a([scan], ncu=busy)) if f.id == "issue-bound")  # ... at 4x its floor
    assert "issue an instruction in 70% of their cycles" in f.message and "4.0x its floor" in f.message
    assert "1 launch)" in f.message and "128-bit" in f.suggestion and f.time_us is None
    assert "issue-bound" not in ids(_a([dict(scan, total_us=200.0)], ncu=busy))  # near its floor: as it should
    spread = [_stalled("scan", 10.0, 8.0, 0.2, long_scoreboard=1.5, barrier=1.5, wait=1.5, selected=1.0)]
    assert "warp-stalls" not in ids(_a([scan], ncu=spread))  # no reason holds a quarter of the cycles
    odd = [_stalled("scan", 10.0, float("nan"), 0.2, barrier=5.0), _stalled("scan", 10.0, 0.0, 0.2, barrier=5.0),
           {"name": "scan", "matched": True, "ncu_stalls": None, "ncu_cycles_per_issue": None}]
    assert "warp-stalls" not in ids(_a([scan], ncu=odd))  # unreadable states are no evidence
    endless = [_stalled("scan", float("inf"), 8.0, 0.2, long_scoreboard=5.0, selected=1.0)]  # a time that is no time
    assert "long_scoreboard: 5.00 cycles" in next(f for f in diagnose(_a([scan], ncu=endless))).message
    unrated = [_stalled("scan", None, 8.0, None, barrier=4.0, selected=1.0)]
    f = next(f for f in diagnose(_a([scan], ncu=unrated)) if f.id == "warp-stalls")
    assert "schedulers" not in f.message and "barrier" in f.message and "mbarriers" in f.suggestion


def _units(name, us, sm, l1, l2, dram, matched=True):
    return {"name": name, "matched": matched, "ncu_us": us, "ncu_sm_pct": sm, "ncu_l1_pct": l1, "ncu_l2_pct": l2,
            "ncu_dram_pct_of_peak": dram}


def test_cache_bound():
    """The Gluon chunk scan at 8x2048 on an H100 (gluon_slim, benchmarks/results/h100-ncu-gluon-slim.txt): L2 89%
    busy, L1 61%, SMs 29%, DRAM 38%."""
    scan = _k("scan", total=600.0, floor_us=150.0, excess_us=450.0, bound="compute")
    ncu = [_units("scan", 530.0, 29.1, 60.9, 88.9, 37.8), _units("scan", 70.0, 25.0, 55.0, 80.0, 30.0),
           _units("scan", 1.0, 0.0, 0.0, 0.0, 99.0, matched=False)]
    f = next(f for f in diagnose(_a([scan, _k("other", total=400.0)], ncu=ncu)) if f.id == "cache-bound")
    # weighted by ncu time: L2 87.9%, DRAM 36.9%, SMs 28.7%
    assert "L2 cache is 88% busy" in f.message and "DRAM is 37%" in f.message and "SMs 29%" in f.message
    assert "4.0x its floor" in f.message and "2 launches" in f.message and "60% of kernel time" in f.message
    assert "multicast" in f.suggestion and f.time_us is None and f.severity == "high"
    assert f.evidence[0]["unit"] == "L2" and f.evidence[0]["l2_pct"] == pytest.approx(87.9, abs=0.05)
    assert "cache-bound" not in ids(_a([scan]))  # no Nsight Compute data
    assert "cache-bound" not in ids(_a([dict(scan, total_us=200.0)], ncu=ncu))  # 1.3x its floor
    assert "cache-bound" not in ids(_a([scan, _k("big", total=19000.0)], ncu=ncu))  # 3% of kernel time
    dram_too = [_units("scan", 10.0, 28.1, 23.1, 80.6, 79.6)]  # the real elementwise kernel: DRAM is as busy
    assert "cache-bound" not in ids(_a([scan], ncu=dram_too))
    compute = [_units("scan", 10.0, 93.9, 74.0, 85.0, 29.6)]  # the SMs are busier still
    assert "cache-bound" not in ids(_a([scan], ncu=compute))
    lukewarm = [_units("scan", 10.0, 29.0, 61.0, 70.0, 38.0)]
    assert "cache-bound" not in ids(_a([scan], ncu=lukewarm))
    shared = [_units("scan", 10.0, 40.0, 92.0, 30.0, 10.0)]
    f = next(f for f in diagnose(_a([scan], ncu=shared)) if f.id == "cache-bound")
    assert "L1/TEX cache is 92% busy" in f.message and "bank conflicts" in f.suggestion
    odd = [_units("scan", 10.0, 29.0, 61.0, float("nan"), 38.0), _units("scan", 10.0, None, 61.0, 89.0, 38.0),
           _units("scan", 10.0, 29.0, 61.0, "89", 38.0)]
    assert "cache-bound" not in ids(_a([scan], ncu=odd))  # unreadable figures are no evidence
    unit = [_units(str(i), 1.0, 29.0, 61.0, 89.0, 38.0) for i in range(2)]
    assert "cache-bound" not in ids(_a([scan], ncu=unit))  # other kernels' figures


def test_the_cache_figures_of_a_real_run_name_no_kernel_cache_bound():
    """The mixer's kernels on an H100 (tests/data/ncu): the GEMMs' busiest unit is the SMs, the conv's too, the
    elementwise kernels' L2 (at most 81%) with DRAM nearly as busy (80%), the reduction's DRAM."""
    data = Path(__file__).parents[1] / "data" / "ncu"
    for page in ("raw", "details"):
        a = analyze(data / "h100-mixer-kernels-trace.json.gz", ncu_csv=data / f"h100-mixer-kernels-{page}.csv.gz")
        assert [r["ncu_busiest"] for r in a.ncu] == ["SM 94%", "SM 91%", "SM 75%", "L2 57%", "L2 81%", "L2 71%",
                                                     "DRAM 71%"]
        assert "cache-bound" not in [f["id"] for f in a.findings]


def test_the_gluon_scan_of_a_real_run_is_cache_bound_and_its_prep_is_not():
    """The triton variant's SSD core at 8 x 2048 on an H100 (benchmarks/ncu_ssd_core.py, tests/data/ncu): the Gluon
    chunk scan (gluon_slim) keeps L2 89% busy with DRAM at 38% and the SMs at 29%; its prep kernel's busiest unit is
    L2 too, at 58%, under the threshold. Both CSV pages of ncu give the same finding."""
    data = Path(__file__).parents[1] / "data" / "ncu"
    for page in ("raw", "details"):
        a = analyze(data / "h100-ssd-core-8x2048-trace.json.gz", ncu_csv=data / f"h100-ssd-core-8x2048-{page}.csv.gz")
        assert [r["ncu_busiest"] for r in a.ncu] == ["L2 58%", "L2 89%"]
        found = [f for f in a.findings if f["id"] == "cache-bound"]
        assert len(found) == 1 and found[0]["message"].startswith("_chunk_scan_sm90_slim: its L2 cache is 89% busy")
        assert "DRAM is 38% and the SMs 29%" in found[0]["message"] and "multicast" in found[0]["suggestion"]
        evidence = found[0]["evidence"][0]
        assert evidence["unit"] == "L2" and evidence["dram_pct"] == pytest.approx(37.88, abs=0.01)


def test_warp_states_of_a_real_run_name_the_depthwise_conv_issue_bound():
    """The mixer's kernels on an H100 with ncu's warp states (tests/data/ncu): the depthwise conv (9x its floor)
    issues in 76% of its schedulers' cycles; the GEMMs and the elementwise kernels are within 2x of their floors,
    so their waits (barriers in cuBLAS, DRAM in the elementwise kernels) are as they should be."""
    data = Path(__file__).parents[1] / "data" / "ncu"
    a = analyze(data / "h100-mixer-kernels-trace.json.gz", ncu_csv=data / "h100-mixer-kernels-raw.csv.gz")
    found = [f for f in a.findings if f["id"] in ("issue-bound", "warp-stalls")]
    assert [f["id"] for f in found] == ["issue-bound"]
    assert found[0]["evidence"][0]["kernel"].startswith("at::native::(anonymous namespace)::conv_depthwise2d")
    assert found[0]["evidence"][0]["issue_rate"] == pytest.approx(0.76, abs=0.01)


def test_dram_overfetch_is_quiet_on_a_gemm_near_its_floor(monkeypatch):
    # real H200 trace and ncu CSV: cuBLAS's GEMM moved 1.77x its operands' bytes, at 1.23x its roofline floor
    data = Path(__file__).parents[1] / "data"
    a = analyze(data / "h200-models-trace.json.gz", ncu_csv=data / "h200-models-ncu.csv.gz")
    gemm = [r for r in a.ncu if r.get("matched") and r["name"].startswith("nvjet")]
    assert sum(r["ncu_dram_bytes"] for r in gemm) > 1.5 * sum(r["derived_bytes"] for r in gemm)
    assert "dram-overfetch" not in [f["id"] for f in a.findings]
    monkeypatch.setattr(finding, "FAR_FROM_ROOFLINE_X", 1.2)  # its floor is what keeps it quiet: the names do match
    f = next(f for f in diagnose(a) if f.id == "dram-overfetch")
    assert f.evidence[0]["kernel"].startswith("nvjet") and f.evidence[0]["ratio"] == pytest.approx(1.77, abs=0.01)


def _manifest(**kw):
    return Manifest(run_id="r", name="r", **kw)


def test_recompiles_and_graph_breaks():
    m = _manifest(compile=CompileInfo(mode="default", recompiles_during_measurement=2, graph_breaks=3,
                                      graph_break_reasons={"call_function print": 3}))
    found = {f.id: f for f in diagnose(_a(manifest=m))}
    assert "--dynamic" in found["recompiles"].suggestion and "call_function print" in found["graph-breaks"].message
    clean = _manifest(compile=CompileInfo(mode="default"))
    assert ids(_a(manifest=clean)) == []
    profiled = diagnose(_a(manifest=_manifest(compile=CompileInfo(mode="default", recompiles_during_profile=1))))
    assert [f.id for f in profiled] == ["recompiles"] and "1 time(s) inside the profiled steps" in profiled[0].message


def test_throttled():
    hot = _manifest(telemetry=TelemetryInfo(summary=TelemetrySummary(nvml=NvmlSummary(
        clock_event_reasons_seen=[0x1, 0x40 | 0x4]))))
    f = next(f for f in diagnose(_a(manifest=hot)) if f.id == "throttled")
    assert "hardware thermal slowdown" in f.message and "software power cap" in f.message
    idle_only = _manifest(telemetry=TelemetryInfo(summary=TelemetrySummary(nvml=NvmlSummary(
        clock_event_reasons_seen=[0x1]))))  # GPU idle is not throttling
    assert "throttled" not in ids(_a(manifest=idle_only))



def test_throttled_by_the_power_limit_says_so_with_its_clock():
    capped = _manifest(telemetry=TelemetryInfo(summary=TelemetrySummary(nvml=NvmlSummary(
        clock_event_reasons_seen=[0x4], sm_clock_mhz=SeriesStats(mean=1626.6, max=1980.0, samples=50),
        power_w=SeriesStats(mean=698.0, max=731.0, samples=50)))))
    f = next(f for f in diagnose(_a(manifest=capped)) if f.id == "throttled")
    assert f.message == ("NVML reported the clocks held down during the measured window: software power cap; SM clock "
                         "1,627 MHz on average (max 1,980); power 698 W on average (max 731); the timings are slower "
                         "than the device's rated clocks.")
    assert "sustained speed" in f.suggestion and f.evidence[0]["sm_clock_mhz_mean"] == 1626.6
    hot = _manifest(telemetry=TelemetryInfo(summary=TelemetrySummary(nvml=NvmlSummary(
        clock_event_reasons_seen=[0x4, 0x20]))))  # heat too: a fault to look at; no samples, no figures
    f = next(f for f in diagnose(_a(manifest=hot)) if f.id == "throttled")
    assert "cooling" in f.suggestion and "on average" not in f.message and f.evidence[0]["power_w_mean"] is None


@pytest.mark.parametrize("before, after, fires", [(1700.0, 3300.0, True), (3300.0, 1700.0, True),
                                                   (1700.0, 2000.0, False), (1700.0, None, False), (None, None, False)])
def test_host_speed_changed(before, after, fires):
    m = _manifest(host=HostInfo(probe_before_us=before, probe_after_us=after))
    found = {f.id: f for f in diagnose(_a(manifest=m, summary={"idle_host_wait_us": 300.0}))}
    assert ("host-speed-changed" in found) == fires
    if fires:
        f = found["host-speed-changed"]
        assert f"took {before / 1e3:.2f} ms before the measured steps and {after / 1e3:.2f} ms after" in f.message
        assert "the GPU waited on the host in this run" in f.message and f.time_us is None
    assert "host-speed-changed" not in ids(_a(manifest=_manifest()))  # runs made before the probe existed


def test_memory_pressure():
    full = _manifest(memory=Memory(peak_reserved_bytes=int(135e9)), device=Device(kind="cuda",
                                                                                  total_memory_bytes=int(141e9)))
    assert "memory-pressure" in ids(_a(manifest=full))
    roomy = _manifest(memory=Memory(peak_reserved_bytes=int(50e9)), device=Device(kind="cuda",
                                                                                  total_memory_bytes=int(141e9)))
    assert "memory-pressure" not in ids(_a(manifest=roomy))
    # a bare trace: the device's memory from deviceProperties, and the place of the peak named
    bare = _a(summary={"peak_reserved_bytes": 130e9, "device_memory_bytes": 141e9, "peak_allocated_op": "aten::sum",
                       "peak_allocated_phase": "ssd/intra_chunk", "peak_allocated_module": "(no module)"})
    f = next(f for f in diagnose(bare) if f.id == "memory-pressure")
    assert "92% of the device's 141.0 GB" in f.message
    assert "reached under aten::sum in ssd/intra_chunk:" in f.message and "(no module)" not in f.message
    assert f.evidence[0]["peak_allocated_op"] == "aten::sum"
    # allocations that failed and were retried during the measured iterations: memory was full, below 90% at the peak
    retried = _manifest(memory=Memory(peak_reserved_bytes=int(100e9), alloc_retries_measured=3),
                        device=Device(kind="cuda", total_memory_bytes=int(141e9)))
    f = next(f for f in diagnose(_a(manifest=retried)) if f.id == "memory-pressure")
    assert "71% of the device's" in f.message and "3 allocation(s) failed during the measured iterations" in f.message
    assert "expandable_segments" in f.suggestion


def test_findings_are_ranked_by_time_at_stake_and_serialise():
    a = _a([_k(total=600.0, floor_us=100.0, excess_us=500.0, bound="memory", theoretical_occupancy_pct=12.5,
               limiter="registers", registers=255, block="128x1x1"),
            _k("b", total=400.0, bytes_known=0, bytes=None)],
           {"floor_us": 100.0, "above_floor_x": 6.0, "floor_coverage_pct": 60.0},
           manifest=_manifest(compile=CompileInfo(recompiles_during_measurement=1)))
    found = diagnose(a)
    timed = [f.time_us for f in found if f.time_us is not None]
    assert timed == sorted(timed, reverse=True) and found[-1].time_us is None
    assert {"id", "severity", "message", "evidence", "suggestion", "time_us"} == set(found[0].to_dict())


def test_every_rule_is_tested_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for rule in R.RULES:
        assert f'"{rule.__name__.replace("_", "-")}"' in source, rule.__name__


def test_sync_stall(tmp_path):
    """Kernels whose every second launch follows an ``.item()``: the host waits for the GPU, which then sits
    empty until the next launch comes; the finding names the call, the op and its cause."""
    t = trace_of([("k", 10.0, *BIG)] * 10, gap_us=30.0, launch_lead_us=0.5)
    for i in range(0, 10, 2):  # an .item() just before kernel i ends at 100 + 40 i + 10: it waits for the kernel
        end = 100.0 + 40.0 * i + 10.0
        t["traceEvents"] += [_op("aten::_local_scalar_dense", end - 1.5, 2.5, 9000 + i),
                             _rt("cudaStreamSynchronize", end - 1.0, 1.5, 9100 + i, 9000 + i)]
    a = analysis(tmp_path, t)
    f = next(f for f in diagnose(a) if f.id == "sync-stall")  # empty from end + 0.5 to the next kernel at end + 30
    assert f.time_us == pytest.approx(5 * 29.5) and "synchronised with the GPU 5 times" in f.message
    assert "(.item())" in f.message and "cannot be captured in a graph" in f.suggestion
    host = next(f for f in diagnose(a) if f.id == "host-bound")  # graphs come after the synchronisations
    assert host.suggestion.startswith("First keep the step free of host-device synchronisations")
    quiet = trace_of([("k", 10.0, *BIG)] * 10, gap_us=30.0, launch_lead_us=0.5)
    assert "sync-stall" not in ids(analysis(tmp_path, quiet))


def test_exposed_transfers(tmp_path):
    """A 4 MB batch copied from pinned memory before every second kernel, on the kernels' stream (in the 30 us gap
    after it): 5 copies of 25 us with no kernel beside them; on a side stream under the kernels instead, none."""
    def with_copies(side: bool):
        t = trace_of([("k", 40.0, *BIG)] * 10, gap_us=30.0, launch_lead_us=0.5)
        for i in range(0, 10, 2):  # kernel i runs [100 + 70 i, 140 + 70 i)
            at = 100.0 + 70.0 * i + (5.0 if side else 42.0)
            t["traceEvents"].append(
                {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD (Pinned -> Device)", "pid": 0,
                 "tid": 9 if side else 7, "ts": at, "dur": 25.0,
                 "args": {"device": 0, "stream": 9 if side else 7, "correlation": 9300 + i, "bytes": 4 << 20}})
        return analysis(tmp_path, t)

    a = with_copies(side=False)
    f = next(f for f in diagnose(a) if f.id == "exposed-transfers")
    assert f.time_us == pytest.approx(125.0) and f.severity == "medium"  # of a 670 us window: 19%
    assert "HtoD from pinned memory on stream 7 (the kernels' own)" in f.message and "side stream" in f.suggestion
    assert "exposed-transfers" not in ids(with_copies(side=True))
    # a run that recorded its PCIe link: the rate against it (4 MiB in 25 us: 167.8 GB/s does not fit a 5.0 x16
    # link, so nothing is claimed; at 1/4 the rate, 41.9 GB/s is 67% of it)
    link = Device(kind="cuda", nvml=NvmlDevice(pcie_link_generation=5, pcie_link_width=16, pcie_gbps=63.0))
    a.manifest = _manifest(device=link)
    assert "link" not in next(f for f in diagnose(a) if f.id == "exposed-transfers").message
    for row in a.transfers:
        row["gbps"] /= 4
    assert "41.9 GB/s, 67% of the PCIe 5.0 x16 link's 63.0 GB/s" in next(
        f for f in diagnose(a) if f.id == "exposed-transfers").message


def _stepped(durations, inside=None):
    """A CPU-only trace of profiled steps back to back (``ProfilerStep#<i>``, ``durations`` in us), each holding an
    aten::mm over its whole length; ``inside``: {step index: (range name, us)} puts that range at the step's start."""
    events, t = [], 0.0
    for i, d in enumerate(durations):
        events += [_op(f"ProfilerStep#{i}", t, d, -1, cat="user_annotation"), _op("aten::mm", t, d, 100 + i)]
        if inside and i in inside:
            name, us = inside[i]
            events.append(_op(name, t + 1.0, us, -1, cat="user_annotation"))
        t += d + 1.0
    return {"schemaVersion": 1, "traceEvents": events}


def test_uneven_steps(tmp_path):
    """One step of six at 5x the median, its extra time inside torch.compile's compile range: the finding names the
    step and the cause and points to compilation-in-trace. The first step alone slow with nothing inside: a
    warm-up; every third step: periodic host work; each step longer than the last: something accumulates; steps
    within 1.5x of each other: nothing."""
    compiled = analysis(tmp_path, _stepped([1000.0] * 3 + [5000.0] + [1000.0] * 2,
                                           {3: ("_compile.compile_inner (dynamo_timed)", 3900.0)}))
    f = next(f for f in diagnose(compiled) if f.id == "uneven-steps")
    assert "1 of 6 profiled steps took at least 1.5x the median step (1.00 ms): ProfilerStep#3 5.00 ms (5.0x)" \
        in f.message and "compiling (torch.compile): 3.90 ms" in f.message
    assert f.suggestion == "Most of it was compiling (torch.compile): see compilation-in-trace."
    assert f.time_us is None and f.severity == "high"  # compilation-in-trace counts that time
    sporadic = analysis(tmp_path, _stepped([1000.0] * 3 + [5000.0] + [1000.0] * 2))
    assert next(f for f in diagnose(sporadic) if f.id == "uneven-steps").time_us == pytest.approx(4000.0)  # host
    assert "Not known from this trace: time in memory allocation calls" in f.message  # no runtime calls
    warm = analysis(tmp_path, _stepped([3000.0] + [1000.0] * 4))
    first = next(f for f in diagnose(warm) if f.id == "uneven-steps")
    assert first.suggestion.startswith("Only the first profiled step is slow: first-call work")
    warm.manifest = _manifest(profile=ProfileSettings(wait=2, warmup=0, active=5))  # the code warm, the profiler not
    first = next(f for f in diagnose(warm) if f.id == "uneven-steps")
    assert "this run's profiler had no warm-up step (its schedule: wait 2, warmup 0, active 5)" in first.suggestion
    warm.manifest = _manifest(profile=ProfileSettings(wait=1, warmup=1, active=5))
    assert "first-call work" in next(f for f in diagnose(warm) if f.id == "uneven-steps").suggestion
    periodic = analysis(tmp_path, _stepped([1000.0, 1000.0, 4000.0] * 3))
    assert next(f for f in diagnose(periodic) if f.id == "uneven-steps").suggestion.startswith("One step in 3 is slow")
    first_and_one = analysis(tmp_path, _stepped([4000.0, 1000.0, 1000.0, 4000.0, 1000.0, 1000.0]))
    assert not next(f for f in diagnose(first_and_one) if f.id == "uneven-steps").suggestion.startswith("One step in")
    growing = analysis(tmp_path, _stepped([1000.0, 1200.0, 1500.0, 2500.0, 4000.0]))
    assert "Each step took longer" in next(f for f in diagnose(growing) if f.id == "uneven-steps").suggestion
    even = analysis(tmp_path, _stepped([1000.0, 1400.0, 900.0, 1100.0]))
    assert "uneven-steps" not in ids(even) and R.can_judge(even, "uneven-steps")
    assert not R.can_judge(analysis(tmp_path, _stepped([1000.0, 5000.0])), "uneven-steps")  # two steps: no median
    # on a GPU whose kernels fill every step, the slow one included (its host waited for its long kernel): the GPU
    # lost nothing in it, so no finding
    durations = [1000.0] * 3 + [5000.0] + [1000.0] * 2
    t, start = _stepped(durations), 0.0
    for i, d in enumerate(durations):
        t["traceEvents"] += [_rt("cudaLaunchKernel", start, 0.5, 7000 + i),
                             _kernel("k", start + 1.0, d - 2.0, 7000 + i, -1)]
        start += d + 1.0
    waited = analysis(tmp_path, t)
    assert [r["gpu_idle_us"] for r in waited.steps] == [2.0] * 6 and "uneven-steps" not in ids(waited)


def test_allocation_stall(tmp_path):
    """A cudaFree (the allocator giving memory back) begun near the end of every second kernel: it waits for the
    kernel, and the GPU sits idle while it runs and until the next launch; the finding counts them, names the call
    and suggests taking empty_cache() out of the loop. The same calls returning while the kernel runs cost nothing."""
    def with_frees(during_kernel: bool):
        t = trace_of([("k", 10.0, *BIG)] * 10, gap_us=30.0, launch_lead_us=0.5)
        for i in range(0, 10, 2):  # kernel i runs [100 + 40 i, 110 + 40 i)
            at = 100.0 + 40.0 * i + (2.0 if during_kernel else 8.0)
            t["traceEvents"] += [_rt("cudaFree", at, 5.0 if during_kernel else 20.0, 9200 + i)]
        return analysis(tmp_path, t)

    f = next(f for f in diagnose(with_frees(False)) if f.id == "allocation-stall")
    assert "memory 5 times inside the GPU window (0 to allocate, 5 to free)" in f.message
    assert f.time_us == pytest.approx(5 * 30.0)  # each free began as a kernel ran: the whole gap [110, 140) is its
    assert "cudaFree under no operator: 5x" in f.message and "empty_cache()" in f.suggestion
    assert "allocation-stall" not in ids(with_frees(True))
    # the run's allocator counters say which cause of the frees it was: failed allocations retried, or none failed
    a = with_frees(False)
    for retries, said in ((4, "4 allocation(s) failed during the run's measured iterations and were retried"),
                          (0, "no allocation failed during the run's measured iterations")):
        a.manifest = _manifest(memory=Memory(peak_reserved_bytes=int(50e9), alloc_retries_measured=retries))
        f = next(f for f in diagnose(a) if f.id == "allocation-stall")
        assert said in f.suggestion


def test_compilation_in_trace():
    """Compile ranges over COMPILATION_SPAN_PCT of the span (tests/analysis/test_compilation.py has the traces):
    every frame in the first of several steps is a missing warm-up, not recompilation."""
    summary = {"compile_frames": 3, "compile_us": 900.0, "span_us": 1000.0, "compile_gpu_idle_us": 0.0,
               "compile_steps": 1, "compile_frames_after_first_step": 0, "profiled_steps": 3}
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "compilation-in-trace")
    assert "a missing warm-up" in f.suggestion and "recompiles" not in f.suggestion and f.time_us is None
    summary.update(compile_frames=0, compile_steps=0)  # inductor's phases alone: no frame to place in a step
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "compilation-in-trace")
    assert "compile phases outside any Dynamo frame compile" in f.message and "Warm up before recording" in f.suggestion
    summary["compile_us"] = 10.0
    assert "compilation-in-trace" not in ids(_a(summary=summary))


def test_cudagraph_recording():
    """CUDA graphs recorded inside the trace (tests/analysis/test_cuda_graphs.py has the traces): over
    CUDAGRAPH_RECORDING_PCT of the GPU window in idle time, re-recording after the first step names the shapes for
    CUDA graph trees and keeping the graph for captures by hand; recordings of the first step alone are a warm-up;
    a CPU-only profile is judged on host time, with nothing at stake."""
    summary = {"cudagraph_records": 4, "cudagraph_record_us": 3000.0, "cudagraph_record_gpu_idle_us": 400.0,
               "cudagraph_record_steps": 3, "cudagraph_records_after_first_step": 3, "cudagraph_replays": 5,
               "cudagraph_record_kinds": "cudagraph trees", "profiled_steps": 4, "gpu_idle_us": 400.0,
               "span_us": 5000.0}
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "cudagraph-recording")
    assert f.time_us == 400.0 and f.severity == "high" and "recorded 4 times inside the trace in 3 of 4" in f.message
    assert "3 of them began after the first step" in f.message and "cudagraph_skip_dynamic_graphs" in f.suggestion
    summary["cudagraph_record_kinds"] = "capture"
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "cudagraph-recording")
    assert "stream captures" in f.message and "Capture once and replay" in f.suggestion
    summary.update(cudagraph_records_after_first_step=0, cudagraph_record_steps=1)
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "cudagraph-recording")
    assert "a warm-up the profiler recorded" in f.suggestion and "after the first step" not in f.message
    summary["cudagraph_record_gpu_idle_us"] = 20.0  # 2% of the window
    assert "cudagraph-recording" not in ids(_a(summary=summary))
    summary.update(cudagraph_record_gpu_idle_us=None, gpu_busy_us=0.0, gpu_idle_us=0.0)  # no GPU: the span
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "cudagraph-recording")
    assert f.time_us is None and "60% of the trace's span" in f.message
    summary["cudagraph_records"] = 0
    assert "cudagraph-recording" not in ids(_a(summary=summary))


def test_grad_sync_per_microbatch():
    """Reductions in micro-batches no optimizer step followed (tests/analysis/test_grad_sync.py has the traces):
    over GRAD_SYNC_PCT of the GPU window it is a finding with that time at stake; FSDP's advice names its no_sync's
    memory cost; without an optimizer step in the trace, or below the threshold, none."""
    summary = {"wrapped_forwards": 8, "grad_sync_steps": 2, "grad_sync_microbatches": 8, "grad_sync_unneeded": 6,
               "grad_sync_unneeded_us": 300.0, "grad_sync_wrapper": "DistributedDataParallel"}
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "grad-sync-per-microbatch")
    assert f.time_us == 300.0 and f.severity == "high" and "(4.0 forwards a step): 6 of" in f.message
    assert "in the context manager model.no_sync()" in f.suggestion
    summary["grad_sync_wrapper"] = "FullyShardedDataParallel"
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "grad-sync-per-microbatch")
    assert "set_requires_gradient_sync(False)" in f.suggestion and "more memory" in f.suggestion
    for change in ({"grad_sync_steps": 0}, {"grad_sync_unneeded_us": 20.0}, {"grad_sync_unneeded_us": None},
                   {"grad_sync_unneeded": 0}):
        assert "grad-sync-per-microbatch" not in ids(_a(summary={**summary, **change})), change


def test_decode_floor():
    """A cached generate run's token against its floor (tests/analysis/test_decode_floor.py has the figures): from
    DECODE_FLOOR_X times it a finding, high from DECODE_FLOOR_HIGH_X; the advice follows what holds the token, the
    host (CUDA graphs) or the kernels; no time at stake."""
    summary = {"decode_token_ms": 1.2, "decode_floor_ms": 0.4, "decode_floor_x": 3.0, "decode_weight_bytes": 1.9e9,
               "decode_cache_bytes": 3.4e7, "decode_batch": 1, "decode_bound": "bandwidth", "decode_peak_gbps": 4800.0}
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "decode-floor")
    assert f.severity == "medium" and f.time_us is None and "3.0x its floor of 400.0 us" in f.message
    assert f.suggestion.startswith("The kernels take the time") and "400.0 us a sequence-token" in f.suggestion
    summary.update(decode_floor_x=6.0, idle_host_wait_us=800.0, gpu_idle_us=800.0)  # 44% of the window
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "decode-floor")
    assert f.severity == "high" and "The host sets the pace (the GPU waited on it for 44%" in f.suggestion
    summary["decode_floor_x"] = 1.5
    assert "decode-floor" not in ids(_a(summary=summary))


def test_data_loading():
    """The GPU idle inside the DataLoader's fetches (tests/analysis/test_data_loading.py has the traces): over
    DATA_LOADING_PCT of the window it is a finding whose time at stake is that idle time."""
    summary = {"data_loader_fetches": 8, "data_loader_us": 400.0, "data_loader_gpu_idle_us": 300.0,
               "data_loader_iterators": "_MultiProcessingDataLoaderIter", "gpu_idle_us": 300.0}
    f = next(f for f in diagnose(_a(summary=summary)) if f.id == "data-loading")
    assert f.time_us == 300.0 and "8 DataLoader fetches" in f.message and "num_workers" in f.suggestion
    summary["data_loader_gpu_idle_us"] = 10.0
    assert "data-loading" not in ids(_a(summary=summary))


def test_float64_kernels():
    """Kernels launched by ops on double tensors: named with their ops and share; the rate claim follows the
    device (data-center parts run float64 at half the float32 rate or better); no time at stake is claimed."""
    kernels = [_k("elementwise_kernel<double>", total=300.0, dtype="fp64", launched_by="aten::mul"),
               _k("reduce_kernel<double>", total=100.0, dtype="fp64", launched_by="aten::sum"),
               _k("gemm", total=600.0, dtype="bf16", launched_by="aten::mm")]
    f = next(f for f in diagnose(_a(kernels, {"devices": "NVIDIA L4"})) if f.id == "float64-kernels")
    assert f.message.startswith("2 kernels (20 launches) computed in float64") and "40% of kernel time" in f.message
    assert "by op: aten::mul 300.0 us, aten::sum 100.0 us" in f.message and "1/32 to 1/64" in f.message
    assert f.time_us is None and "torch.from_numpy" in f.suggestion
    f = next(f for f in diagnose(_a(kernels, {"devices": "NVIDIA H100 80GB HBM3"})) if f.id == "float64-kernels")
    assert "half its rate or better" in f.message
    few = [_k("elementwise_kernel<double>", total=10.0, dtype="fp64"), _k("gemm", total=990.0, dtype="bf16")]
    assert "float64-kernels" not in ids(_a(few))  # 1% of kernel time
    assert not R.can_judge(_a([_k("gemm", total=990.0)]), "float64-kernels")  # no shapes, so no dtypes


def test_float64_kernels_on_a_real_trace():
    """benchmarks/float64_trace.py on an H100: the float64 step's 7 kernels took 358.7 us, 63% of kernel time (the
    same step in float32: 207.8 us, and half the bytes)."""
    a = analyze(Path(__file__).resolve().parents[1] / "data" / "h100-float64.json.gz")
    f = next(f for f in a.findings if f["id"] == "float64-kernels")
    assert f["message"].startswith("7 kernels (21 launches) computed in float64") and "63% of kernel time" in f["message"]
    assert "half its rate or better" in f["message"]  # an H100
    phases = {p["phase"]: p for p in a.phases}
    assert phases["float64"]["bytes"] == pytest.approx(2 * phases["float32"]["bytes"], rel=0.01)


def test_pageable_copies(tmp_path):
    """Host-to-device copies from pageable memory between the kernels: the finding names them, their time and
    rate; the same copies from pinned memory are not a finding."""
    def with_copies(kind: str):
        t = trace_of([("k", 10.0, *BIG)] * 4, gap_us=30.0, launch_lead_us=0.5)
        for i in range(3):
            start = 100.0 + 40.0 * i + 12.0
            t["traceEvents"] += [
                _rt("cudaMemcpyAsync", start - 1.0, 0.5, 7000 + i),
                {"ph": "X", "cat": "gpu_memcpy", "name": f"Memcpy HtoD ({kind} -> Device)", "pid": 0, "tid": 7,
                 "ts": start, "dur": 8.0, "args": {"device": 0, "stream": 7, "correlation": 7000 + i,
                                                   "bytes": 8e6}}]
        return analysis(tmp_path, t)

    f = next(f for f in diagnose(with_copies("Pageable")) if f.id == "pageable-copies")
    assert f.time_us == pytest.approx(24.0) and "3 copies between the GPU and pageable host memory" in f.message
    assert "at 1,000.0 GB/s" in f.message and "pin_memory" in f.suggestion
    assert "pageable-copies" not in ids(with_copies("Pinned"))


def test_ssd_core():
    """The SSD core's kernels recognised by name: a finding when they hold at least SSD_CORE_PCT of kernel time,
    with mamba_ssm's five kernels pointed at a fused core."""
    rows = [{"implementation": "mamba_ssm", "step": step, "core": True, "launches": 3, "gpu_us": us,
             "floor_us": None, "excess_us": None} for step, us in (("chunk scan", 300.0), ("chunk states", 100.0))]
    heavy = _a(summary={"ssd_core_pct": 40.0, "ssd_core_us": 400.0, "ssd_implementation": "mamba_ssm"})
    heavy.ssd = rows
    f = next(f for f in diagnose(heavy) if f.id == "ssd-core")
    assert f.severity == "high" and "6 launches of 2 steps" in f.message and "chunk scan 300.0 us (75%)" in f.message
    assert measured.TRITON_CORE_VS_MAMBA_SSM.quoted in f.suggestion and "on an H200" in f.suggestion
    assert f.time_us is None  # no floor known: nothing at stake claimed
    light = _a(summary={"ssd_core_pct": 5.0, "ssd_core_us": 400.0, "ssd_implementation": "mamba_ssm"})
    light.ssd = rows
    assert "ssd-core" not in ids(light)
    assert "ssd-core" not in ids(_a())  # no SSD kernels
    shaped = _a(summary={"ssd_core_pct": 40.0, "ssd_core_us": 400.0, "ssd_implementation": "mamba_ssm",
                         "ssd_core_floor_us": 50.0, "ssd_core_above_floor_x": 8.0})
    shaped.ssd = rows
    f = next(f for f in diagnose(shaped) if f.id == "ssd-core")
    assert "8.0x the roofline floor of its calls' shapes (50.0 us" in f.message and f.time_us == pytest.approx(350)


def test_ssd_core_on_hopper_points_the_triton_scan_to_the_gluon_one():
    """bambaprof's core with its Triton chunk scan on a Hopper GPU (as the H100 profile rows of 1x512 eager ran it):
    the suggestion names the Gluon scan, when the default runs it, and how to force it; with the Gluon scan, or on
    another GPU, it does not."""
    def core(scan, capability):
        a = _a(summary={"ssd_core_pct": 18.0, "ssd_core_us": 33.5, "ssd_implementation": "bambaprof triton",
                        "compute_capability": capability})
        a.ssd = [{"implementation": "bambaprof triton", "step": step, "core": True, "kernels": kernels, "launches": 1,
                  "gpu_us": us, "floor_us": None, "excess_us": None}
                 for step, kernels, us in (("chunk scan", scan, 29.1), ("prep", "_chunk_prep", 4.4))]
        return next(f for f in diagnose(a) if f.id == "ssd-core").suggestion

    hopper = core("_chunk_scan", "9.0")
    from bambaprof.ssm.kernels import ssd  # the rule the suggestion states is the one the kernels follow

    assert f"BAMBAPROF_SSD_SCAN={ssd.AUTO_FORM} runs it" in hopper
    assert f"took {measured.GLUON_SCAN_VS_TRITON_SCAN.quoted} of its kernel time with _chunk_scan" in hopper

    assert f"eagerly from {ssd.EAGER_GLUON_PROGRAMS:,} scan programs" in hopper
    for scan, capability in (("_chunk_scan_sm90_slim", "9.0"), ("_chunk_scan", "8.0"), ("_chunk_scan", None),
                             ("_chunk_scan, _chunk_scan_sm90", "9.0")):
        assert "Gluon" not in core(scan, capability), (scan, capability)


def test_the_summary_names_the_devices_compute_capability():
    data = Path(__file__).parents[1] / "data" / "ncu"
    assert analyze(data / "h100-mixer-kernels-trace.json.gz").summary["compute_capability"] == "9.0"


def test_exposed_communication(tmp_path):
    """Compute kernels back to back on stream 7 and an all-reduce per kernel on stream 20: started with its
    kernel, the collective is hidden; started in the gap after it, it is exposed. Collectives' small grids and
    unknown bytes are not compute findings."""
    nccl = "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)"

    def with_all_reduces(offset_us: float):
        t = trace_of([("k", 10.0, *BIG)] * 10, gap_us=10.0, launch_lead_us=5.0)
        for i in range(10):
            t["traceEvents"].append(_kernel(nccl, 100.0 + 20.0 * i + offset_us, 8.0, 3000 + i, -1, stream=20,
                                            grid=(4, 1, 1), block=(640, 1, 1)))
        return analysis(tmp_path, t)

    exposed = with_all_reduces(10.5)  # in the gap: 8 of each 10 us gap is communication alone
    f = next(f for f in diagnose(exposed) if f.id == "exposed-communication")
    assert f.time_us == pytest.approx(80.0) and f.severity == "high"  # 80 of a 198.5 us window
    assert "all-reduce 10x, 80.0 us of 80.0 us exposed" in f.message and "bucket_cap_mb" in f.suggestion
    others = [f for f in diagnose(exposed) if f.id in ("small-grid", "unknown-bytes", "fusion-candidate")]
    assert not [ev for f in others for ev in f.evidence if ev.get("kernel") == nccl]  # "Reduce" is not fusible
    hidden = with_all_reduces(1.0)
    assert hidden.summary["collective_overlap_pct"] == pytest.approx(100.0)
    assert "exposed-communication" not in ids(hidden)


def test_elementwise_contraction_names_the_largest_and_its_einsum():
    """The naive FMS mixer on the H200 computes its chunked scan as stored broadcast products and sums (95% of its
    kernel time); mamba_ssm's mixer does not."""
    data = Path(__file__).resolve().parents[1] / "data"
    a = analyze(data / "h200-fms-naive-mixer-eager-b1-L512.json.gz")
    f = next(f for f in a.findings if f["id"] == "elementwise-contraction")
    assert f["severity"] == "high" and f == a.findings[0]  # the most time at stake
    assert "12 contractions (4 shapes)" in f["message"] and "[1, 2, 256, 256, 128, 128] (8.59 GB)" in f["message"]
    assert "torch.einsum('abde,acde->abcd'" in f["suggestion"]
    gpu = sum(r["gpu_us"] for r in a.contractions)
    floor = sum(r["floor_us"] for r in a.contractions)
    assert f["time_us"] == pytest.approx(gpu - floor) and len(f["evidence"]) == 4
    assert R.can_judge(a, "elementwise-contraction")
    b = analyze(data / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    assert b.contractions == [] and R.can_judge(b, "elementwise-contraction")
    assert not any(f["id"] == "elementwise-contraction" for f in b.findings)


def test_elementwise_contraction_needs_a_share_of_kernel_time():
    rows = [{"multiply": "aten::mul", "operands": "[8, 1, 16] x [1, 8, 16]", "dtype": "float",
             "product": "[8, 8, 16]", "product_bytes": 4096.0, "reduce": "aten::sum", "reduced_dims": "[2]",
             "count": 1, "cpu_us": 3.0, "gpu_us": 4.0, "floor_us": 0.1, "excess_us": 3.9, "einsum": "ac,bc->ab"}]
    a = SimpleNamespace(contractions=rows, kernels=[{"kind": "kernel", "total_us": 100.0}],
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0})
    assert R.elementwise_contraction(a) is None  # 4% of kernel time
    rows[0]["gpu_us"] = 6.0
    f = R.elementwise_contraction(a)
    assert f is not None and f.time_us == pytest.approx(5.9) and "60x their floor" in f.message
    rows[0]["floor_us"] = None  # no peak known: the whole time is at stake, and no floor is claimed
    f = R.elementwise_contraction(a)
    assert f.time_us == 6.0 and "floor" not in f.message
    assert not R.can_judge(SimpleNamespace(contractions=None, summary={"platform": "cuda", "kernel_us": 1.0}),
                           "elementwise-contraction")


def test_elementwise_contraction_on_a_run_of_the_default_variant_points_to_the_triton_one():
    run = Path(__file__).resolve().parents[2] / "traces" / "examples" / "bamba-9b-default-none-mixer-b1-L512-e73025ce"
    a = analyze(run)
    f = next(f for f in a.findings if f["id"] == "elementwise-contraction")
    assert "bambaprof profile --variant default --variant triton" in f["suggestion"]
    assert "(1 call, " in f["message"]
    triton = analyze(run.parent / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a")
    assert triton.contractions == [] and not any(f["id"] == "elementwise-contraction" for f in triton.findings)


SGEMM = "ampere_sgemm_128x64_nn"
TF32_GEMM = "sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_kernel__5x_cublas"


def test_float32_matmul_on_the_cuda_cores(tmp_path):
    """Ten float32 1024^3 products on an H200 in a kernel cuBLAS names as FFMA: 21.5 TFLOP/s against the float32
    peak of 67; what is at stake is their time above the TF32 floor (the FLOPs at 494.7 TFLOP/s, longer than the
    bytes at 4.8 TB/s). The same products in a TF32 kernel are not named."""
    mm = ("aten::mm", [[1024, 1024], [1024, 1024]], ["float", "float"])
    grid = ((8, 16, 1), (256, 1, 1), 128, 0)
    a = analysis(tmp_path, trace_of([(SGEMM, 100.0, *grid)] * 10, launch_lead_us=5.0, ext_op=mm))
    f = next(f for f in diagnose(a) if f.id == "float32-matmul")
    floor = 2 * 1024 ** 3 / 494.7e6
    assert f.time_us == pytest.approx(10 * (100.0 - floor)) and f.severity == "high"
    assert "at 21.5 TFLOP/s against a float32 peak of 67.0; the TF32 tensor cores' peak is 494.7 TFLOP/s (7.4x)" \
        in f.message and "10 launches" in f.message and "100% of kernel time" in f.message
    assert "set_float32_matmul_precision('high')" in f.suggestion and "bambaprof profile" not in f.suggestion
    assert f.evidence[0]["kernel"] == SGEMM and f.evidence[0]["launched_by"] == "aten::mm"
    assert a.summary["datasheet_tflops"]["tf32"] == 494.7
    tf32 = analysis(tmp_path, trace_of([(TF32_GEMM, 14.0, *grid)] * 10, launch_lead_us=5.0, ext_op=mm))
    assert "float32-matmul" not in ids(tf32)


def test_float32_matmul_advice_follows_the_device_and_the_run():
    rows = [_k(SGEMM, total=60.0, dtype="fp32", flops=None), _k("bf16_gemm", total=940.0, dtype="bf16")]
    assert R.float32_matmul(_a(rows)) is not None  # 6% of kernel time; no FLOPs known: nothing claimed at stake
    assert R.float32_matmul(_a(rows)).time_us is None
    rows[0]["total_us"] = 40.0
    assert R.float32_matmul(_a(rows)) is None  # 4%
    rows[0]["total_us"] = 600.0
    v100 = R.float32_matmul(_a(rows, {"compute_capability": "7.0", "datasheet_tflops": {"fp32": 15.7, "bf16": 125.0}}))
    assert "float16" in v100.suggestion and "TF32 tensor cores' peak" not in v100.message
    assert R.float32_matmul(_a(rows, {"compute_capability": "6.0"})) is None  # no tensor cores
    run = _manifest(versions=Versions(matmul_tf32="on"))
    allowed = R.float32_matmul(_a(rows, manifest=run))
    assert "TF32 was allowed in this run" in allowed.suggestion
    rows[0]["dtype"] = "bf16"  # a bf16 product is not float32, whatever the name
    assert R.float32_matmul(_a(rows)) is None


def test_float32_matmul_on_a_real_h100_trace():
    """A float32 512 x 1024 x 1024 product recorded on an H100 at torch's default precision: cuBLAS ran CUTLASS's
    SIMT kernel (`cutlass_80_simt_sgemm_*`), named here; the finding reads as one kernel."""
    a = analyze(Path(__file__).resolve().parents[1] / "data" / "ncu" / "h100-two-processes-rank0.json.gz")
    f = next(f for f in a.findings if f["id"] == "float32-matmul")
    assert "1 float32 matrix-product kernel ran on the CUDA cores" in f["message"] and "its name says" in f["message"]
    assert "cutlass_80_simt" in f["evidence"][0]["kernel"] and f["evidence"][0]["dtype"] == "fp32"
    assert f["time_us"] > 0 and "1 contraction (1 shape) is computed" in next(
        g["message"] for g in a.findings if g["id"] == "elementwise-contraction")


def test_copy_overhead_names_the_kinds_and_the_largest():
    """mamba_ssm's mixer on the H200 (eager): casts and layout copies take 18% of its kernel time."""
    a = analyze(Path(__file__).resolve().parents[1] / "data" / "h200-mamba-ssd-mixer-eager-b1-L512.json.gz")
    f = next(f for f in a.findings if f["id"] == "copy-overhead")
    assert f["time_us"] == pytest.approx(207.008) and f["severity"] == "low"  # 2% of an 8.7 ms window
    assert "18% of kernel time: cast 111.3 us (18 copies, under aten::to); layout 95.7 us" in f["message"]
    assert "The largest: [1, 8448, 512] (bf16 -> bf16) made contiguous under aten::contiguous inside aten::conv1d, 3 " \
        "times (84.6 us, 613.5 GB/s)" in f["message"]
    assert f["evidence"][0]["inside"] == "aten::conv1d" and f["evidence"][1]["inside"] is None
    assert f["suggestion"].startswith("Keep one dtype between kernels") and "; and give the reader" in f["suggestion"]
    assert "A convolution copied its input into the layout cuDNN reads" in f["suggestion"]
    assert R.can_judge(a, "copy-overhead")


def test_copy_overhead_needs_a_share_of_kernel_time():
    row = {"kind": "copy", "dtypes": "fp32 -> fp32", "shape": "[8]", "caller": "aten::masked_fill", "range": "ssd",
           "count": 1,
           "gpu_us": 9.0, "bytes": 64.0, "gbps": 0.007}
    a = SimpleNamespace(copies=[row], kernels=[{"kind": "kernel", "total_us": 100.0}], manifest=None,
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0})
    assert R.copy_overhead(a) is None  # 9%
    row["gpu_us"] = 12.0
    f = R.copy_overhead(a)
    assert f.time_us == 12.0 and "(1 copy, under aten::masked_fill)" in f.message
    assert "[8] (fp32 -> fp32) copied under aten::masked_fill in ssd, 1 time (12.0 us, 0.007 GB/s)" in f.message
    assert f.suggestion.startswith("Avoid the copies out-of-place ops make") and "; and" not in f.suggestion
    assert "cuDNN" not in f.suggestion
    assert not R.can_judge(SimpleNamespace(copies=None, summary={"platform": "cuda", "kernel_us": 1.0,
                                                                  "copy_cast_us": None}), "copy-overhead")
    graphed = analyze(Path(__file__).resolve().parents[2] / "traces" / "examples"
                      / "bamba-9b-triton-max-autotune-mixer-b1-L512-a5f03b61")
    assert graphed.copies is not None and not R.can_judge(graphed, "copy-overhead")  # replays hide their copies


def test_float32_matmul_without_shapes_claims_no_time_at_stake():
    """A real H100 trace recorded without record_shapes (tests/data/activities/cuda.json.gz, CUDA activity alone):
    cuBLAS's FFMA kernel and its split-K partner are named; their FLOPs, and so the time at stake, are unknown."""
    a = analyze(Path(__file__).resolve().parents[1] / "data" / "activities" / "cuda.json.gz")
    f = next(f for f in a.findings if f["id"] == "float32-matmul")
    assert f["time_us"] is None and "2 float32 matrix-product kernels" in f["message"] and "TFLOP/s against" not in f["message"]
    assert {e["kernel"].split("_execute")[1][:8] for e in f["evidence"]} == {"_kernel_", "_split_k"}


def test_copy_overhead_on_an_eager_run_points_to_inductor():
    """The triton variant's eager example run (H200, 1 x 512): the conv's input made contiguous inside conv1d, in
    the conv phase, leads; the casts come second, so the advice names --compile default."""
    run = Path(__file__).resolve().parents[2] / "traces" / "examples" / "bamba-9b-triton-none-mixer-b1-L512-0c0c931a"
    f = next(f for f in analyze(run).findings if f["id"] == "copy-overhead")
    assert "made contiguous under aten::contiguous inside aten::conv1d in conv, 1 time" in f["message"]
    assert f["suggestion"].endswith("With bambaprof profile: --compile default lets inductor fuse the casts.")
    compiled = run.parent / "bamba-9b-triton-max-autotune-mixer-b1-L512-a5f03b61"
    assert not any(f["id"] == "copy-overhead" for f in analyze(compiled).findings)


def test_float32_matmul_says_over_which_kernels_its_rate_is_known():
    rows = [_k(SGEMM, total=500.0, dtype="fp32", flops=5e9, floor_bytes_us=1.0),
            _k("sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_execute_split_k_kernel", total=100.0, dtype="fp32", flops=None)]
    f = R.float32_matmul(_a(rows, {"compute_capability": "9.0", "datasheet_tflops": {"fp32": 67.0, "tf32": 494.7}}))
    assert "at 10.0 TFLOP/s against a float32 peak of 67.0 (1 of the 2 kernels, whose FLOPs are known)" in f.message
    assert f.time_us == pytest.approx(500.0 - 5e9 / 494.7e6)  # the split-K kernel's stake is unknown, not guessed


def test_float32_matmul_is_quiet_where_tf32_ran():
    """The same float32 512 x 1024 x 1024 product as the two-process fixture's rank 0, recorded on an H100 with
    torch.set_float32_matmul_precision('high'): cuBLAS ran its TF32 warpgroup kernel (10.7 us a launch against the
    FFMA kernel's 28.2 us at 'highest'), and the finding does not fire."""
    from bambaprof.analysis.gemm_units import TENSOR_CORES, float32_gemm_units

    a = analyze(Path(__file__).resolve().parents[1] / "data" / "h100-fp32-mm-tf32.json.gz")
    (gemm,) = [k for k in a.kernels if k["kind"] == "kernel" and k.get("launched_by") == "aten::mm"]
    assert float32_gemm_units(gemm["name"]) == TENSOR_CORES and "tf32f32" in gemm["name"] and gemm["dtype"] == "fp32"
    assert gemm["mean_us"] == pytest.approx(10.7, abs=0.1)
    assert not any(f["id"] == "float32-matmul" for f in a.findings) and R.can_judge(a, "float32-matmul")


def test_misaligned_gemm(tmp_path):
    """The fallback kernel of a bf16 product with N = 50257 holding most of kernel time: the finding names the shape and
    the odd dimension and claims no time (tests/analysis/test_misaligned_gemms.py has the table)."""
    from tests.analysis.test_misaligned_gemms import _products

    f = next(f for f in diagnose(analyze(_products(tmp_path))) if f.id == "misaligned-gemm")
    assert "N=50257" in f.message and f.time_us is None and f.severity == "high"


def _attention_row(backend, gpu_us, **kw):
    row = {"backend": backend, "op": "aten::_scaled_dot_product_attention_math", "found_by": "call", "count": 2,
           "query": "[1, 8, 512, 64]", "key": "[1, 8, 512, 64]", "value": "[1, 8, 512, 64]", "dtype": "bf16",
           "mask": "none", "causal": True, "dropout": 0.0, "score_bytes": 4194304.0, "flops": 1e9, "cpu_us": 10.0,
           "gpu_us": gpu_us, "backward_us": 0.0, "floor_us": 1.0, "excess_us": gpu_us - 1.0, "tflops": None}
    row.update(kw)
    return row


def test_unfused_attention_needs_a_share_of_kernel_time():
    rows = [_attention_row("math", 4.0), _attention_row("flash", 90.0, op="aten::_scaled_dot_product_flash_attention")]
    a = SimpleNamespace(attention=rows, kernels=[{"kind": "kernel", "total_us": 100.0}],
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0, "platform": "cuda"})
    assert R.unfused_attention(a) is None  # 4% of kernel time; the fused call does not count
    rows[0]["backward_us"] = 2.0  # the backward the math path ran counts too: 6%
    f = R.unfused_attention(a)
    assert f is not None and f.id == "unfused-attention" and f.time_us == pytest.approx(5.0)
    assert "6.0x their floor" in f.message and "2 attention calls" in f.message
    assert "Nothing in the math fallback's recorded inputs" in f.suggestion  # bf16, no mask, head dim 64
    rows[0].update(floor_us=None, dtype="fp16", query="[1, 8, 512, 320]")  # no peak: all of it at stake
    f = R.unfused_attention(a)
    assert f.time_us == pytest.approx(6.0) and "floor" not in f.message
    assert "a head dimension of 320" in f.suggestion
    by_name = [_attention_row("unfused", 50.0, found_by="kernel name")]  # kernels found by name are not calls
    assert R.unfused_attention(SimpleNamespace(attention=by_name, kernels=a.kernels, summary=a.summary)) is None
    assert not R.can_judge(SimpleNamespace(attention=[], summary={"platform": "cuda", "kernel_us": 1.0,
                                                                  "attention_calls": None}), "unfused-attention")


def _optimizer_row(impl, **kw):
    row = {"optimizer": "RMSprop", "implementation": impl, "steps": 4, "host_us": 400.0, "host_mean_us": 100.0,
           "ops_per_step": 40.0, "launches_per_step": 40.0, "gpu_us": 80.0, "gpu_window_us": 300.0,
           "gpu_idle_us": 40.0}
    row.update(kw)
    return row


def test_unfused_optimizer_thresholds_and_advice():
    summary = {"gpu_busy_us": 900.0, "gpu_idle_us": 100.0, "span_us": 1000.0, "platform": "cuda"}
    a = SimpleNamespace(optimizer=[_optimizer_row("for-loop", gpu_idle_us=45.0)], summary=summary)
    assert R.unfused_optimizer(a) is None  # 4.5% of the 1000 us window
    a.optimizer[0]["gpu_idle_us"] = 60.0
    f = R.unfused_optimizer(a)
    assert f.id == "unfused-optimizer" and f.time_us == 60.0 and f.severity == "medium"
    assert "RMSprop has no fused implementation" in f.suggestion and "foreach=True" in f.suggestion
    a.optimizer = [_optimizer_row("fused", gpu_idle_us=600.0)]  # nothing better to suggest
    assert R.unfused_optimizer(a) is None
    # steps that launched nothing (parameters on the CPU): their host time against the span, 10%
    host = SimpleNamespace(optimizer=[_optimizer_row("foreach", optimizer="SGD", launches_per_step=0.0, gpu_us=0.0,
                                                     host_us=90.0)], summary=summary)
    assert R.unfused_optimizer(host) is None
    host.optimizer[0]["host_us"] = 120.0
    f = R.unfused_optimizer(host)
    assert f.time_us is None and "SGD with fused=True" in f.suggestion and "12% of the trace's span" in f.message


def test_depthwise_conv_thresholds():
    row = {"op": "aten::_conv_depthwise2d", "kind": "causal conv1d", "input": "[1, 64, 1, 512]",
           "weight": "[64, 1, 1, 4]", "dtype": "bf16", "padding": "[0, 3]", "count": 1, "kernels": "k", "gpu_us": 4.0,
           "floor_us": 1.0, "excess_us": 3.0}
    a = SimpleNamespace(depthwise_convs=[row], kernels=[{"kind": "kernel", "total_us": 100.0}],
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0})
    assert R.depthwise_conv(a) is None  # 4% of kernel time
    row["gpu_us"] = 6.0
    f = R.depthwise_conv(a)
    assert f.id == "depthwise-conv" and f.time_us == pytest.approx(5.0) and "causal-conv1d" in f.suggestion
    row["floor_us"] = 4.0  # 1.5x its floor: near enough
    assert R.depthwise_conv(a) is None
    row["floor_us"] = None  # no floor known: the share alone, no time claimed
    f = R.depthwise_conv(a)
    assert f.time_us is None and "their floor" not in f.message


def test_growing_cat_threshold():
    row = {"shape": "[1, 8, S, 64]", "dim": 2, "appended": 1, "calls": 10, "first_length": 10, "last_length": 19,
           "lengths": 10, "elements_written": 76800, "elements_appended": 5120, "element_bytes": 2,
           "bytes_written": 153600.0, "cpu_us": 50.0, "gpu_us": 4.0, "floor_us": 1.0}
    a = SimpleNamespace(growing_cats=[row], kernels=[{"kind": "kernel", "total_us": 100.0}],
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0, "platform": "cuda"})
    assert R.growing_cat(a) is None  # 4% of kernel time
    row["gpu_us"] = 6.0
    f = R.growing_cat(a)
    assert f.id == "growing-cat" and f.time_us == pytest.approx(5.0) and "15x what it appended" in f.message


def test_grad_enabled_inference_thresholds():
    summary = {"gpu_busy_us": 900.0, "gpu_idle_us": 100.0, "gpu_window_us": 1000.0, "idle_host_wait_us": 100.0,
               "platform": "cuda", "autograd_forward_ops": 40, "autograd_forward_nodes": 15,
               "autograd_backward_ops": 0, "autograd_cpu_ops": 100, "autograd_forward_op_names": "aten::linear x15"}
    a = SimpleNamespace(summary=summary)
    assert R.grad_enabled_inference(a) is None  # 15 nodes: a custom autograd.Function or two, not a model
    summary.update(autograd_forward_nodes=40, autograd_cpu_ops=1000)
    assert R.grad_enabled_inference(a) is None  # 4 nodes per 100 ops
    summary["autograd_cpu_ops"] = 200
    f = R.grad_enabled_inference(a)
    assert f.id == "grad-enabled-inference" and f.severity == "low"  # the GPU waited on the host 10% of its window
    summary["idle_host_wait_us"] = 200.0
    assert R.grad_enabled_inference(a).severity == "medium"
    summary["autograd_backward_ops"] = 3  # a backward ran: training
    assert R.grad_enabled_inference(a) is None


def test_no_cache_generation_threshold():
    row = {"op": "aten::linear", "weight": "[128, 64]", "dtype": "fp32", "runs": 1, "first_tokens": 8,
           "last_tokens": 11, "step": 1, "calls": 4, "cpu_us": 20.0, "gpu_us": 10.0, "recomputed_cpu_us": 15.0,
           "recomputed_gpu_us": 4.0}
    a = SimpleNamespace(generation=[row], kernels=[{"kind": "kernel", "total_us": 100.0}],
                        summary={"gpu_busy_us": 100.0, "gpu_idle_us": 0.0, "platform": "cuda"})
    assert R.no_cache_generation(a) is None  # 4% of kernel time
    row["recomputed_gpu_us"] = 6.0
    f = R.no_cache_generation(a)
    assert f.id == "no-cache-generation" and f.time_us == 6.0 and "ran on 8, 9, ..., 11 tokens" in f.message


def test_checkpoint_headroom_thresholds():
    summary = {"gpu_busy_us": 100.0, "gpu_idle_us": 0.0, "recompute_gpu_us": 9.0, "recompute_calls": 3,
               "backward_gpu_us": 40.0, "peak_reserved_bytes": 10e9, "device_memory_bytes": 80e9}
    a = SimpleNamespace(summary=summary, kernels=[{"kind": "kernel", "total_us": 100.0}],
                        checkpointing=[{"op": "aten::linear", "calls": 3, "cpu_us": 5.0, "gpu_us": 9.0}])
    assert R.checkpoint_headroom(a) is None  # 9% of kernel time
    summary["recompute_gpu_us"] = 12.0
    f = R.checkpoint_headroom(a)
    assert f.id == "checkpoint-headroom" and f.time_us == 12.0 and "(12%)" in f.message
    summary["peak_reserved_bytes"] = 40e9  # half the device: the memory checkpointing saves is needed
    assert R.checkpoint_headroom(a) is None
