#!/usr/bin/env bash
# The triton variant's one-pass chunk scan on the H200, in one device call (about 8 minutes): `bench ssd` against
# mamba_ssm at the five target shapes (wall and kernel time), the GPU tests of the variant and of `bench`,
# and the mixer bench (beside a mixer around mamba_ssm's core). The tests include the compiled forward
# without CUDA graphs (it must finish; they allow 240 s: on 2026-12-04 benchmarks/compile_modes_ssd.py with
# a 25 s limit timed out on the fixed code while the tests passed, so a short limit cannot tell a hang from
# a slow compile). The profile matrix rows are benchmarks/h200_profile_triton.sh (max-autotune compiles for
# minutes).
# NO_TESTS=1 leaves the tests out (the two benches only, about 4 minutes). mamba_ssm re-tunes at every
# shape, so the benches are allowed 240 and 200 s (on 2026-12-04 the mixer bench took 73 s once and ran past
# 90 s in another call).
# Results and a log under $OUT (the log comes back even when the call runs out of time).
# Needs mamba_ssm's source unpacked under .peers/ (carried) and einops (on the device image).
set -uo pipefail
source benchmarks/device_env.sh
bench_ssd_cores
[ -n "${NO_TESTS:-}" ] || timeout ${TEST_S:-300} python3 -m pytest -q -p no:cacheprovider -s tests/ssm/test_gpu_triton_ssd.py tests/ssm/test_triton_ssd.py tests/model/test_mixer.py tests/bench/test_bench_ssd.py 2>&1 \
  | grep -E "^triton |passed|failed|FAILED|Error|^E  " | tail -24
timeout 200 python3 -m bambaprof bench ssd --mixer --mamba-ssm "$MAMBA" --variant triton --format json -o "$OUT/bench-mixer.json" 2>/dev/null
echo "mixer rc=$?"
python3 - "$OUT/bench-mixer.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(f"{r['variant']:16s} {r['batch']}x{r['seq_len']:<5d} {r['status']} wall {r['median_ms'] or 0:.4f}"
          f" kernel {r['kernel_ms'] or 0:.4f} ms vs base {r['vs_baseline'] or 0:.3f} kernel {r['kernel_vs_baseline'] or 0:.3f}")
    for kernel, pick in (r.get("autotune") or {}).items():
        print(f"    {kernel}: {', '.join(p for p in pick.split(', ') if not p.endswith('None'))}")
PY
