"""The committed example run directories (H200, bamba-9b 4 layers): readable and consistent."""

from pathlib import Path

import pytest

from bambaprof.analysis import analyze
from bambaprof.run import iter_run_dirs, read_manifest

EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"
RUNS = list(iter_run_dirs(EXAMPLES))


def test_there_are_ten_examples():
    assert len(RUNS) == 10


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_example_run(run):
    m = read_manifest(run)
    assert m.status == "ok" and m.run_id == run.name
    assert m.device.name == "NVIDIA H200" and m.device.peak_bandwidth_source == "nvml"
    assert m.telemetry.available and m.telemetry.gpm
    assert m.energy.joules_per_token > 0
    a = analyze(run)
    assert a.summary["peak_bandwidth_source"] == "measured" or a.summary["peak_bandwidth_source"] == "nvml"
    # NVML samples were moved onto the trace's clock: some fall inside a profiled window of two intervals or more
    if a.summary["span_us"] >= 2 * m.config.sample_interval_ms * 1e3:
        assert a.telemetry["nvml.power_w"]["samples"] >= 1
    # the model's profiler ranges: nearly all GPU time sits under a phase (inductor's graph ranges when compiled)
    assert m.schema_version == 2 and a.summary["phase_coverage_pct"] >= 98
    assert all(f["id"] and f["message"] for f in a.findings)
    # bytes are known for at least 95% of kernel time, CUDA-graph replays included (launch map)
    assert a.summary["kernel_time_with_known_bytes_pct"] >= 95
    assert (m.files.launch_map is not None) == (m.config.compile == "max-autotune")
    if m.config.variant == "default-optimized":
        assert any(k["bytes_source"] == "metadata" for k in a.kernels)
