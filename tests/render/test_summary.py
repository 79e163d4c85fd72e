"""The report's first screen: grouping by workload and shape, baselines chosen by matching configuration."""

from types import SimpleNamespace

from bambaprof.render.summary import (
    Group,
    Row,
    assign_baselines,
    comparison_pairs,
    group_key,
    group_title,
    run_label,
    what_was_compared,
)


def manifest(variant="default", compile="none", workload="mixer", seq_len=512, new_tokens=8, device="H200"):
    config = SimpleNamespace(variant=variant, compile=compile, workload=workload, batch=1, seq_len=seq_len,
                             new_tokens=new_tokens, preset="bamba-9b", layers=4, attention=False, dtype="bf16")
    return SimpleNamespace(config=config, device_name=device)


def rows(*pairs, latencies=None):
    out = []
    for i, (variant, mode) in enumerate(pairs):
        lat = latencies[i] if latencies else 10.0 / (i + 1)
        out.append(Row(label=f"{variant}-{mode}", name=f"{variant} · {mode}", variant=variant, compile=mode,
                       status="ok", latency_ms=lat, index=i))
    return out


def test_runs_of_other_workloads_or_shapes_never_share_a_group():
    keys = {group_key(manifest(), None), group_key(manifest(workload="generate"), None),
            group_key(manifest(seq_len=2048), None), group_key(manifest(variant="triton", compile="max-autotune"), None)}
    assert len(keys) == 3  # variant and compile mode vary inside a group
    assert group_key(manifest(new_tokens=8), None) == group_key(manifest(new_tokens=99), None)  # mixer: no new tokens
    assert group_key(manifest(workload="generate", new_tokens=8), None) != \
        group_key(manifest(workload="generate", new_tokens=16), None)
    assert group_key(None, "NVIDIA H200") == ("trace", "NVIDIA H200")
    assert group_title(group_key(manifest(workload="generate"), None)) == "generate, batch 1 x 512 tokens + 8 new"
    assert group_title(("trace", None)) == "traces (unknown device)"
    assert run_label(manifest("triton", "max-autotune"), "x") == "triton · max-autotune"
    assert run_label(None, "file.json") == "file.json"


def test_baseline_is_default_under_the_same_compile_mode():
    g = rows(("triton", "none"), ("default", "none"), ("triton", "max-autotune"), ("default", "max-autotune"),
             latencies=[2.0, 20.0, 1.0, 5.0])
    assign_baselines(g)
    by = {r.label: r for r in g}
    assert by["default-none"].baseline == "itself" and by["default-none"].speedup == 1.0
    assert by["triton-none"].baseline == "default-none" and by["triton-none"].speedup == 10.0
    assert by["triton-max-autotune"].baseline == "default-max-autotune" and by["triton-max-autotune"].speedup == 5.0
    # the reference variant compiled: compile is what varies, against its eager run
    assert by["default-max-autotune"].baseline == "default-none" and by["default-max-autotune"].speedup == 4.0
    assert comparison_pairs([Group("g", g)]) == [(1, 0), (3, 2), (1, 3)]


def test_without_the_reference_under_that_mode_the_variants_eager_run_is_the_baseline():
    g = rows(("default", "none"), ("triton", "none"), ("triton", "max-autotune"), latencies=[20.0, 2.0, 0.5])
    assign_baselines(g)
    assert [(r.baseline, r.speedup) for r in g] == [("itself", 1.0), ("default-none", 10.0), ("triton-none", 4.0)]


def test_no_default_means_the_first_variant_is_the_reference_and_failures_are_skipped():
    g = rows(("triton", "none"), ("independent", "none"), ("independent", "reduce-overhead"),
             latencies=[1.0, 4.0, 2.0])
    g[2].status = "failed"
    assign_baselines(g)
    assert [(r.baseline, r.speedup) for r in g] == [("itself", 1.0), ("triton-none", 0.25), (None, None)]


def test_an_unknown_latency_leaves_the_speedup_unknown_and_no_baseline_run_means_none():
    g = rows(("default", "none"), ("triton", "none"))
    g[1].latency_ms = None
    assign_baselines(g)
    assert g[1].baseline == "default-none" and g[1].speedup is None
    lone = rows(("triton", "max-autotune"))
    assign_baselines(lone)
    assert lone[0].baseline is None and lone[0].speedup is None


def test_what_was_compared_is_one_line():
    ms = [manifest(), manifest("triton", "max-autotune")]
    groups = [Group("mixer, batch 1 x 512 tokens")]
    line = what_was_compared(ms, ["NVIDIA H200", "NVIDIA H200"], groups)
    assert line == ("NVIDIA H200 · bamba-9b, 4 layers, no attention, bf16 · mixer, batch 1 x 512 tokens · "
                    "2 variants x 2 compile modes · 2 runs")
    assert "\n" not in line
    assert what_was_compared([None], [None], [Group("traces (unknown device)")]) == \
        "unknown device · traces (unknown device) · 1 run"


def test_the_analyze_summary_writes_each_value_in_its_unit():
    from bambaprof.render.text import summary_table_rows

    rows = {r["metric"]: r["value"] for r in summary_table_rows(
        {"span_us": 1234.56, "gpu_busy_pct": 13.219, "peak_allocated_bytes": 332_110_000, "above_floor_x": 1.9220378,
         "peak_bandwidth_gbps": 4800.0, "floor_us": None, "devices": "NVIDIA H200",
         "datasheet_tflops": {"fp32": 67.0, "tf32": 494.7}, "skipped_events": {"kernel\x1b[31m": 2}})}
    assert rows == {"span_us": "1,234.6", "gpu_busy_pct": "13.2", "peak_allocated_bytes": "332.11 MB",
                    "above_floor_x": "1.92x", "peak_bandwidth_gbps": "4,800.0", "floor_us": "",
                    "devices": "NVIDIA H200", "datasheet_tflops": "fp32 67, tf32 494.7",
                    "skipped_events": "kernel\\x1b[31m 2"}


def test_the_compare_table_writes_bytes_in_megabytes_and_the_json_keeps_bytes():
    from types import SimpleNamespace

    from bambaprof.render.text import render_comparison

    row = {"label": "peak memory", "unit": "bytes", "baseline": 332_107_776.0, "candidate": 295_196_160.0,
           "delta": -36_911_616.0, "ratio": 0.889, "ci_low": None, "ci_high": None, "significant": None}
    text = render_comparison(SimpleNamespace(summary=[row], kernels=[], ops=[], notes=[]), 5)
    assert "peak memory  MB      332.1       295.2        -36.91" in text
    assert row["unit"] == "bytes" and row["baseline"] == 332_107_776.0
    big = {**row, "baseline": 80e9, "candidate": 79e9, "delta": -1e9}
    assert "peak memory  GB      80          79           -1" in render_comparison(
        SimpleNamespace(summary=[big], kernels=[], ops=[], notes=[]), 5)
