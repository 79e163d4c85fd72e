#!/bin/bash
# One device call (about 4 minutes) on forwards of one chunk (L <= the chunk), which no Gluon form compiled with
# Triton 3.6 before ssd_sm90.UNSPECIALIZED (Triton made nchunks = 1 a constant; ConvertTritonGPUToLLVM asserted):
# the Gluon scan's one-chunk GPU test for every form, `bambaprof check` of auto at 8 x 256 (1,024 scan programs,
# where auto runs gluon_ordered eagerly) and 8 x 512, and the same inside a CUDA graph (auto runs the Gluon scan at
# every size there) for 1 x 256.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
gpu_tests 200 6 tests/ssm/test_gpu_ssd_sm90.py -k "one_chunk"
BAMBAPROF_SSD_SCAN=auto timeout 100 python3 -m bambaprof check --variant triton --preset bamba-9b --device cuda \
  --dtype bfloat16 --initial-state --batch 8 --seq-len 256 --seq-len 512 --format json -o "$OUT/check-one-chunk.json" \
  > /dev/null 2> "$OUT/check.err"; echo "check rc=$? at ${SECONDS}s"; tail -2 "$OUT/check.err"
python3 - "$OUT/check-one-chunk.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["rows"]:
    print(f"check {r['batch']}x{r['seq_len']} {r['status']} y {r['rel_err']:.2e} state {r['state_rel_err']:.2e}")
PY
timeout 100 python3 - <<'PY'
import torch
from bambaprof.ssm.check import Shape, make_inputs
from bambaprof.ssm.kernels import ssd
inp = make_inputs(Shape(1, 256, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", seed=1, initial_state=True)
def fwd():
    return ssd.ssd_forward(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 256, D=inp["D"], dt_bias=inp["dt_bias"],
                           dt_softplus=True, initial_state=inp["initial_state"], return_final_state=True)
y0, s0 = fwd()
ssd.scan_override = "gluon_ordered"  # compiled before the capture
fwd()
ssd.scan_override = None
torch.cuda.synchronize()
g = torch.cuda.CUDAGraph()
with torch.cuda.graph(g):
    y1, s1 = fwd()
g.replay(); torch.cuda.synchronize()
print("graph 1x256 (auto runs", ssd.auto_scan(128, True) + "): y max diff vs eager", (y1.float() - y0.float()).abs().max().item(),
      "state", (s1 - s0).abs().max().item())
PY
echo "graph rc=$? at ${SECONDS}s"
