#!/bin/bash
# One short device call: the eager prefill workload (4 layers, no attention, bf16) of the triton variant with the
# Triton scan and with gluon_ordered, at 1x512 and 1x2048, alternating scans (three runs a length) so that a drift of the host's speed shows; prints each run's latency median and p90 (ms) from
# `bambaprof profile`'s summary.
source benchmarks/device_env.sh
for L in 512 2048; do
  order="triton gluon_ordered triton"
  [ $L = 2048 ] && order="gluon_ordered triton gluon_ordered"
  for scan in $order; do
    f="$OUT/summary-$scan-$L-$SECONDS.json"
    BAMBAPROF_SSD_SCAN=$scan timeout 60 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention \
      --dtype bf16 --workload prefill --seq-len $L --warmup 5 --iters 20 --profile-warmup 1 --profile-active 1 \
      --device cuda --runs "$OUT/runs/$scan-$L-$SECONDS" --variant triton --compile none --format json \
      -o "$f" > /dev/null 2> "$OUT/profile.err" || tail -2 "$OUT/profile.err"
    python3 - "$f" "$scan" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["rows"][0]
print(f"{r['seq_len']:5d} {sys.argv[2]:14s} latency median {r['latency_ms']:.3f} p90 {r['latency_p90_ms']:.3f} ms")
PY
  done
done
echo "done at ${SECONDS}s"
