#!/bin/bash
# One device call (about 8 minutes) on whole eager forwards kept by the launch shortcut (launch.LaunchMemo): the
# launch tests and the GPU tests of the shortcut and of the memo (Triton scan and auto's Gluon form), then the SSD
# core's host time a forward in each shortcut mode, off / kept / keyed (the C function a launch, as before) / on (and
# repeated forwards launched whole), outputs compared bit for bit (scan_launch_host.py, the Triton scan and
# gluon_ordered at 1x512 and 1x2048); then four eager Bamba-9B mixers one after another with each scan, in processes
# alternating keyed and on (eager_scan_mixer.py), and the mixers' host profile with the memo (mixer_host_profile.py).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
gpu_tests ${TESTS_S:-150} 8 tests/ssm/test_launch.py tests/ssm/test_ssd_sm90_host.py tests/ssm/test_gpu_triton_ssd.py \
  tests/ssm/test_gpu_ssd_sm90.py -k "launch or whole or kept or cpu_memory or eager or default_runs or cuda_graph or host"
(cd benchmarks && timeout ${HOST_S:-130} python3 scan_launch_host.py --shape 1x512 --shape 1x2048 --scan triton \
  --scan gluon_ordered -o "$OUT/scan-launch-host.json")
echo "host rc=$? at ${SECONDS}s"
for setting in keyed 1 keyed 1; do
  [ $SECONDS -gt ${MIXERS_UNTIL:-440} ] && break
  BAMBAPROF_TRITON_FAST_LAUNCH=$setting timeout ${MIXER_S:-75} python3 benchmarks/eager_scan_mixer.py --shape 1x512 \
    --shape 1x2048 --scan triton --scan gluon_ordered -o "$OUT/eager-scan-mixer-$setting-${SECONDS}.json" \
    2>>"$OUT/mixer.err" | sed "s/^/$setting /"
done
echo "mixers rc=$? at ${SECONDS}s"
timeout 60 python3 benchmarks/mixer_host_profile.py --shape 1x512 --scan triton --scan gluon_ordered --calls 50 \
  > "$OUT/mixer-host-profile.txt" 2>&1
echo "profile rc=$? at ${SECONDS}s"; head -20 "$OUT/mixer-host-profile.txt"
