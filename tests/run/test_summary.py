"""The profile summary's ratios, and the flag on ratios that rest on a noisy run."""

from pathlib import Path

from bambaprof.run import Manifest, RunConfig, RunRecord, Spread, Timings, summary_rows


def _record(variant: str, median: float, p10: float, p90: float) -> RunRecord:
    cfg = RunConfig(variant=variant)
    m = Manifest(run_id=cfg.run_id(), name=variant, config=cfg,
                 timings=Timings(latency_ms=Spread(median=median, p10=p10, p90=p90, n=10)))
    return RunRecord.of(Path(variant), m)


def test_ratios_against_a_noisy_baseline_are_flagged():
    quiet = [_record("default", 2.5, 2.4, 2.6), _record("independent", 2.0, 1.9, 2.1)]
    rows = summary_rows(quiet)
    assert [r["vs_baseline"] for r in rows] == [1.0, 0.8] and all(r["noise"] is None for r in rows)
    loaded = [_record("default", 360.0, 2.4, 400.0), _record("independent", 2.0, 1.9, 2.1)]
    rows = summary_rows(loaded)
    assert rows[1]["vs_baseline"] == 2.0 / 360.0 and rows[1]["noise"] == "p90/p10 166.7"


def test_rows_carry_the_mean_sm_clock_where_nvml_sampled_it():
    from bambaprof.run.manifest import NvmlSummary, SeriesStats, TelemetryInfo, TelemetrySummary

    sampled, bare = _record("default", 2.5, 2.4, 2.6), _record("independent", 2.0, 1.9, 2.1)
    sampled.manifest.telemetry = TelemetryInfo(available=True, summary=TelemetrySummary(
        nvml=NvmlSummary(sm_clock_mhz=SeriesStats(mean=1650.0, max=1980.0, samples=40))))
    rows = summary_rows([sampled, bare])
    assert [r["sm_clock_mhz"] for r in rows] == [1650.0, None]  # no telemetry: unknown
