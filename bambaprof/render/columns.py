"""Every table's columns, in one place: what each command shows of its rows, and how.

A :class:`~bambaprof.render.tables.Column` names a row key, its header and the kind of its cells (see
:func:`~bambaprof.render.tables.format_cell`); JSON and CSV carry every field of every row whatever the
columns. Units are in the headers; times are in the unit the key names (``_ms``, ``_us``).
"""

from __future__ import annotations

from .tables import Column

# ``bambaprof profile`` and ``sweep run``: one row per run (bambaprof.run.summary_rows).
PROFILE_SUMMARY = [
    Column("workload", "workload"), Column("variant", "variant"), Column("compile", "compile"),
    Column("batch", "b"), Column("seq_len", "L"), Column("status", "status"),
    Column("latency_ms", "median ms", "ms"), Column("latency_p90_ms", "p90 ms", "ms", drop_rank=4),
    Column("ttft_ms", "TTFT ms", "ms"), Column("throughput_tokens_per_s", "tokens/s", "rate"),
    Column("peak_allocated_bytes", "peak GB", "gb"), Column("joules_per_token", "J/token", "joules", drop_rank=1),
    Column("gpm_dram_bw_util_pct", "DRAM BW %", "pct", drop_rank=3),
    Column("gpm_sm_occupancy_pct", "SM occ %", "pct", drop_rank=2),
    Column("sm_clock_mhz", "SM MHz", "int", drop_rank=5),
    Column("vs_baseline", "vs base", "times"), Column("noise", "noisy"), Column("error", "error", width=60),
]

# ``bambaprof sweep status``: one row per configuration of the index.
SWEEP_STATUS = [Column("run_id", "run"), Column("state", "state"), Column("device", "device"),
                Column("attempts", "attempts"), Column("error", "error", width=70)]

# ``bambaprof analyze`` of a folder of ranks' traces
FLEET_RANKS = [
    Column("rank", "rank", "int"), Column("cycle", "cycle", "int"), Column("pid", "pid", "int"),
    Column("platform", "platform"),
    Column("span_us", "span us", "us"),
    Column("gpu_busy_us", "GPU busy us", "us"), Column("kernel_us", "kernel us", "us"),
    Column("work_us", "work us", "us"), Column("collective_us", "collective us", "us"),
    Column("collective_share_pct", "% collective", "pct"), Column("collective_wait_us", "wait us", "us"),
    Column("collective_exposed_us", "exposed us", "us", drop_rank=1), Column("sync_count", "syncs", "int", drop_rank=1),
    Column("sync_drain_us", "empty after syncs us", "us", drop_rank=1),
    Column("transfer_exposed_us", "copies alone us", "us", drop_rank=1),
    Column("gpu_idle_us", "GPU idle us", "us", drop_rank=1), Column("idle_cause", "most idle in", width=36, drop_rank=1),
    Column("top_finding", "top finding"), Column("top_finding_us", "at stake us", "us", drop_rank=1),
    Column("file", "file", width=50, drop_rank=2),
]
FLEET_KERNELS = [
    Column("name", "kernel", "kernel"), Column("min_us", "min us", "us"), Column("median_us", "median us", "us"),
    Column("max_us", "max us", "us"), Column("longest_on_rank", "longest on rank", "int"),
]

