#!/bin/bash
# One device call (forty-sixth session), any card: (1) real traces whose memory calls reach the driver
# (benchmarks/allocation_traces.py: steady, empty-cache, growing, pinned), each analysed (--table allocations and the
# findings), a real trace of float64 work (benchmarks/float64_trace.py), real traces of a training loop fed by a
# DataLoader with and without workers (benchmarks/data_loading_traces.py), and the GPU test of bambaprof.record (its allocator counters among the rest); (2)
# benchmarks/session45_device.sh (float32 products on the CUDA cores and in TF32, the float32 mixer at
# torch's default precision and with the TF32 override), its files under $OUT/fp32.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
timeout 120 python3 benchmarks/allocation_traces.py "$OUT/allocations"
for t in "$OUT"/allocations/*.json.gz; do
  echo "== $(basename "$t")"
  python3 -m bambaprof analyze "$t" --table allocations 2>&1 | cut -c1-220 | head -12
  python3 -m bambaprof analyze "$t" --format json -o "$t.analysis.json" 2>&1 | tail -1
  python3 - "$t.analysis.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print({k: s.get(k) for k in s if k.startswith("allocation_") or k in ("gpu_window_us", "profiled_steps",
      "idle_host_wait_us")})
for f in d["findings"]:
    print("  ", f["id"], f["severity"], round(f["time_us"] or 0, 1), "|", f["message"][:400], "|", f["suggestion"][:300])
PY
done
echo "allocations done at ${SECONDS}s"
timeout 60 python3 benchmarks/float64_trace.py "$OUT/float64.json.gz" && python3 -m bambaprof analyze "$OUT/float64.json.gz" \
  --table findings 2>&1 | cut -c1-400 | head -20
python3 -m bambaprof analyze "$OUT/float64.json.gz" --table phases 2>&1 | head -8
timeout 120 python3 benchmarks/data_loading_traces.py "$OUT/data-loading"
for t in "$OUT"/data-loading/*.json.gz; do
  echo "== $(basename "$t")"; python3 -m bambaprof analyze "$t" --table findings 2>&1 | cut -c1-400 | head -12
done
python3 -m bambaprof compare "$OUT"/data-loading/workers0.json.gz "$OUT"/data-loading/workers2.json.gz 2>&1 | head -30
TEST_LOG=record-tests TEST_S=120 gpu_tests 120 4 tests/api/test_record.py -k cuda
OUT="$OUT/fp32" bash benchmarks/session45_device.sh
echo "done at ${SECONDS}s"
