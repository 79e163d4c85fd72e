#!/bin/bash
# One device call (forty-fifth session), any card: float32 matrix products on the CUDA cores and in TF32.
# (1) the GPU test of `float32-matmul` (tests/diagnose/test_float32_matmul_gpu.py: a user's float32 product recorded
# at "highest" and at "high"); (2) a small real trace of a float32 product with TF32 allowed, as a fixture
# ($OUT/fp32-mm-tf32.json.gz); (3) the triton variant's float32 mixer (bamba-9b, one layer, 1 x 2048) profiled at
# torch's default precision and with TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1, each run's findings and kernels, and the
# two compared. On an H200 (RUN_BENCH=1) it then runs benchmarks/session43_device.sh's bench.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
TEST_S=150 gpu_tests 150 6 -s tests/diagnose/test_float32_matmul_gpu.py tests/test_env.py
grep -E "^(highest|high):" "$OUT/tests.log" | cut -c1-600
python3 - "$OUT/fp32-mm-tf32.json.gz" <<'PY'
import sys, torch
torch.set_float32_matmul_precision("high")
a, b = torch.randn(512, 1024, device="cuda"), torch.randn(1024, 1024, device="cuda")
for _ in range(3):
    a @ b
torch.cuda.synchronize()
acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
with torch.profiler.profile(activities=acts, record_shapes=True) as prof:
    for _ in range(2):
        a @ b
    torch.cuda.synchronize()
prof.export_chrome_trace(sys.argv[1])
print("fixture", sys.argv[1], [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA][:3])
PY
for tf in off on; do
  if [ $tf = on ]; then export TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1; fi
  timeout 240 python3 -m bambaprof profile --preset bamba-9b --layers 1 --no-attention --dtype float32 --workload mixer \
    --seq-len 2048 --warmup 2 --iters 10 --device cuda --variant triton --runs "$OUT/runs-$tf" \
    --format json -o "$OUT/summary-$tf.json" > /dev/null 2>"$OUT/profile-$tf.err" || tail -3 "$OUT/profile-$tf.err"
  unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE
  for d in "$OUT"/runs-$tf/*/; do
    python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print('$tf', m['versions'].get('matmul_tf32'), 'latency ms', m['timings']['latency_ms'])" "$d/bambaprof/manifest.json"
    python3 -m bambaprof analyze "$d" --table findings 2>&1 | cut -c1-700 | head -12
    python3 -m bambaprof analyze "$d" --table kernels --top 8 2>&1 | cut -c1-160 | head -12
  done
done
python3 -m bambaprof compare "$OUT"/runs-off/*/ "$OUT"/runs-on/*/ 2>&1 | cut -c1-300 | head -40
tar -C "$OUT" -czf "$OUT/fp32-runs.tar.gz" runs-off runs-on && rm -rf "$OUT"/runs-off "$OUT"/runs-on; ls -la "$OUT"
case "$name" in
  *H200*) if [ -n "${RUN_BENCH:-}" ]; then SHAPE_S=70 bench_mixers 1x2048 1x512 8x2048 1x8192 8x8192; BENCH_S=${BENCH_S:-150} bench_ssd_cores; fi ;;
esac
echo "done at ${SECONDS}s"