# ``bambaprof analyze``
ANALYZE_KERNELS = [
    Column("name", "kernel", "kernel"), Column("count", "n", "int"), Column("total_us", "total us", "us"),
    Column("share_pct", "% kernel time", "pct"), Column("mean_us", "mean us", "us"),
    Column("median_us", "median us", "us"),
    Column("grid", "grid"), Column("block", "block"), Column("registers", "regs"),
    Column("est_occupancy_pct", "est occ % (Kineto)", "pct"),
    Column("theoretical_occupancy_pct", "theor occ %", "pct"), Column("limiter", "limiter"),
    Column("waves_per_sm", "waves", "num"), Column("partial_wave_us", "partial wave us (most)", "us"),
    Column("bytes", "bytes", "bytes"),
    Column("achieved_gbps", "GB/s", "num"), Column("pct_of_peak_bw", "% peak BW", "pct"),
    Column("bound", "bound"), Column("floor_us", "floor us", "us"), Column("excess_us", "excess us", "us"),
    Column("sampled_dram_pct", "DRAM % (sampled)", "pct"), Column("sampled_sm_active_pct", "SMs active % (sampled)", "pct"),
    Column("launched_by", "launched by", width=30),
]
ANALYZE_PHASES = [
    Column("phase", "phase", width=60), Column("gpu_us", "GPU us", "us"), Column("share_pct", "% of GPU time", "pct"),
    Column("count", "kernels", "int"), Column("bytes", "bytes", "bytes"), Column("floor_us", "floor us", "us"),
    Column("excess_us", "excess us", "us"), Column("floor_coverage_pct", "% judged", "pct"),
]
ANALYZE_MODULES = [Column("module", "module", width=70), Column("calls", "calls", "int"),
                   Column("cpu_self_us", "CPU self us", "us"), *ANALYZE_PHASES[1:]]
