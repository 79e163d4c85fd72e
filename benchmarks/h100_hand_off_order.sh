#!/bin/bash
# One device call (about 9 minutes): benchmarks/hand_off_order.py (the Gluon scan's hand-off reading both halves of
# the entering state first, beside HEAD's package unpacked as .peers/head/bambaprof_head by
# `mkdir -p .peers/head && git archive HEAD bambaprof | tar -x -C .peers/head && mv .peers/head/bambaprof
# .peers/head/bambaprof_head`, and mamba_ssm), then benchmarks/scan_phases.py at 1x512 and 1x2048, then the Gluon
# scan's GPU tests of gluon_slim and gluon_late until the call's tenth minute.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
timeout 330 python3 benchmarks/hand_off_order.py --head .peers/head --mamba-ssm "$MAMBA" > $OUT/hand-off-order.json 2> $OUT/hand-off-order.err
echo "order rc=$? at ${SECONDS}s"; grep -i "fail\|error" $OUT/hand-off-order.err | head -5
python3 - $OUT/hand-off-order.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["check"].items(): print("check", k, {a: (round(b, 6) if isinstance(b, float) else b) for a, b in v.items()})
for k, v in d["kernel_us"].items(): print(f"{k:14s}", v)
PY
timeout 45 python3 benchmarks/scan_phases.py --shape 1x512 --shape 1x2048 > $OUT/scan-phases-e-first.json 2>/dev/null; echo "phases rc=$? at ${SECONDS}s"
BAMBAPROF_TEST_FORMS="gluon_slim gluon_late" gpu_tests $((560 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
