"""bambaprof bench ssd: byte and FLOP counts, timing, out-of-memory, the mamba_ssm loader."""

import json
import sys

import pytest
import torch

from bambaprof.bench.peers import load_mamba_ssm
from bambaprof.bench.ssd import Ceilings, bench_ssd, minimum_bytes, minimum_flops
from bambaprof.cli import main
from bambaprof.errors import UsageError
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape

SHAPE = Shape(1, 64, 4, 16, 2, 16, 16)


def test_minimum_bytes_and_flops_by_hand():
    s = Shape(2, 100, 8, 64, 1, 128, 256)
    # x and y (2*100*8*64 each, bf16), dt (2*100*8), B and C (2*100*1*128 each), A/D/bias fp32, final state fp32
    assert minimum_bytes(s, torch.bfloat16) == 2 * (2 * 100 * 8 * 64 * 2) + 2 * 100 * 8 * 2 + 2 * (2 * 100 * 128 * 2) \
        + 3 * 8 * 4 + 2 * 8 * 64 * 128 * 4
    Q = 100  # the chunk is capped at the length
    assert minimum_flops(s) == 2 * (8 * (4 * 100 * 64 * 128 + 100 * Q * 64) + 1 * 100 * Q * 128)


def test_bench_times_cores_and_reports_errors():
    calls = []

    def counting(x, *a, **k):
        calls.append(x.data_ptr())
        return get_variant("default")(x, *a, **k)

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    def broken(*a, **k):
        raise RuntimeError("bad kernel")

    records = bench_ssd({"default": counting, "big": oom, "broken": broken}, [SHAPE], torch.float32, "cpu",
                        Ceilings(copy_gbps=10.0, matmul_tflops=0.1, matmul_dtype="float32"), rep_ms=20)
    by = {r.variant: r for r in records}
    assert by["default"].status == "ok" and by["default"].median_ms > 0 and by["default"].vs_baseline == 1.0
    assert by["default"].kernel_ms is None and by["default"].launches is None  # unknown off a GPU
    assert by["default"].achieved_gbps == pytest.approx(minimum_bytes(SHAPE, torch.float32) / (by["default"].median_ms * 1e6))
    floor = max(minimum_bytes(SHAPE, torch.float32) / 10e6, minimum_flops(SHAPE) / 0.1e9)
    assert by["default"].roofline_floor_ms == pytest.approx(floor)
    assert by["default"].flop_floor_ms == pytest.approx(minimum_flops(SHAPE) / 0.1e9)  # the FLOP term alone
    assert by["default"].kernel_pct_of_flop_floor is None  # no kernel time off a GPU
    assert by["big"].flop_floor_ms is None and by["big"].kernel_pct_of_flop_floor is None
    assert by["big"].status == "out of memory" and by["big"].median_ms is None
    assert by["broken"].status == "error: bad kernel"
    assert len(calls) >= 3


def test_a_row_with_kernel_time_gives_its_share_of_the_flop_floor_and_of_the_roofline():
    """The H100's 8x8192 figures (bytes-bound there): a roofline floor of 0.745 ms, a FLOP term of 0.602 ms, the
    Gluon core's 2.1727 ms of kernel time: 34.3% of the roofline floor and 27.7% of the FLOP floor."""
    from bambaprof.bench.ssd import KernelTime, Timed, _record, _shape_fields

    timed = Timed(2.218, KernelTime(2.1727, 2.0, {"_chunk_scan_sm90_slim": 2120.0, "_chunk_prep": 52.7}), "ok")
    row = _record("triton", timed, SHAPE, _shape_fields(SHAPE, torch.bfloat16), True, 1000, 0.745, 0.602)
    assert row.kernel_pct_of_roofline == pytest.approx(34.29, abs=0.01)
    assert row.flop_floor_ms == 0.602 and row.kernel_pct_of_flop_floor == pytest.approx(27.71, abs=0.01)
    unmeasured = _record("triton", Timed(2.218, None, "ok"), SHAPE, _shape_fields(SHAPE, torch.bfloat16), False,
                         1000, 0.745, 0.602)
    assert unmeasured.flop_floor_ms == 0.602 and unmeasured.kernel_pct_of_flop_floor is None


