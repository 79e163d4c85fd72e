#!/bin/bash
# One device call (about 6 minutes) on a Hopper GPU: the GPU tests of `auto`'s rule (graphs and eager sizes), then
# `bambaprof bench ssd --scan` of the default (auto) against the three scans it chooses between and
# mamba_ssm at SHAPES (1x512 and 1x2048 unless set), in the same interleaved rounds, then the Gluon scan's GPU tests
# (TEST_K: each form's kernel and the options it serves, with initial states) of the forms FORMS names (default:
# those the close script leaves out) under `timeout -s INT`, so that pytest prints its summary when cut short; all
# into $OUT.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout -s INT 90 python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py -k "default_runs" \
  tests/ssm/test_scan_setting.py > "$OUT/tests-auto.log" 2>&1
echo "auto tests rc=$? at ${SECONDS}s"; tail -3 "$OUT/tests-auto.log"
timeout "${BENCH_S:-150}" python3 -m bambaprof bench ssd --mamba-ssm "$MAMBA" --variant triton --scan auto \
  --scan triton --scan gluon_late --scan gluon_slim ${SHAPES:---shape 1x512 --shape 1x2048} --format json \
  -o "$OUT/bench-auto.json" 2> "$OUT/bench.err"
echo "bench rc=$? at ${SECONDS}s"
python3 - "$OUT/bench-auto.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(f"{r['variant'][-28:]:28s} {r['batch']}x{r['seq_len']:<5d} wall {r['median_ms']:.4f} kernel {r['kernel_ms']:.4f} ms"
          f" kernel/base {r['kernel_vs_baseline']:.3f} top {r.get('top_kernel')}")
PY
BAMBAPROF_TEST_FORMS=${FORMS:-gluon gluon_2d gluon_async gluon_packed gluon_lean gluon_lg2 gluon_stay gluon_pair gluon_wide} \
  timeout -s INT "${TEST_S:-150}" python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_gpu_ssd_sm90.py \
  -k "${TEST_K:-kernel_that_runs or (options_it_serves and True)}" > "$OUT/tests-forms.log" 2>&1
echo "form tests rc=$? at ${SECONDS}s"; grep -E "passed|failed|FAILED|Error" "$OUT/tests-forms.log" | tail -8
echo "done at ${SECONDS}s"
