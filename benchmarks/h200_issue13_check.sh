#!/usr/bin/env bash
# H200 check of the typed run record and bambaprof.record on CUDA: the record/run/API tests (GPU ones
# included), the runner tests, and the own-model example on the GPU; results under $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)" | tee -a $OUT/device.txt
timeout 400 python3 -m pytest -q -p no:cacheprovider tests/api tests/run tests/collect/test_runner.py \
  tests/commands/test_renames.py 2>&1 | grep -v USDT | tee $OUT/pytest.log | tail -15
timeout 120 python3 examples/record_own_model.py --runs $OUT/runs 2>&1 | grep -v USDT | tee $OUT/example.log
python3 - <<'PY' | tee $OUT/record-manifest.json
import glob, json
from bambaprof.run import read_manifest
d = sorted(glob.glob(__import__("os").environ["OUT"] + "/runs/tiny-mamba2-block-*"))[-1]
m = read_manifest(d)
print(json.dumps({"device": m.device.to_dict(), "timings": m.timings.to_dict(), "telemetry": m.telemetry.to_dict(),
                  "energy": m.energy.to_dict() if m.energy else None, "warnings": m.warnings}, indent=1))
PY
