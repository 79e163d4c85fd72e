#!/bin/bash
# One device call (forty-third session): the GPU tests of the packages this session changed around (collect, api,
# model, bench: the runs whose traces the analysis reads), then a real GPU run of the tiny preset analysed, compared
# with itself and reported by the tree's code (no kernel changed this session).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
TEST_LOG=gpu-tests gpu_tests 330 6 -m gpu tests/collect tests/api tests/model tests/bench
timeout 120 python3 -m bambaprof profile --preset tiny --device cuda --workload mixer --workload prefill --seq-len 64 \
  --variant default --variant triton --runs "$OUT/runs" --format json -o "$OUT/profile.json" > /dev/null 2> "$OUT/profile.err" \
  || tail -3 "$OUT/profile.err"
for d in "$OUT"/runs/*/; do
  python3 -m bambaprof analyze "$d" --format json -o "$d/analysis.json" 2>&1 | tail -1
  python3 - "$d/analysis.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print(sys.argv[1].split("/")[-3], {k: s.get(k) for k in ("platform", "kernel_count", "sync_count", "phase_coverage_pct",
      "idle_host_wait_us", "module_calls")}, [f["id"] for f in d["findings"]][:4], len(d["notes"]), "notes")
PY
done
set -- "$OUT"/runs/*/
python3 -m bambaprof compare "$1" "$2" --format json -o "$OUT/compare.json" 2>&1 | tail -1
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print('compare statuses', sorted({f['status'] for f in c['findings']}), 'warnings', len(c['warnings']))" "$OUT/compare.json"
echo "done at ${SECONDS}s"