ANALYZE_MODULES_CPU = ANALYZE_MODULES[:3]  # a trace without GPU work: the host side only
ANALYZE_SSD = [
    Column("implementation", "implementation"), Column("step", "step"), Column("launches", "launches", "int"),
    Column("gpu_us", "GPU us", "us"), Column("share_pct", "% kernel time", "pct"), Column("floor_us", "floor us", "us"),
    Column("excess_us", "excess us", "us"), Column("kernels", "kernels", width=50),
]
ANALYZE_FINDINGS = [
    Column("severity", "severity"), Column("id", "finding"), Column("time_us", "at stake us", "us"),
    Column("message", "what", width=110),
]
ANALYZE_OPS = [
    Column("name", "op", width=60), Column("count", "n", "int"), Column("cpu_total_us", "CPU total us", "us"),
    Column("cpu_self_us", "CPU self us", "us"), Column("gpu_self_us", "GPU self us", "us"),
    Column("gpu_total_us", "GPU total us", "us"), Column("kernels", "kernels", "int"),
]
ANALYZE_SYNCS = [
    Column("call", "call", width=40), Column("op", "under op", width=60), Column("count", "n", "int"),
    Column("host_blocked_us", "host blocked us", "us"), Column("drain_us", "GPU empty after us", "us"),
    Column("drains", "times empty", "int"),
]
ANALYZE_ALLOCATIONS = [
    Column("call", "call", width=30), Column("action", "action", width=8), Column("memory", "memory", width=14),
    Column("op", "under op", width=50), Column("count", "n", "int"), Column("host_blocked_us", "host blocked us", "us"),
    Column("gpu_idle_us", "GPU idle us", "us"), Column("steps", "steps", "int"),
]
ANALYZE_TRANSFERS = [
    Column("direction", "direction", width=9), Column("memory", "host memory", width=11), Column("device", "device", "int"),
    Column("stream", "stream", "int"), Column("op", "under op", width=40), Column("count", "n", "int"),
    Column("total_us", "GPU us", "us"), Column("exposed_us", "no kernel beside us", "us"),
    Column("bytes", "bytes", "bytes"), Column("gbps", "GB/s", "num"),
    Column("stream_runs_kernels", "kernels' stream", "yes_no"),
]
ANALYZE_IDLE = [
    Column("cause", "cause", width=20), Column("gpu_idle_us", "GPU idle us", "us"),
    Column("share_pct", "% of idle", "pct"),
]
ANALYZE_STEPS = [
    Column("step", "step", width=30), Column("start_us", "start us", "us"), Column("dur_us", "duration us", "us"),
    Column("compile_us", "compiling us", "us"), Column("cudagraph_record_us", "CUDA graph recording us", "us"),
    Column("data_loader_us", "DataLoader us", "us"),
    Column("allocation_us", "allocation calls us", "us"), Column("sync_us", "syncs us", "us"),
    Column("gpu_idle_us", "GPU idle us", "us"),
]
ANALYZE_COLLECTIVES = [
    Column("kind", "collective", width=16), Column("count", "n", "int"), Column("total_us", "GPU us", "us"),
    Column("exposed_us", "exposed us", "us"), Column("overlap_pct", "% overlapped", "pct"),
    Column("bytes", "bytes", "bytes"), Column("group_size", "ranks", "int"), Column("algbw_gbps", "algbw GB/s", "num"),
    Column("busbw_gbps", "busbw GB/s", "num"), Column("sized_pct", "% sized", "pct"), Column("streams", "streams", "int"),
    Column("kernels", "kernels", width=60),
]
ANALYZE_CONTRACTIONS = [
    Column("count", "n", "int"), Column("multiply", "multiply"), Column("operands", "operands", "text", 64),
    Column("dtype", "dtype"), Column("product", "product", "text", 30), Column("product_bytes", "product bytes", "bytes"),
    Column("reduce", "reduce"), Column("reduced_dims", "dims"), Column("cpu_us", "CPU us", "us"),
    Column("gpu_us", "GPU us", "us"),
    Column("floor_us", "floor us", "us"), Column("excess_us", "excess us", "us"), Column("einsum", "einsum", "text", 40),
]
ANALYZE_ATTENTION = [
    Column("backend", "backend", width=10), Column("op", "op", "text", 46),
    Column("found_by", "found by", width=11, drop_rank=2), Column("count", "n", "int"),
    Column("query", "q", "text", 20), Column("key", "k", "text", 20, drop_rank=3), Column("dtype", "dtype"),
    Column("mask", "mask", "text", 18, drop_rank=2), Column("causal", "causal", "yes_no", drop_rank=2),
    Column("dropout", "dropout", "num", drop_rank=3), Column("score_bytes", "scores", "bytes", drop_rank=1),
    Column("cpu_us", "CPU us", "us"), Column("gpu_us", "GPU us", "us"), Column("backward_us", "backward us", "us"),
    Column("floor_us", "floor us", "us"), Column("tflops", "TFLOP/s", "num", drop_rank=1),
]
ANALYZE_OPTIMIZER = [
    Column("optimizer", "optimizer", width=16), Column("implementation", "implementation"),
    Column("steps", "steps", "int"), Column("host_mean_us", "host us/step", "us"),
    Column("ops_per_step", "ops/step", "count"), Column("launches_per_step", "launches/step", "count"),
    Column("gpu_us", "GPU us", "us"), Column("gpu_window_us", "GPU window us", "us"),
    Column("gpu_idle_us", "GPU idle us", "us"),
]
ANALYZE_COMPILED = [
    Column("frames", "frames", width=16), Column("graphs", "graphs", "int"), Column("breaks", "breaks", "int"),
    Column("calls", "calls", "int"), Column("host_us", "host us", "us"), Column("graph_us", "in graphs us", "us"),
    Column("outside_us", "outside us", "us"), Column("eager_op_names", "eager ops", "text", 40),
    Column("eager_gpu_us", "eager GPU us", "us", drop_rank=1),
    Column("gap_gpu_idle_us", "GPU idle outside us", "us"),
]
ANALYZE_DEPTHWISE = [
    Column("op", "op", width=26), Column("kind", "kind", width=13), Column("input", "input", "text", 22),
    Column("weight", "weight", "text", 18), Column("dtype", "dtype"), Column("padding", "padding", drop_rank=2),
    Column("count", "n", "int"), Column("kernels", "kernels", "text", 40, drop_rank=1), Column("gpu_us", "GPU us", "us"),
    Column("floor_us", "floor us", "us"), Column("excess_us", "excess us", "us"),
]
ANALYZE_GROWING = [
    Column("shape", "shape", width=24), Column("dim", "dim", "int"), Column("appended", "appended", "int"),
    Column("calls", "calls", "int"), Column("first_length", "from", "int"), Column("last_length", "to", "int"),
    Column("elements_written", "elements written", "count_si"),
    Column("elements_appended", "appended elements", "count_si", drop_rank=1),
    Column("bytes_written", "bytes written", "bytes", drop_rank=2), Column("cpu_us", "CPU us", "us"),
    Column("gpu_us", "GPU us", "us"), Column("floor_us", "floor us", "us", drop_rank=1),
]
ANALYZE_PROJECTIONS = [
    Column("caller", "called by", width=30), Column("shape", "activation", width=16), Column("dtype", "dtype"),
    Column("weights", "weights (N x K)", width=34), Column("products", "products", "int"), Column("runs", "runs", "int"),
    Column("launches", "launches", "int", drop_rank=1), Column("cpu_us", "CPU us", "us", drop_rank=1),
    Column("gpu_us", "GPU us", "us"), Column("mean_us", "a product us", "us"),
    Column("floor_us", "floor us", "us", drop_rank=1), Column("stacked_floor_us", "stacked floor us", "us", drop_rank=1),
    Column("at_stake_us", "at stake us", "us"),
]
ANALYZE_KV_REPEATS = [
    Column("caller", "called by", width=30), Column("form", "copied by", width=24), Column("kv_heads", "KV heads", "int"),
    Column("repeats", "x", "int"), Column("head_dim", "head dim", "int", drop_rank=1), Column("dtype", "dtype"),
    Column("calls", "calls", "int"), Column("copies", "copies", "int", drop_rank=1),
    Column("min_length", "from S", "int", drop_rank=1), Column("max_length", "to S", "int"),
    Column("bytes", "bytes written", "bytes"), Column("backend", "backend"), Column("masked", "mask", drop_rank=1),
    Column("cpu_us", "CPU us", "us"), Column("gpu_us", "GPU us", "us"),
]
ANALYZE_PREFILL_LOGITS = [
    Column("shape", "activation", width=16), Column("weight", "weight (N x K)", width=16), Column("dtype", "dtype"),
    Column("calls", "prefills", "int"), Column("positions", "positions", "int"),
    Column("logits_bytes", "logits written", "bytes"), Column("cpu_us", "CPU us", "us", drop_rank=1),
    Column("gpu_us", "GPU us", "us"), Column("extra_cpu_us", "CPU us on other positions", "us", drop_rank=1),
    Column("extra_gpu_us", "GPU us on other positions", "us"),
]
ANALYZE_GENERATION = [
    Column("op", "op", width=14), Column("weight", "weight", width=14), Column("dtype", "dtype"),
    Column("runs", "runs", "int"), Column("first_tokens", "from", "int"), Column("last_tokens", "to", "int"),
    Column("step", "step", "int"), Column("calls", "calls", "int"), Column("cpu_us", "CPU us", "us"),
    Column("recomputed_cpu_us", "CPU recomputed us", "us"), Column("gpu_us", "GPU us", "us"),
    Column("recomputed_gpu_us", "GPU recomputed us", "us"),
]
ANALYZE_CHECKPOINT = [
    Column("op", "recomputed op", width=40), Column("calls", "calls", "int"), Column("cpu_us", "CPU us", "us"),
    Column("gpu_us", "GPU us", "us"),
]
ANALYZE_COPIES = [
    Column("kind", "kind"), Column("dtypes", "dtypes"), Column("shape", "shape", "text", 30),
    Column("caller", "caller", "text", 40), Column("inside", "inside", "text", 30), Column("range", "range", "text", 30),
    Column("count", "n", "int"),
    Column("cpu_us", "CPU us", "us"),
    Column("gpu_us", "GPU us", "us"), Column("bytes", "bytes each", "bytes"), Column("gbps", "GB/s", "num"),
]
ANALYZE_STRETCHES = [
    Column("start_us", "start us", "us"), Column("dur_us", "us", "us"), Column("device", "device"),
    Column("cpu_op", "CPU op", width=60), Column("cpu_region", "region", width=60),
    Column("cpu_module", "module", width=60),
]
ANALYZE_NCU = [
    Column("ncu_id", "ncu id"), Column("name", "kernel", "kernel", 50), Column("same_launch", "same launch", "yes_no"),
    Column("trace_us", "trace us", "us"), Column("ncu_us", "ncu us", "us"),
    Column("derived_gbps", "derived GB/s", "num"), Column("ncu_dram_gbps", "ncu GB/s", "num"),
    Column("gbps_ratio", "ratio", "times"), Column("theoretical_occupancy_pct", "theor occ %", "pct"),
    Column("ncu_theoretical_occupancy_pct", "ncu theor %", "pct"),
    Column("ncu_achieved_occupancy_pct", "ncu achieved %", "pct"),
    Column("ncu_busiest", "busiest unit", "text", 12),
    Column("ncu_issue_rate", "issued/cycle", "num"), Column("ncu_cycles_per_issue", "cycles/issue", "num"),
    Column("ncu_top_stalls", "top stalls (cycles/issue)", "text", 56),
]
#: The ncu table's columns shown only where some row knows them: the busiest unit (the Speed Of Light section) and
#: the warp states (WarpStateStats).
NCU_OPTIONAL_KEYS = ("ncu_busiest", "ncu_issue_rate", "ncu_cycles_per_issue", "ncu_top_stalls")
#: The analysis summary's metrics are formatted by the unit their name ends in.
SUMMARY_KINDS = {"_us": "us", "_pct": "pct", "_bytes": "bytes", "_gbps": "num", "_x": "times"}

