#!/bin/bash
# One device call (about 7 minutes) on gluon_lookback (the slim kernel's ordered form where a chain's second chunk
# forms the first chunk's state too, and the first chunk's program only its outputs, so that no program waits for
# the chain's first hand-off): its outputs beside gluon_ordered's (the largest differences; not bit for bit, as the
# second chunk's accumulators start from the scaled state before it), `bambaprof check` of gluon_lookback at the
# Bamba-9B shapes, `bambaprof bench ssd` of gluon_ordered and gluon_lookback side by side with mamba_ssm, then the
# Gluon scan's GPU tests of gluon_lookback until the call's 480th second.
# Needs benchmarks/forms/ssd-lookback.patch applied (git apply, at 8b1cf5c): gluon_lookback lost, so the package has
# no such form (h100-bench-ssd-gluon-lookback.json, h100-check-triton-lookback.json).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 90 python3 - <<'PY'
import sys, torch
sys.path.insert(0, "benchmarks")
from scan_forms_equal import forward
from bambaprof.ssm.check import Shape, make_inputs
for b, L in ((2, 700), (1, 512), (1, 2048), (2, 256)):
    inp = make_inputs(Shape(b, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=1, initial_state=True)
    (ya, sa), (yb, sb) = forward(inp, "gluon_ordered"), forward(inp, "gluon_lookback")
    d = (ya.float() - yb.float()).abs()
    pos = d.amax(dim=(0, 2, 3))
    blocks = [round(pos[i:i + 64].max().item(), 5) for i in range(0, L, 64)]
    print(f"{b}x{L} y max {d.max().item():.3e} (of |y| max {ya.float().abs().max().item():.2f}) state max "
          f"{(sa - sb).abs().max().item():.3e} by block of 64 rows", blocks[:12], flush=True)
PY
echo "compare rc=$? at ${SECONDS}s"
check_triton gluon_lookback 80
BENCH_S=${BENCH_S:-200} bench_scans gluon_ordered gluon_lookback
BAMBAPROF_TEST_FORMS="gluon_lookback" gpu_tests $((480 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
