#!/usr/bin/env bash
# The triton variant on the H200: a smoke check against float64, launch configurations tried
# against mamba_ssm (benchmarks/tune_triton_ssd.py), then its GPU tests. Results under $OUT.
# Needs mamba_ssm's source unpacked under .peers/ (carried) and einops (on the device image).
set -uo pipefail
source benchmarks/device_env.sh
timeout 120 python3 - <<'PY' 2>&1 | tail -15
import torch, triton
from bambaprof.ssm import get_variant
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ops
print("triton_op transparent:", ops.TRANSPARENT)
ref = get_variant("reference")
for dtype in (torch.bfloat16, torch.float32):
    inp = make_inputs(Shape(1, 2048, 128, 64, 1, 128, 256), dtype, "cuda", 0, False)
    run = lambda v, i: v(i["x"], i["dt"], i["A"], i["B"], i["C"], 256, D=i["D"], dt_bias=i["dt_bias"], dt_softplus=True, return_final_state=True)
    y, s = run(get_variant("triton"), inp)
    yr, sr = run(ref, {k: (v.double() if v is not None else None) for k, v in inp.items()})
    rel = lambda a, r: ((a.double() - r).norm() / r.norm()).item()
    ms = triton.testing.do_bench(lambda: run(get_variant("triton"), inp), warmup=25, rep=100, return_mode="median")
    print(f"{dtype} 1x2048: y {rel(y, yr):.2e} state {rel(s, sr):.2e} median {ms:.3f} ms", flush=True)
    # a prefill of a partial last chunk, then one decode step from the float64 state
    part = {k: (v[:, :510] if k in ("x", "dt", "B", "C") else v) for k, v in inp.items()}
    y, s = run(get_variant("triton"), part)
    yr, sr = run(ref, {k: (v.double() if v is not None else None) for k, v in part.items()})
    t = 510
    step = lambda v, st: v.decode(st, inp["x"][:, t], inp["dt"][:, t], inp["A"], inp["B"][:, t], inp["C"][:, t], D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
    yd, sd = step(get_variant("triton"), sr.float())
    ydr, sdr = step(ref, sr)
    print(f"{dtype} 1x510: y {rel(y, yr):.2e} state {rel(s, sr):.2e}; decode from the exact state: y {rel(yd, ydr):.2e} state {rel(sd, sdr):.2e}", flush=True)
PY
[ -z "${NO_TUNE:-}" ] && timeout ${TUNE_S:-240} python3 benchmarks/tune_triton_ssd.py --mamba-ssm "$MAMBA" ${TUNE_ARGS:-} > "$OUT/tune.json" 2> "$OUT/tune.err"
echo "tune rc=$?"; tail -3 "$OUT/tune.err"
python3 benchmarks/summarize_tune.py "$OUT/tune.json"
timeout ${TEST_S:-200} python3 -m pytest -q -x -p no:cacheprovider -s tests/ssm/test_gpu_triton_ssd.py ${TEST_EXTRA:-} ${TEST_K:+-k "$TEST_K"} 2>&1 | grep -E "triton |passed|failed|Error|error" | tail -25
if [ -n "${BENCH:-}" ]; then
  timeout ${BENCH_S:-200} python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --format json -o "$OUT/bench-ssd.json" 2>/dev/null
  echo "bench rc=$?"
  timeout 60 python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --shape 1x512 --shape 1x8192 --shape 8x8192 --variant triton --format table 2>/dev/null
fi
