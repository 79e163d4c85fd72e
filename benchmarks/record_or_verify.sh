#!/bin/bash
# One device call of at most 10 minutes for either card: on an H200, issue #17's record (benchmarks/h200_record.sh);
# on another card, the GPU check of `ssd_forward`'s one launch tail (0ac3b2e) and of gluon_diag_first's alike sums
# (7886a9d), as benchmarks/verify_ssd_forward.sh runs them.
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if [[ "$name" == *H200* ]]; then
  exec bash benchmarks/h200_record.sh
fi
exec bash benchmarks/verify_ssd_forward.sh
