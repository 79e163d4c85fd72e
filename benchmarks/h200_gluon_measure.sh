#!/bin/bash
# One device call (at most about 9 minutes) for when device time is short: the chunk-scan forms timed side by side
# with mamba_ssm at the five target shapes (benchmarks/tune_triton_ssd.py, which checks each against float64
# first; progress lines in $OUT/tune.err survive a time-out), the GPU tests of the variant and of the Gluon scan,
# and `bambaprof check` of the triton variant with CHECK_SCAN (default gluon_async) run eagerly: bf16, initial
# states, 1 and 8 x 512 / 2048 / 8192. FORMS: the candidates (default: triton and the three async Gluon forms).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
timeout "${TUNE_S:-300}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" \
  --only ${FORMS:-triton gluon_async gluon_packed gluon_lean} > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"
grep -i "error\|fail" "$OUT/tune.err" | head -5
python3 benchmarks/print_tune.py "$OUT/tune.json" || tail -12 "$OUT/tune.err"
TEST_S=${TEST_S:-120} gpu_tests 120 6 tests/ssm/test_gpu_ssd_sm90.py tests/ssm/test_gpu_triton_ssd.py
BAMBAPROF_SSD_SCAN=${CHECK_SCAN:-gluon_async} timeout "${CHECK_S:-90}" python3 -m bambaprof check --variant triton \
  --preset bamba-9b --device cuda --dtype bfloat16 --initial-state --batch 1 --batch 8 --seq-len 512 --seq-len 2048 \
  --seq-len 8192 --format json -o "$OUT/check-triton.json" > /dev/null 2> "$OUT/check.err"
echo "check rc=$? at ${SECONDS}s"
python3 - "$OUT/check-triton.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as exc:
    raise SystemExit(f"no check result: {exc}")
print("scan", d["environment"]["ssd_scan"])
for r in d["rows"]:
    print(f"check {r['batch']}x{r['seq_len']} {r['status']} y {r['rel_err']:.2e} state {r['state_rel_err']:.2e}"
          f" decode {r['decode_rel_err']:.2e}")
PY
echo "done at ${SECONDS}s"
