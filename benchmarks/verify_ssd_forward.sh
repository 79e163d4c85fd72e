#!/bin/bash
# The GPU tests of `ssd_forward`'s launch paths in one device call (about 8 minutes, either card): the Gluon scan's
# tests of auto's form (gluon_ordered) and of the fused form (one launch for scan and outputs), the repeated-forwards
# test of both diag_first forms (twenty forwards, the same bits whether a program waited for its chain or not), then
# the triton variant's GPU tests through the default scan. Each part's log is $OUT/<part>.log.
source benchmarks/device_env.sh
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
part() {  # part NAME LIMIT_S FORMS PYTEST_ARGS...
  local name=$1 limit=$2 forms=$3
  shift 3
  BAMBAPROF_TEST_FORMS="$forms" timeout -s INT -k 20 "$limit" python3 -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 \
    | tee "$OUT/$name.log" | grep -E "passed|failed|FAILED|Error|Interrupted" | tail -6
  echo "$name done at ${SECONDS}s"
}
part diag-first ${DIAG_S:-90} "gluon_diag_first gluon_fused_diag_first" tests/ssm/test_gpu_ssd_sm90.py \
  -k "the_diag_first_forms_give_the_same_bits"
part sm90 ${SM90_S:-240} "gluon_ordered gluon_fused" tests/ssm/test_gpu_ssd_sm90.py
part triton ${TRITON_S:-150} "gluon_ordered" tests/ssm/test_gpu_triton_ssd.py
