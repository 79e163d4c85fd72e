#!/bin/bash
# One device call (about 5 minutes) on a Hopper GPU: the launch shortcut's host-side tests and the Gluon scan's
# eager-launch, rule and kernel GPU tests (auto's forms); benchmarks/gluon_launch_host.py (the Gluon core's host
# time with its descriptor encodings kept and re-encoded, and the parts of its launch); four eager mixers with
# each scan (eager_scan_mixer.py); `bench ssd --scan` of auto, the Triton scan and auto's two Gluon forms beside
# mamba_ssm; at SHAPES (1x512 and 1x2048 unless set), all into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
SHAPES=${SHAPES:---shape 1x512 --shape 1x2048}
timeout -s INT 60 python3 -m pytest -q -p no:cacheprovider tests/ssm/test_launch.py tests/ssm/test_ssd_sm90_host.py \
  > "$OUT/tests-host.log" 2>&1
echo "host-side tests rc=$? at ${SECONDS}s"; tail -1 "$OUT/tests-host.log"
BAMBAPROF_TEST_FORMS="gluon_late gluon_slim" timeout -s INT 90 python3 -m pytest -q -p no:cacheprovider \
  tests/ssm/test_gpu_ssd_sm90.py -k "eager_launches or default_runs or kernel_that_runs" > "$OUT/tests-gpu.log" 2>&1
echo "gpu tests rc=$? at ${SECONDS}s"; tail -1 "$OUT/tests-gpu.log"
timeout 120 python3 benchmarks/gluon_launch_host.py $SHAPES -o "$OUT/gluon-launch-host.json" 2>/dev/null
echo "gluon host rc=$? at ${SECONDS}s"
timeout 150 python3 benchmarks/eager_scan_mixer.py $SHAPES --scan triton --scan gluon_late --scan gluon_slim \
  -o "$OUT/eager-scan-mixer.json" 2>"$OUT/mixer.err"
echo "mixer rc=$? at ${SECONDS}s"
timeout 150 python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --variant triton --scan auto --scan triton \
  --scan gluon_late --scan gluon_slim $SHAPES --format json -o "$OUT/bench-auto.json" 2> "$OUT/bench.err"
echo "bench rc=$? at ${SECONDS}s"
python3 - "$OUT/bench-auto.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(f"{r['variant'][-20:]:20s} {r['batch']}x{r['seq_len']:<5d} wall {r['median_ms']:.4f} kernel {r['kernel_ms']:.4f} ms"
          f" kernel/base {r['kernel_vs_baseline']:.3f}")
PY
echo "done at ${SECONDS}s"
