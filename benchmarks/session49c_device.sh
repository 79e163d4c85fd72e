#!/bin/bash
# A third device call (forty-ninth session), any card: real traces of CUDA graphs recorded inside the profiled steps
# (benchmarks/cudagraph_traces.py), with the runtime calls and ranges they hold, analysed; the attention GPU tests
# after the kernel ops' fix.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 240 python3 benchmarks/cudagraph_traces.py "$OUT/cudagraphs" 2>&1 | grep -v "^USDT" | tail -5
for t in "$OUT"/cudagraphs/*.json.gz; do
  echo "== $t"
  python3 - "$t" <<'PY'
import collections, gzip, json, sys
ev = json.load(gzip.open(sys.argv[1]))["traceEvents"]
names = collections.Counter(e["name"] for e in ev if e.get("ph") == "X" and (
    "Graph" in e["name"] or "Capture" in e["name"] or "cudagraph" in e["name"].lower() or "dynamo_timed" in e["name"]))
print(dict(names))
PY
  python3 -m bambaprof analyze "$t" --table findings 2>&1 | cut -c1-300 | head -8
done
TEST_LOG=gpu-tests gpu_tests 150 10 -m gpu tests/analysis/test_attention_gpu.py
tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
