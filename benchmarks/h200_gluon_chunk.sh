#!/bin/bash
# One device call (about 5 minutes) on a Hopper GPU: the GPU tests of a kernel chunk named in BAMBAPROF_SSD_SCAN
# (gluon_late:128 and the like), then auto's Gluon forms on the kernels' own chunk of 128 (and
# gluon_late on 64) beside the committed default, the forms on the model's chunk and mamba_ssm
# (tune_triton_ssd.py, each core checked against float64 first; SHAPES: --shape options, the five target shapes
# unless set), then benchmarks/gluon_launch_host.py at 1x512 and 1x2048 unless NO_HOST is set; all into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout -s INT 90 python3 -m pytest -q -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py -k kernel_chunk_setting \
  > "$OUT/tests-chunk.log" 2>&1
echo "kernel chunk setting tests rc=$? at ${SECONDS}s"; tail -1 "$OUT/tests-chunk.log"
timeout "${TUNE_S:-330}" python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" ${SHAPES:-} \
  --only ${FORMS:-base gluon_late gluon_slim gluon_late_q128 gluon_slim_q128 gluon_late_q64} \
  > "$OUT/tune-chunk.json" 2> "$OUT/tune.err"
echo "tune rc=$? at ${SECONDS}s"; grep -i "FAILED\|error" "$OUT/tune.err" | tail -3
python3 - "$OUT/tune-chunk.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
base = d["kernel_ms"].get("mamba_ssm", {})
for name, row in d["kernel_ms"].items():
    print(f"{name:18s} " + "  ".join(f"{k} {v * 1e3:7.1f}" + (f" ({v / base[k]:.3f})" if k in base else "")
                                      for k, v in row.items()))
print("check", {k: v.get("pass") for k, v in d["check"].items()})
PY
if [ -z "${NO_HOST:-}" ]; then
  timeout 120 python3 benchmarks/gluon_launch_host.py --shape 1x512 --shape 1x2048 -o "$OUT/gluon-launch-host.json" \
    2>/dev/null
  echo "gluon host rc=$? at ${SECONDS}s"
fi
echo "done at ${SECONDS}s"
