#!/bin/bash
# One device call (about 10 minutes) on gluon_split with a first chunk's programs whole and a later chunk's outputs
# between two programs (ssd_sm90_split), so that at 1x512 the 384 programs fit one wave of three an SM on 132 SMs
# and the chunk that waits for the chain is the shorter: its bits beside gluon_ordered's with the blocks where they
# differ, `bambaprof bench ssd` of auto, gluon_ordered and gluon_split side by side with mamba_ssm, the eager mixer
# side by side with the Triton scan (benchmarks/eager_scan_mixer.py, 1x512 and 1x2048), `bambaprof check` of
# gluon_split, then the Gluon scan's GPU tests of gluon_split until the call's 560th second.
# Needs benchmarks/forms/ssd-split-outputs.patch applied (git apply, at 8b1cf5c): gluon_split lost, so the package
# has no such form (h100-bench-ssd-gluon-split.json, h100-eager-scan-split.json, h100-check-triton-split.json).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 90 python3 - <<'PY'
import sys, torch
sys.path.insert(0, "benchmarks")
from scan_forms_equal import forward
from bambaprof.ssm.check import Shape, make_inputs
for b, L in ((2, 700), (1, 512), (1, 2048)):
    inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=1, initial_state=True)
    (ya, sa), (yb, sb) = forward(inp, "gluon_ordered"), forward(inp, "gluon_split")
    d = (ya.float() - yb.float()).abs()
    pos = d.amax(dim=(0, 2, 3))
    blocks = [round(pos[i:i + 64].max().item(), 5) for i in range(0, L, 64)]
    print(f"{b}x{L} y max {d.max().item():.3e} state max {(sa - sb).abs().max().item():.3e} by block of 64 rows",
          blocks[:16], "differing elements", int((d > 0).sum()), "of", d.numel(), flush=True)
PY
echo "equal rc=$? at ${SECONDS}s"
BENCH_S=${BENCH_S:-240} bench_scans auto gluon_ordered gluon_split
timeout 100 python3 benchmarks/eager_scan_mixer.py --shape 1x512 --shape 1x2048 --scan triton --scan gluon_ordered \
  --scan gluon_split -o $OUT/eager-scan.json > $OUT/eager-scan.txt 2>&1; echo "eager rc=$? at ${SECONDS}s"
tail -12 $OUT/eager-scan.txt
check_triton gluon_split 80
BAMBAPROF_TEST_FORMS="gluon_split" gpu_tests $((560 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
