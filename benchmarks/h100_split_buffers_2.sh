#!/bin/bash
# A short device call (about 3 minutes) after benchmarks/h100_split_buffers.sh, whose 8x8192 rows had the tree's
# sides 5% to 7% slower than HEAD's with the prep kernel (the same code in both) 2.7% slower too: HEAD's and the
# tree's gluon_ordered alone (no mamba_ssm), 9 interleaved rounds at 8x8192, 8x2048, 1x2048 and 1x512, with each
# side's median SM clock.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
timeout 200 python3 benchmarks/hand_off_order.py --head .peers/head --side head_ordered --side ordered --rounds 9 \
  --shape 8x8192 --shape 8x2048 --shape 1x2048 --shape 1x512 > $OUT/split-buffers-2.json 2> $OUT/split-buffers-2.err
echo "split rc=$? at ${SECONDS}s"; grep -i "fail\|error" $OUT/split-buffers-2.err | cut -c1-200 | head -5
python3 - $OUT/split-buffers-2.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k, v in d["kernel_us"].items(): print(f"{k:16s}", v, d["sm_clock_mhz"][k])
for k, v in d["kernel_us_by_kernel"].items(): print(f"{k:16s}", {s: {n: round(t, 1) for n, t in x.items()} for s, x in v.items()})
PY
