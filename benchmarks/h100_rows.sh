#!/bin/bash
# One device call (about 7 minutes) on gluon_rows (the slim kernel's ordered form whose outputs put every weight but
# x's on the rows of register A operands, so that a block's products go into its accumulator one after another with
# none waited for before the block's end): its outputs beside gluon_ordered's, `bambaprof check` of gluon_rows at the
# Bamba-9B shapes, `bambaprof bench ssd` of gluon_ordered and gluon_rows side by side with mamba_ssm, then the Gluon
# scan's GPU tests of gluon_rows until the call's 500th second.
# Needs benchmarks/forms/ssd-rows.patch applied (git apply, at c813195): gluon_rows lost, so the package has no such
# form (h100-bench-ssd-gluon-rows.json, h100-check-triton-rows.json, h100-gluon-rows-log.txt).
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
timeout 90 python3 benchmarks/scan_forms_equal.py gluon_ordered gluon_rows 2x700 1x512 1x2048 2x256 8x2048
echo "compare rc=$? at ${SECONDS}s"
check_triton gluon_rows 90
BENCH_S=${BENCH_S:-220} bench_scans gluon_ordered gluon_rows
BAMBAPROF_TEST_FORMS="gluon_rows" gpu_tests $((500 - SECONDS)) 6 tests/ssm/test_gpu_ssd_sm90.py
