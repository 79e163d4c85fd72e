#!/bin/bash
# The Hopper (Gluon) chunk scan on the H200: a smoke run against the float64 recurrence (90 s limit, so that a
# hang cannot take the call), the committed Triton scan ("base") and the Gluon forms timed side by side with
# mamba_ssm at the five target shapes (benchmarks/tune_triton_ssd.py), then its GPU tests and Nsight Compute.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
timeout 90 python3 - <<'PY'
import dataclasses, torch
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd, ssd_sm90
from tests.ssm.helpers import rel_err, run
shape = Shape(2, 600, 128, 64, 1, 128, 256)
inp = make_inputs(shape, torch.bfloat16, "cuda", seed=0, initial_state=True)
ref = run(get_variant("reference"), {k: (v.double() if v is not None else None) for k, v in inp.items()}, 256, dt_softplus=True)
ssd.config_override = dataclasses.replace(ssd.LaunchConfig(), scan_kernel="triton")
out = {"triton": run(get_variant("triton"), inp, 256, dt_softplus=True)}
for form in sorted(ssd_sm90.FORMS):
    ssd.config_override = dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form)
    out[form] = run(get_variant("triton"), inp, 256, dt_softplus=True)
    torch.cuda.synchronize()
for name, (y, s) in out.items():
    print(f"smoke {name}: y {rel_err(y, ref[0]):.2e} state {rel_err(s, ref[1]):.2e}")
PY
echo "smoke rc=$? at ${SECONDS}s"
timeout 300 python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only triton gluon gluon_2d gluon_async > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"
grep -i "fail\|error" "$OUT/tune.err" | head -5
python3 - "$OUT/tune.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("check", json.dumps(d["check"]))
for name, rows in d["kernel_ms"].items():
    print(f"{name:10s}", " ".join(f"{k}={1000 * v:.1f}" for k, v in rows.items()))
PY
TEST_S=${TEST_S:-240} gpu_tests 240 12 tests/ssm/test_gpu_ssd_sm90.py
# where the Gluon scan's time goes: Nsight Compute on one launch of each form at 8x8192 and 1x2048
for form in gluon gluon_async; do
  timeout 120 ncu --clock-control none -k regex:_chunk_scan --section SpeedOfLight --section Occupancy \
    --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis \
    python3 benchmarks/ncu_chunk_scan.py --scan-kernel $form 8x8192 1x2048 > "$OUT/ncu-$form.txt" 2>&1
  echo "ncu $form rc=$? at ${SECONDS}s"
  grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Compute \(SM\) Throughput|Memory Throughput|Block Limit|Dynamic Shared" "$OUT/ncu-$form.txt" | head -24
done
