#!/bin/bash
# One short device call on why four eager Bamba-9B mixers at 1x512 take 0.26 ms more wall with gluon_ordered than
# with the Triton scan while the host enqueues them only 0.07 ms slower (mixer_host_profile.py): the prefill
# workload (4 layers, no attention, bf16, eager) profiled with each scan by `bambaprof profile`, then
# `bambaprof analyze`'s summary (span, GPU busy and idle, waiting on the host) and its kernels table for each.
source benchmarks/device_env.sh
for scan in triton gluon_ordered; do
  BAMBAPROF_SSD_SCAN=$scan timeout 120 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention \
    --dtype bf16 --workload prefill --seq-len 512 --warmup 3 --iters 10 --profile-warmup 1 --profile-active 2 \
    --device cuda --runs "$OUT/runs/$scan" --variant triton --compile none --format json \
    -o "$OUT/summary-$scan.json" > /dev/null 2> "$OUT/profile-$scan.err"; echo "$scan profile rc=$? at ${SECONDS}s"
  run=$(ls -d "$OUT"/runs/$scan/*/ | head -1)
  timeout 60 python3 -m bambaprof analyze "$run" --top 12 > "$OUT/analyze-$scan.txt" 2>&1
  echo "== $scan"; head -40 "$OUT/analyze-$scan.txt" | cut -c1-180
done
