#!/usr/bin/env bash
# A first look at the triton variant on the H200: its tests compiled for the GPU, the Bamba-9B
# shapes against float64, and a median time against default at 1x2048 (CUDA events).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
timeout 100 python3 -m pytest -q -x -p no:cacheprovider tests/ssm/test_triton_ssd.py "tests/ssm/test_gpu_bamba_shapes.py::test_variant_at_bamba_9b_mixer_shape" -k "triton or shapes or options or half or written or decode" 2>&1 | tail -6
timeout 40 python3 - <<'PY'
import torch, triton
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
for L in (512, 2048, 8192):
    inp = make_inputs(Shape(1, L, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, False)
    for name in ("triton", "default") if L <= 2048 else ("triton",):
        v = get_variant(name)
        f = lambda: v(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 256, D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, return_final_state=True)
        ms = triton.testing.do_bench(f, warmup=25, rep=100, return_mode="median")
        print(f"{name:8s} 1x{L}: median {ms:.3f} ms", flush=True)
PY
