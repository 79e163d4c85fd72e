#!/bin/bash
# The triton variant with the Gluon chunk scan on Hopper: each form against the float64 recurrence (smoke, 90 s
# limit), the Triton scan and the Gluon forms timed side by side with mamba_ssm at the five target shapes
# (benchmarks/tune_triton_ssd.py), the variant's GPU tests and the Gluon scan's, then where the scan's warps stall
# (Nsight Compute source counters, 1x2048, one launch of SCAN_FORM, gluon_late unless named; the SASS page as CSV). After the smoke,
# the eager core's host and wall time with each scan in each mode of the launch shortcut (scan_launch_host.py).
# FORMS: the tuning candidates to time (default: triton, the three async Gluon forms, gluon_async on chunks of
# 128 and after a prep with a program per C B^T tile); BENCH=1 adds `bambaprof bench ssd`. Two calls of at most 10 minutes: PART=1 (the default) smoke, host time and tuning
# (about 7 minutes), PART=2 smoke, GPU tests, Nsight Compute and BENCH.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
timeout 90 python3 - <<'PY'
import dataclasses, torch
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd, ssd_sm90
from tests.ssm.helpers import rel_err, run
inp = make_inputs(Shape(2, 600, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=0, initial_state=True)
ref = run(get_variant("reference"), {k: (v.double() if v is not None else None) for k, v in inp.items()}, 256, dt_softplus=True)
for form in ["triton"] + sorted(ssd_sm90.FORMS):
    ssd.config_override = dataclasses.replace(ssd.LaunchConfig(), scan_kernel=form)
    y, s = run(get_variant("triton"), inp, 256, dt_softplus=True)
    torch.cuda.synchronize()
    print(f"smoke {form}: y {rel_err(y, ref[0]):.2e} state {rel_err(s, ref[1]):.2e}")
PY
echo "smoke rc=$? at ${SECONDS}s"
if [ "${PART:-1}" = 1 ]; then
(cd benchmarks && timeout 150 python3 scan_launch_host.py -o "$OUT/scan-launch-host.json")
echo "host rc=$? at ${SECONDS}s"
timeout 330 python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" --only ${FORMS:-triton gluon_async gluon_packed gluon_lean gluon_async_q128 gluon_async_cb_tiles} \
  > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"
grep -i "fail\|error" "$OUT/tune.err" | head -5
python3 - "$OUT/tune.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, rows in d["kernel_ms"].items():
    print(f"{name:12s}", " ".join(f"{k}={1000 * v:.1f}" for k, v in rows.items()))
PY
exit 0
fi
[ -n "${BENCH:-}" ] && bench_ssd_cores
TEST_S=${TEST_S:-230} gpu_tests 230 12 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py
timeout 120 ncu --clock-control none -k regex:_chunk_scan_sm90 --section WarpStateStats --section SourceCounters \
  -o "$OUT/scan-1x2048" python3 benchmarks/ncu_chunk_scan.py --scan-kernel "${SCAN_FORM:-gluon_late}" 1x2048 > "$OUT/ncu-run.txt" 2>&1
echo "ncu rc=$? at ${SECONDS}s"
ncu -i "$OUT/scan-1x2048.ncu-rep" --page source --csv --print-source sass > "$OUT/sass-1x2048.csv" 2>&1
ncu -i "$OUT/scan-1x2048.ncu-rep" --page details --print-details all > "$OUT/details-1x2048.txt" 2>&1
rm -f "$OUT/scan-1x2048.ncu-rep"
echo "done at ${SECONDS}s"
