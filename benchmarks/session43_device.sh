#!/bin/bash
# One device call (forty-third session): first (with ACTIVITIES=1), real traces of one workload recorded with each subset of the PyTorch
# profiler's activities (benchmarks/activity_subsets.py, into $OUT/activities, each analysed); then, on an H200,
# `bench ssd --mixer` at the five Bamba-9B shapes (issue #17's mixer re-run with the current scan) and the cores
# beside mamba_ssm.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
if [ -n "${ACTIVITIES:-}" ]; then
python3 benchmarks/activity_subsets.py "$OUT/activities"
for t in "$OUT"/activities/*.json.gz; do
  python3 -m bambaprof analyze "$t" --format json -o "$t.analysis.json" 2>&1 | tail -1
  python3 - "$t.analysis.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print(sys.argv[1].split("/")[-1], {k: s.get(k) for k in ("kernel_count", "sync_count", "phase_coverage_pct",
      "idle_host_wait_us", "launch_overhead_median_us", "profiled_steps")}, [f["id"] for f in d["findings"]])
print("   notes:", d["notes"])
PY
done
fi
case "$name" in
  *H200*) SHAPE_S=70 bench_mixers 1x2048 1x512 8x2048 1x8192 8x8192; BENCH_S=${BENCH_S:-150} bench_ssd_cores ;;
esac
echo "done at ${SECONDS}s"
