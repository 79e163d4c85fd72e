#!/usr/bin/env bash
# One device call (about 7 minutes): the GPU tests of the GEMVs, launch, mixer kernels and triton SSD (verifying
# the tree on CUDA), then the chunk scan with two heads a program (LaunchConfig.scan_heads) side by side with
# the committed one and mamba_ssm (benchmarks/tune_triton_ssd.py; ONLY picks the candidates).
# The form is a patch (benchmarks/forms/ssd-two-heads-full-p.patch, not merged: slower); this script applies it
# to the device's copy of the tree first. Results under $OUT: tests.log, scan-heads.json, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
git apply benchmarks/forms/ssd-two-heads-full-p.patch 2>/dev/null || patch -p1 < benchmarks/forms/ssd-two-heads-full-p.patch || exit 1
SECONDS=0
gpu_tests 300 8 tests/ssm/test_gemv.py tests/ssm/test_launch.py tests/ssm/test_mixer_kernels.py tests/ssm/test_gpu_triton_ssd.py tests/ssm/test_triton_ssd.py
timeout ${SCAN_S:-360} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only ${ONLY:-base h2 h2_r168 h2_bm32} \
  > "$OUT/scan-heads.json" 2> "$OUT/scan-heads.err"
echo "scan rc=$? at ${SECONDS}s"; grep -i "fail\|error" "$OUT/scan-heads.err" | head -5
python3 benchmarks/print_tune.py "$OUT/scan-heads.json"
echo "all done at ${SECONDS}s"
