#!/bin/bash
# One device call (about 8 minutes) on the Gluon scan's hand-off (benchmarks/hand_off_order.py), with HEAD's package
# unpacked as .peers/head/bambaprof_head by `mkdir -p .peers/head && git archive HEAD bambaprof | tar -x -C .peers/head
# && mv .peers/head/bambaprof .peers/head/bambaprof_head` (the first run of 2026-12-06 was against 855c940):
# SIDES (default: HEAD's and the tree's default forward and gluon_slim; with benchmarks/forms/ssd-hand-off-order.patch
# applied, gluon_slim with stores_late too) beside mamba_ssm, then benchmarks/scan_phases.py at 1x512 and 1x2048,
# `bambaprof check` of the default at the Bamba-9B shapes, and the Gluon scan's and the variant's GPU tests
# (gluon_slim and gluon_late) until the call's 500th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
sides=""
for s in ${SIDES:-head_auto auto head_slim slim}; do sides="$sides --side $s"; done
timeout 270 python3 benchmarks/hand_off_order.py --head .peers/head --mamba-ssm "$MAMBA" $sides \
  > $OUT/hand-off-order.json 2> $OUT/hand-off-order.err
echo "order rc=$? at ${SECONDS}s"; grep -i "fail\|error" $OUT/hand-off-order.err | head -5
python3 - $OUT/hand-off-order.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["check"].items(): print("check", k, {a: (round(b, 6) if isinstance(b, float) else b) for a, b in v.items()})
for k, v in d["kernel_us"].items(): print(f"{k:16s}", v)
PY
timeout 45 python3 benchmarks/scan_phases.py --shape 1x512 --shape 1x2048 \
  > $OUT/scan-phases.json 2>/dev/null; echo "phases rc=$? at ${SECONDS}s"
check_triton auto 110
BAMBAPROF_TEST_FORMS="gluon_slim gluon_late" gpu_tests $((500 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py \
  tests/ssm/test_gpu_triton_ssd.py