# ``bambaprof compare``
COMPARE_SUMMARY = [
    Column("label", "metric"), Column("unit", "unit"), Column("baseline", "baseline", "num"),
    Column("candidate", "candidate", "num"), Column("delta", "delta", "num"), Column("ratio", "ratio", "ratio"),
    Column("ci_low", "95% CI low", "ratio"), Column("ci_high", "95% CI high", "ratio"),
    Column("significant", "beyond noise", "noise"),
]
COMPARE_KERNELS = [
    Column("name", "kernel", "kernel"), Column("status", "status"),
    Column("count_baseline", "n base", "count"), Column("count_candidate", "n cand", "count"),
    Column("time_baseline_us", "base us", "num"), Column("time_candidate_us", "cand us", "num"),
    Column("delta_us", "delta us", "num"), Column("ratio", "ratio", "ratio"),
    Column("share_baseline_pct", "% base", "num"), Column("share_candidate_pct", "% cand", "num"),
    Column("gbps_baseline", "GB/s base", "num"), Column("gbps_candidate", "GB/s cand", "num"),
    Column("theor_occ_baseline_pct", "occ base %", "num"), Column("theor_occ_candidate_pct", "occ cand %", "num"),
]
COMPARE_PHASES = [
    Column("phase", "phase", width=60), Column("status", "status"),
    Column("time_baseline_us", "base us", "num"), Column("time_candidate_us", "cand us", "num"),
    Column("delta_us", "delta us", "num"), Column("ratio", "ratio", "ratio"),
    Column("ci_low", "95% CI low", "ratio"), Column("ci_high", "95% CI high", "ratio"),
]
COMPARE_MODULES = [Column("module", "module", width=60), *COMPARE_PHASES[1:]]
COMPARE_SSD = [Column("step", "SSD step", width=30), *COMPARE_PHASES[1:]]
COMPARE_FINDINGS = [
    Column("finding", "finding"), Column("kernel", "kernel", "kernel", 40, drop_rank=1), Column("status", "status"),
    Column("severity_baseline", "severity base"), Column("severity_candidate", "severity cand"),
    Column("at_stake_baseline_us", "at stake base us", "num", drop_rank=2),
    Column("at_stake_candidate_us", "at stake cand us", "num", drop_rank=2),
    Column("inputs_baseline", "inputs base", drop_rank=3), Column("inputs_candidate", "inputs cand", drop_rank=3),
]
COMPARE_OPS = [
    Column("name", "op", width=60), Column("status", "status"),
    Column("count_baseline", "n base", "count"), Column("count_candidate", "n cand", "count"),
    Column("cpu_total_us_baseline", "CPU base us", "num"), Column("cpu_total_us_candidate", "CPU cand us", "num"),
    Column("cpu_delta_us", "CPU delta us", "num"), Column("gpu_total_us_baseline", "GPU base us", "num"),
    Column("gpu_total_us_candidate", "GPU cand us", "num"), Column("gpu_delta_us", "GPU delta us", "num"),
]

