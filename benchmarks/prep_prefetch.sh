#!/bin/bash
# One device call (about 4 minutes), either card: the prep's L2 hints for the scan's first reads in both forms,
# sent first (`prep_prefetch=True`) and after each prep program's stores (`"late"`): both measured on an H100 (the
# forty-first and forty-second sessions) and lost, the prep growing by as much as the scan saved or more; beside
# the default at the five Bamba-9B shapes and
# mamba_ssm, each checked against float64 first (benchmarks/prep_forms.sh), then the GPU test that the hints keep
# the bits. The forms are not in the package: apply benchmarks/forms/ssd-prep-prefetch.patch first (`git apply`).
grep -q PREFETCH_LATE bambaprof/ssm/kernels/ssd.py || { echo "apply benchmarks/forms/ssd-prep-prefetch.patch first"; exit 2; }
CANDS="${CANDS:-base prefetch_late prefetch}" TUNE_S=${TUNE_S:-220} END_S=${END_S:-260} bash benchmarks/prep_forms.sh