@pytest.fixture
def clean_modules():
    """Remove the stand-in modules the loader registers (transformers would pick up a fake mamba_ssm)."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("mamba_ssm", "selective_scan_cuda")):
            del sys.modules[name]


_DELEGATE = (
    "def mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, initial_states=None,\n"
    "                              dt_softplus=False, dt_limit=(0.0, float('inf')), return_final_states=False):\n"
    "{before}"
    "    return get_variant('default').forward(x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias,\n"
    "        dt_softplus=dt_softplus, dt_limit=dt_limit, initial_state=initial_states, return_final_state=True)\n")


def _stand_in_mamba_ssm(root, monkeypatch, head: str, before_return: str) -> str:
    """A mamba_ssm source tree under ``root`` whose ``mamba_chunk_scan_combined`` runs ``before_return`` (lines
    indented by 4) and then delegates to bambaprof's ``default``; ``head`` goes at the top of its module."""
    pkg = root / "mamba_ssm" / "ops" / "triton"
    pkg.mkdir(parents=True)
    (pkg / "ssd_combined.py").write_text("from bambaprof.ssm import get_variant\n" + head
                                         + _DELEGATE.format(before=before_return))
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.ops.triton.ssd_combined"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return str(root)


def test_mamba_ssm_loader_skips_the_package_init(tmp_path, monkeypatch, clean_modules):
    pkg = tmp_path / "src" / "mamba_ssm"
    (pkg / "ops" / "triton").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('needs the CUDA extension')\n")
    (pkg / "ops" / "__init__.py").write_text("raise ImportError('no')\n")
    (pkg / "ops" / "triton" / "ssd_combined.py").write_text(
        "import selective_scan_cuda\n"
        "def mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, initial_states=None,\n"
        "                              dt_softplus=False, dt_limit=(0.0, float('inf')), return_final_states=False):\n"
        "    return ('called', chunk_size, D is not None, return_final_states)\n")
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.ops.triton.ssd_combined",
                 "selective_scan_cuda"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    core = load_mamba_ssm(tmp_path / "src")
    assert core(1, 2, 3, 4, 5, 256, D=6, dt_softplus=True) == ("called", 256, True, True)
    with pytest.raises(UsageError, match="no mamba_ssm/ops/triton/ssd_combined.py"):
        load_mamba_ssm(tmp_path)


