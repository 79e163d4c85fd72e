#!/bin/bash
# One device call (about 7 minutes) on the slim kernel's shared memory split into an allocation a tile and an
# mbarrier (ssd_sm90_slim._ring_buffers) with no barrier of its own before refilling a slot that only products
# read: 55 bar.sync against 102 in gluon_ordered's offline PTX. With HEAD's package before the change unpacked as
# .peers/head/bambaprof_head (`mkdir -p .peers/head && git archive COMMIT bambaprof | tar -x -C .peers/head && mv
# .peers/head/bambaprof .peers/head/bambaprof_head`; f291bdd for the thirty-first session's run):
# benchmarks/hand_off_order.py's sides head_ordered, ordered, head_scaled, scaled beside mamba_ssm, each tree side
# compared bit for bit with HEAD's first (2x700, 1x2048, 8x2048), scan_phases of gluon_ordered at 1x2048 and 8x2048,
# `bambaprof check` of auto, then the Gluon scan's GPU tests of gluon_ordered, gluon_slim and gluon_pair (whose
# buffers changed too) until the call's 470th second.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 240 python3 benchmarks/hand_off_order.py --head .peers/head --mamba-ssm "$MAMBA" --side head_ordered \
  --side ordered --side head_scaled --side scaled --equal 2x700 --equal 1x2048 --equal 8x2048 \
  > $OUT/split-buffers.json 2> $OUT/split-buffers.err
echo "split rc=$? at ${SECONDS}s"; grep -i "fail\|error\|^equal" $OUT/split-buffers.err | cut -c1-200 | head -12
python3 - $OUT/split-buffers.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["check"].items(): print("check", k, {a: (round(b, 6) if isinstance(b, float) else b) for a, b in v.items()})
for k, v in d["kernel_us"].items(): print(f"{k:16s}", v)
PY
timeout 45 python3 benchmarks/scan_phases.py --scan gluon_ordered --shape 1x2048 --shape 8x2048 \
  > $OUT/scan-phases.json 2>$OUT/scan-phases.err; echo "phases rc=$? at ${SECONDS}s"; cut -c1-600 $OUT/scan-phases.err
check_triton auto 90
BAMBAPROF_TEST_FORMS="gluon_ordered gluon_slim gluon_pair" gpu_tests $((470 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
