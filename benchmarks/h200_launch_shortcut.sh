#!/usr/bin/env bash
# The eager launch shortcut (bambaprof/ssm/kernels/launch.py) on the H200 in one device call (about 7 minutes):
# the GPU tests of every triton kernel that launches through it (the SSD forward and decode at every option
# and the target shapes but the two largest, the mixer kernels and its kept A, compile and CUDA graphs, and the
# shortcut's modes against plain launches), then the host time of each call of a cached decode token
# (benchmarks/decode_host_costs.py, the shortcut's modes side by side), and the mixer's host time and cached
# decoding in each mode (benchmarks/host_time_mixer.py --decode).
set -uo pipefail
source benchmarks/device_env.sh
timeout ${TEST_S:-210} python3 -m pytest -q -p no:cacheprovider tests/ssm/test_gpu_triton_ssd.py \
  tests/ssm/test_mixer_kernels.py tests/ssm/test_launch.py tests/model/test_mixer.py -k "not 8-8192 and not 1-8192" 2>&1 \
  | grep -E "passed|failed|Error|assert" | tail -8
timeout ${COSTS_S:-150} python3 benchmarks/decode_host_costs.py -o "$OUT/decode-host-costs.json" 2>&1 | grep -v Warn
timeout ${HOST_S:-200} python3 benchmarks/host_time_mixer.py --decode -o "$OUT/host-time.json" 2>&1 | grep -v Warn