def test_cli(capsys):
    code = main(["bench", "ssd", "--variant", "default", "--shape", "1x32", "--heads", "4", "--head-dim", "16",
                 "--state", "16", "--groups", "2", "--chunk-size", "16", "--dtype", "float32", "--rep-ms", "20",
                 "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["rows"][0]["status"] == "ok" and data["ceilings"]["copy_gbps"] > 0
    assert data["host"]["probe_before_us"] > 0 and data["host"]["probe_after_us"] > 0  # how fast the host ran
    assert main(["bench", "ssd", "--shape", "1by2"]) == 2
    assert "must look like BATCHxLENGTH" in capsys.readouterr().err
    assert main(["bench", "ssd", "--variant", "default", "--baseline", "nope", "--shape", "1x8"]) == 2
    assert "--baseline 'nope' is not among the cores timed (default)" in capsys.readouterr().err


def test_ratios_are_to_the_named_baseline(capsys):
    code = main(["bench", "ssd", "--variant", "default", "--variant", "independent", "--baseline", "independent",
                 "--shape", "1x32", "--heads", "4", "--head-dim", "16", "--state", "16", "--groups", "2",
                 "--chunk-size", "16", "--dtype", "float32", "--rep-ms", "20", "--device", "cpu", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    by = {r["variant"]: r for r in data["rows"]}
    assert code == 0 and data["baseline"] == "independent"
    assert by["independent"]["vs_baseline"] == 1.0
    assert by["default"]["vs_baseline"] == pytest.approx(by["default"]["median_ms"] / by["independent"]["median_ms"])
    assert by["default"]["kernel_ms"] is None  # on the CPU: unknown, not guessed


def test_mixer_mode(capsys):
    code = main(["bench", "ssd", "--mixer", "--variant", "default", "--variant", "independent", "--shape", "1x32",
                 "--heads", "4", "--head-dim", "16", "--state", "16", "--groups", "2", "--chunk-size", "16",
                 "--dtype", "float32", "--rep-ms", "20", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["mode"] == "mixer" and data["host"]["probe_before_us"] > 0
    assert [r["variant"] for r in data["rows"]] == ["mixer:default", "mixer:independent"]
    assert all(r["status"] == "ok" and r["median_ms"] > 0 for r in data["rows"])


def test_mixer_mode_builds_a_mixer_around_mamba_ssms_core(tmp_path, monkeypatch, clean_modules, capsys):
    """``--mixer --mamba-ssm SRC`` times a mixer around mamba_ssm's core (torch conv and norm) beside the
    variants' and takes it as the baseline. The stand-in source delegates to bambaprof's ``default``."""
    _stand_in_mamba_ssm(tmp_path, monkeypatch, "CALLS = []\n", "    CALLS.append(tuple(x.shape))\n")
    code = main(["bench", "ssd", "--mixer", "--mamba-ssm", str(tmp_path), "--variant", "default", "--shape", "1x32",
                 "--heads", "4", "--head-dim", "16", "--state", "16", "--groups", "2", "--chunk-size", "16",
                 "--dtype", "float32", "--rep-ms", "20", "--rounds", "2", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["mode"] == "mixer" and data["baseline"] == "mixer:mamba_ssm"
    by = {r["variant"]: r for r in data["rows"]}
    assert list(by) == ["mixer:default", "mixer:mamba_ssm"] and all(r["status"] == "ok" for r in by.values())
    assert by["mixer:mamba_ssm"]["vs_baseline"] == 1.0
    assert by["mixer:default"]["vs_baseline"] == pytest.approx(
        by["mixer:default"]["median_ms"] / by["mixer:mamba_ssm"]["median_ms"])
    assert sys.modules["mamba_ssm.ops.triton.ssd_combined"].CALLS[0] == (1, 32, 4, 16)


def test_mixers_are_timed_in_interleaved_rounds():
    from bambaprof.bench.ssd import bench_mixer, peer_variant

    order = []

    def core(name):
        def forward(x, *a, **k):
            order.append(name)
            return get_variant("default").forward(x, *a, **k)
        return peer_variant(name, forward)

    records = bench_mixer([core("a"), core("b"), "independent"], [SHAPE], torch.float32, "cpu", rep_ms=0.3,
                          rounds=2, baseline="b")
    blocks = [n for i, n in enumerate(order) if i == 0 or order[i - 1] != n]
    # round 1: a b independent, round 2: b independent a (independent's core records nothing, so the b's meet);
    # one mixer after another would give a, b
    assert blocks == ["a", "b", "a"]
    assert [r.variant for r in records] == ["mixer:a", "mixer:b", "mixer:independent"]
    assert all(r.status == "ok" and r.baseline == "mixer:b" for r in records)
    assert records[1].vs_baseline == 1.0


@pytest.mark.gpu
def test_kernel_time_counts_device_activities_per_call():
    from bambaprof.bench.ssd import kernel_time

    a = torch.randn(2048, 2048, device="cuda")
    out = torch.empty_like(a)

    def two_launches():
        torch.mul(a, 2.0, out=out)
        out.add_(1.0)

    kt = kernel_time(two_launches, calls=4, batches=3)
    assert kt.launches == 2 and kt.ms > 0
    assert sum(kt.by_name_us.values()) == pytest.approx(kt.ms * 1e3)


def test_cores_are_timed_in_interleaved_rounds_in_rotating_order():
    order, turns = [], {"flaky": 0}

    def core(name):
        def run(x, *a, **k):
            order.append(name)
            if name == "flaky":
                turns["flaky"] += 1
                if turns["flaky"] > 4:  # fails in its second round
                    raise RuntimeError("went away")
            return get_variant("default")(x, *a, **k)
        return run

    records = bench_ssd({n: core(n) for n in ("a", "b", "flaky")}, [SHAPE], torch.float32, "cpu", rep_ms=0.3,
                        rounds=3)
    blocks = [n for i, n in enumerate(order) if i == 0 or order[i - 1] != n]
    # rounds: a b flaky | b flaky(fails) a | (flaky left out) a b; the two a blocks meet
    assert blocks == ["a", "b", "flaky", "b", "flaky", "a", "b"]
    by = {r.variant: r for r in records}
    assert by["a"].status == "ok" and by["b"].status == "ok" and by["a"].median_ms > 0
    assert by["flaky"].status == "error: went away" and by["flaky"].median_ms is None


def test_a_peer_that_autotunes_tunes_again_at_each_shape_and_its_picks_are_recorded(tmp_path, monkeypatch,
                                                                                     clean_modules, capsys):
    """mamba_ssm's kernels autotune for a key without the shape: ``bench ssd`` makes them choose again at each
    shape and records each choice. The stand-in's autotuned kernel "tunes" on a call with an empty cache."""
    _stand_in_mamba_ssm(
        tmp_path, monkeypatch,
        "import triton\n"
        "TUNED = []\n"
        "@triton.autotune(configs=[triton.Config({'BLOCK': 16}), triton.Config({'BLOCK': 32}, num_warps=8)],\n"
        "                 key=['n'])\n"
        "@triton.jit\n"
        "def _scan_kernel(x_ptr, n, BLOCK: 'triton.language.constexpr'):\n"
        "    pass\n",
        "    if not _scan_kernel.cache:\n"
        "        TUNED.append(tuple(x.shape))\n"
        "        _scan_kernel.cache[(chunk_size,)] = _scan_kernel.configs[len(TUNED) % 2]\n")
    args = ["bench", "ssd", "--mamba-ssm", str(tmp_path), "--variant", "default", "--shape", "1x32", "--shape",
            "2x48", "--heads", "4", "--head-dim", "16", "--state", "16", "--groups", "2", "--chunk-size", "16",
            "--dtype", "float32", "--rep-ms", "10", "--rounds", "2"]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    tuned = sys.modules["mamba_ssm.ops.triton.ssd_combined"].TUNED
    assert [s[:2] for s in tuned] == [(1, 32), (2, 48)]  # once a shape, however many calls
    picks = [r["autotune"] for r in rows if r["variant"] == "mamba_ssm"]
    assert picks[0]["_scan_kernel"].startswith("BLOCK: 32, num_warps: 8")
    assert picks[1]["_scan_kernel"].startswith("BLOCK: 16, num_warps: 4")
    assert all(r["autotune"] is None for r in rows if r["variant"] == "default")
    assert main([*args, "--format", "csv"]) == 0
    assert "autotune" not in capsys.readouterr().out.splitlines()[0]


def test_clock_stats_keep_the_samples_inside_the_windows():
    from bambaprof.bench.ssd import clock_stats

    nvml = {"t_ns": [10, 20, 30, 40, 50, 60],
            "sm_clock_mhz": [1980, 1500, 1400, None, 1980, 1300],
            "power_w": [100.0, 690.0, 700.0, 705.0, 120.0, 710.0],
            # 0x4 software power cap, 0x20 software thermal: held down; 0x1 (GPU idle) is not
            "clock_event_reasons": [0x1, 0x4, 0x4 | 0x1, 0x0, 0x1, 0x20]}
    stats = clock_stats(nvml, [(15, 45), (55, 70)])  # samples at 20, 30, 40 and 60
    assert stats.samples == 4
    assert stats.sm_clock_mhz == 1400  # the median of 1500, 1400, 1300 (40's reading is missing)
    assert stats.power_w == pytest.approx(702.5)
    assert stats.clock_held_pct == pytest.approx(75.0)  # 3 of the 4 readings
    none = clock_stats(nvml, [(100, 200)])
    assert (none.sm_clock_mhz, none.power_w, none.clock_held_pct, none.samples) == (None, None, None, 0)
    assert clock_stats({}, [(0, 10)]).sm_clock_mhz is None  # no sampler


def test_bench_rows_carry_the_clocks_of_their_own_timing_windows(monkeypatch):
    """Each row's clock figures come from the samples inside its own timing windows: a fake sampler reports
    1000 MHz while core ``slow`` runs and 2000 MHz otherwise, its reasons a power cap only during ``slow``."""
    import time

    from bambaprof.bench import ssd as bench

    running = {"core": None}
    samples = {"t_ns": [], "sm_clock_mhz": [], "power_w": [], "clock_event_reasons": []}

    def core(name):
        def run(x, *a, **k):
            running["core"] = name
            for _ in range(2):  # a sample while this core runs, as a 20 ms sampler would take
                slow = name == "slow"
                samples["t_ns"].append(time.monotonic_ns())
                samples["sm_clock_mhz"].append(1000 if slow else 2000)
                samples["power_w"].append(700.0 if slow else 300.0)
                samples["clock_event_reasons"].append(0x4 if slow else 0x0)
            return get_variant("default")(x, *a, **k)
        return run

    class FakeSampler:
        nvml = samples
        stopped = False

        def stop(self):
            FakeSampler.stopped = True

    monkeypatch.setattr(bench, "_start_clock_sampler", lambda device: FakeSampler())
    records = bench.bench_ssd({"fast": core("fast"), "slow": core("slow")}, [SHAPE], torch.float32, "cpu",
                              rep_ms=4, rounds=2)
    by = {r.variant: r for r in records}
    assert FakeSampler.stopped
    assert (by["fast"].sm_clock_mhz, by["fast"].power_w, by["fast"].clock_held_pct) == (2000, 300.0, 0.0)
    assert (by["slow"].sm_clock_mhz, by["slow"].power_w, by["slow"].clock_held_pct) == (1000, 700.0, 100.0)
    assert by["slow"].clock_samples >= 4  # two samples a call, at least two calls timed
    mixers = bench.bench_mixer([bench.peer_variant("slow", core("slow"))], [SHAPE], torch.float32, "cpu", rep_ms=2,
                               rounds=1)
    assert mixers[0].sm_clock_mhz == 1000 and mixers[0].clock_held_pct == 100.0


def test_clocks_are_unknown_without_a_sampler(capsys):
    """Off a GPU there is no NVML sampler: the clock columns are unknown (null), never guessed."""
    code = main(["bench", "ssd", "--variant", "default", "--shape", "1x32", "--heads", "4", "--head-dim", "16",
                 "--state", "16", "--groups", "2", "--chunk-size", "16", "--dtype", "float32", "--rep-ms", "10",
                 "--rounds", "1", "--device", "cpu", "--format", "json"])
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert code == 0
    assert [row[k] for k in ("clock_samples", "sm_clock_mhz", "power_w", "clock_held_pct")] == [None] * 4


@pytest.mark.gpu
def test_bench_on_a_gpu_reports_its_clocks(capsys):
    pytest.importorskip("pynvml")
    code = main(["bench", "ssd", "--variant", "triton", "--shape", "1x512", "--rep-ms", "100", "--rounds", "2",
                 "--device", "cuda", "--format", "json"])
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert code == 0 and row["status"] == "ok"
    assert row["clock_samples"] > 0 and row["sm_clock_mhz"] > 0 and row["power_w"] > 0
    assert 0.0 <= row["clock_held_pct"] <= 100.0


def test_the_top_kernel_says_which_kernel_ran():
    """Where a core picks its kernel by shape (the triton variant's chunk scan: Triton's below 4,096 programs
    eagerly, Gluon's above), the row names the kernel that took most of the call, from the real H100 rows."""
    import json
    from pathlib import Path

    from bambaprof.bench.ssd import _top_kernel

    rows = json.loads((Path(__file__).parents[2] / "benchmarks" / "results" / "h100-bench-ssd-gluon-late.json")
                      .read_text())["rows"]
    tops = [_top_kernel(r["kernels_us"]) for r in rows if r["variant"] == "triton"]
    assert tops == ["_chunk_scan (86%)", "_chunk_scan (95%)", "_chunk_scan_sm90 (97%)", "_chunk_scan_sm90 (97%)",
                    "_chunk_scan_sm90 (97%)"]
    assert _top_kernel(None) is None and _top_kernel({}) is None
    assert _top_kernel({"a": float("nan"), "b": 2.0, "c": -1.0}) == "b (100%)"
