#!/bin/bash
# One device call (about 8 minutes) on `auto` running the Gluon scan eagerly at every size where the launch shortcut
# keeps whole forwards: the GPU tests of the default's choice (with and without whole forwards kept) and of the
# default at the target shapes against float64; the SSD core's host time a forward in each shortcut mode, scans and
# modes interleaved (scan_launch_host.py); four eager Bamba-9B mixers one after another with each scan, 7 interleaved
# rounds, with whole forwards kept and without (keyed) (eager_scan_mixer.py); then `bambaprof bench ssd` of the
# default against mamba_ssm at the five target shapes.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
gpu_tests ${TESTS_S:-120} 8 tests/ssm/test_scan_setting.py tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py \
  -k "default_runs or auto or whole or (target_shapes and default)"
(cd benchmarks && timeout ${HOST_S:-60} python3 scan_launch_host.py --shape 1x512 --scan triton --scan gluon_ordered \
  -o "$OUT/scan-launch-host.json")
echo "host rc=$? at ${SECONDS}s"
for setting in 1 keyed; do
  BAMBAPROF_TRITON_FAST_LAUNCH=$setting timeout ${MIXER_S:-60} python3 benchmarks/eager_scan_mixer.py --rounds 7 \
    --shape 1x512 --shape 1x2048 --scan triton --scan gluon_ordered -o "$OUT/eager-scan-mixer-$setting.json" \
    2>>"$OUT/mixer.err" | sed "s/^/$setting /"
done
echo "mixers rc=$? at ${SECONDS}s"
BENCH_S=${BENCH_S:-230} bench_ssd_cores