# ``bambaprof accuracy``
ACCURACY = [
    Column("variant", "variant"), Column("prompt", "prompt"), Column("seq_len", "L"), Column("chunks", "chunks"),
    Column("kl_mean", "KL mean (nats)", "sci"), Column("kl_max", "KL max", "sci"),
    Column("top1_agreement_pct", "top-1 agree %", "pct"),
    Column("greedy_agreement_pct", "greedy agree % (cache)", "pct"),
    Column("greedy_agreement_nocache_pct", "greedy agree % (no cache)", "pct"),
    Column("first_divergence", "first divergence"), Column("status", "status"),
]

# ``bambaprof check``
CHECK = [
    Column("variant", "variant"), Column("exact", "exact", "yes_no"), Column("dtype", "dtype"),
    Column("batch", "b"), Column("seq_len", "L"), Column("chunks", "chunks"),
    Column("max_abs_err", "max |err|", "sci"), Column("rel_err", "rel err", "sci"),
    Column("state_rel_err", "state rel err", "sci"), Column("decode_rel_err", "decode rel err", "sci"),
    Column("tolerance", "tol", "sci"), Column("status", "status"),
]

# ``bambaprof bench ssd``
# (compact: on a GPU the wall-clock derived columns give way first, kernel time stays)
BENCH = [
    Column("variant", "core"), Column("batch", "b"), Column("seq_len", "L"), Column("status", "status"),
    Column("median_ms", "median ms", "ms"), Column("tokens_per_s", "tokens/s", "rate", drop_rank=4),
    Column("achieved_gbps", "GB/s", "num", drop_rank=3), Column("roofline_floor_ms", "floor ms", "ms"),
    Column("pct_of_roofline", "% roofline", "pct", drop_rank=2), Column("kernel_ms", "kernel ms", "ms"),
    Column("launches", "launches", "num"), Column("kernel_pct_of_roofline", "kernel % roofline", "pct"),
    Column("kernel_pct_of_flop_floor", "kernel % FLOP floor", "pct", drop_rank=5),
    Column("vs_baseline", "vs baseline", "times", drop_rank=1), Column("kernel_vs_baseline", "kernel vs baseline", "times"),
    Column("sm_clock_mhz", "SM MHz", "int", drop_rank=5), Column("clock_held_pct", "clock held %", "pct", drop_rank=5),
    Column("top_kernel", "top kernel", "kernel", 34, drop_rank=6),
]

# ``bambaprof presets``
PRESETS = [
    Column("preset", "preset"), Column("layers", "layers"), Column("attention_layers", "attention at"),
    Column("hidden", "hidden"), Column("ssm_heads", "SSM heads x dim"), Column("state", "state"),
    Column("groups", "groups"), Column("chunk", "chunk"), Column("dtype", "dtype"),
    Column("parameters", "parameters", "count_si"), Column("weights_bytes", "weights", "bytes"),
]

# ``bambaprof variants``
VARIANTS = [
    Column("name", "variant"), Column("kind", "kind"), Column("needs", "needs"),
    Column("decode_step", "decode", "yes_no"), Column("runs_here", "runs here", "yes_no"),
    Column("how", "how / why not"), Column("summary", "what it is"),
]
