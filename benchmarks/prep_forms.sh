#!/bin/bash
# One device call (about 7 minutes): the default's forward with shorter `_chunk_prep` programs (LaunchConfig's
# cb_tiles, prep_bh and prep_warps; benchmarks/tune_triton_ssd.py's `cb_tiles` and `tiles_bh*` candidates, CANDS
# to name others) side by side with the committed options and mamba_ssm at the five Bamba-9B shapes, each checked
# against float64 first; prints kernel us a call, the prep's and the scan's, and the ratio to mamba_ssm
# ($OUT/tune-prep.json). Then the GPU tests of the prep's options and of the launch shortcut (kept kernels, whole
# forwards, CPU memory) until the call's 400th second (END_S).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout ${TUNE_S:-320} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" \
  --only ${CANDS:-base cb_tiles tiles_bh4_w4 tiles_bh2_w4} > "$OUT/tune-prep.json" \
  2> "$OUT/tune-prep.err"
echo "tune rc=$? at ${SECONDS}s"; grep -i "fail\|error" "$OUT/tune-prep.err" | head -5
python3 - "$OUT/tune-prep.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print({k: (round(v["y_rel_err"], 6), v["pass"]) if "y_rel_err" in v else v for k, v in d["check"].items()})
peer = d["kernel_ms"].get("mamba_ssm", {})
for name, row in d["kernel_ms"].items():
    cells = []
    for shape, ms in row.items():
        parts = d["kernel_us"].get(name, {}).get(shape) or {}
        prep = parts.get("_chunk_prep")
        ratio = ms / peer[shape] if ms and peer.get(shape) else float("nan")
        cells.append(f"{shape} {ms * 1e3:7.1f}" + (f" (prep {prep:4.1f})" if prep else "") + f" {ratio:.3f}x")
    print(f"{name:14s}", " | ".join(cells))
PY
gpu_tests $((${END_S:-400} - SECONDS)) 6 tests/ssm/test_gpu_triton_ssd.py -k "prep or kept or whole or cpu_memory"
echo "done at ${SECONDS}s"
