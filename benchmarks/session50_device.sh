#!/bin/bash
# The fiftieth session's device call, any card: the model's GPU tests (grouped heads read in place in bf16; the
# stacked q, k, v), real GPU traces of GQA's repeated keys (kv_repeat_traces.py), the tail effect against partial-wave's two bounds
# (benchmarks/partial_wave_traces.py, its trace analysed), then cached generation against its floor (decode-floor,
# session49e_device.sh's runs), then on an H200 issue #17's core bench beside mamba_ssm and the mixer bench.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
TEST_LOG=gpu-tests gpu_tests 120 6 -m gpu tests/model/test_model.py tests/analysis/test_kv_repeats.py
timeout 60 python3 benchmarks/kv_repeat_traces.py "$OUT/kv-repeats" --device cuda
for f in "$OUT"/kv-repeats/*.json.gz; do python3 -m bambaprof analyze "$f" --table findings 2>&1 | head -3 | cut -c1-300; done
timeout 150 python3 benchmarks/partial_wave_traces.py "$OUT/waves"
python3 -m bambaprof analyze "$OUT/waves/partial-waves.json.gz" --table findings 2>&1 | cut -c1-600 | head -20
echo "waves done at ${SECONDS}s"
case "$name" in
  *H200*)
    NO_DECODE=1; BENCH_S=150 bench_ssd_cores
    SHAPE_S=70 bench_mixers ${MIXER_SHAPES:-1x2048 1x512 8x2048} ;;
esac
if [ -z "${NO_DECODE:-}" ]; then OUT=$OUT/decode timeout 200 bash benchmarks/session49e_device.sh 2>&1 | grep -v "^tar"; fi
echo "all done at ${SECONDS}s"
tar czf /tmp/files.tgz -C "$OUT" --exclude log.txt . 2>/dev/null
find "$OUT" -mindepth 1 -maxdepth 1 ! -name log.txt -exec rm -rf {} +; mv /tmp/files.tgz "$OUT/"
