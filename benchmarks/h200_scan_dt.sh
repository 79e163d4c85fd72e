#!/bin/bash
# One device call (about 8 minutes) on a Hopper GPU: the GPU tests of LaunchConfig.scan_dt (the Gluon scan forming
# each chunk's dt' and cs from the raw dt, the prep making only C B^T), then tune_triton_ssd.py's scan_dt
# candidates beside the committed default, gluon_late and mamba_ssm at the five target shapes (each core checked
# against float64 first; FORMS overrides the candidates), all into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout -s INT "${TEST_S:-170}" python3 -m pytest -q -p no:cacheprovider tests/ssm/test_gpu_ssd_scan_dt.py \
  > "$OUT/tests-scan-dt.log" 2>&1
echo "scan_dt tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-scan-dt.log" | tail -6
timeout "${TUNE_S:-330}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" ${SHAPES:-} \
  --only ${FORMS:-base scan_dt scan_dt_tiles gluon_late gluon_late_dt gluon_late_dt_tiles} \
  > "$OUT/tune-scan-dt.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"; grep -i "FAILED\|error" "$OUT/tune.err" | tail -3
python3 - "$OUT/tune-scan-dt.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
base = d["kernel_ms"].get("mamba_ssm", {})
for name, row in d["kernel_ms"].items():
    print(f"{name:20s} " + "  ".join(f"{k} {v * 1e3:7.1f}" + (f" ({v / base[k]:.3f})" if k in base else "")
                                      for k, v in row.items()))
for name, row in d["kernel_us"].items():
    print(f"{name:20s} " + "  ".join(f"{k} " + "/".join(f"{u:.1f}" for u in (row[k] or {}).values())
                                      for k in row))
print("check", {k: v.get("pass") for k, v in d["check"].items()})
PY
echo "done at ${SECONDS}s"
