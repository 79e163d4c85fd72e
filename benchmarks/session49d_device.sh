#!/bin/bash
# A fourth device call (forty-ninth session), one GPU: DDP with gradient accumulation over NCCL (one rank: NCCL still
# launches its all-reduce kernels), with and without no_sync (benchmarks/grad_sync_traces.py --backend nccl
# --world 1), each trace analysed (the grad-sync figures, the findings).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 240 python3 benchmarks/grad_sync_traces.py "$OUT/grad-sync" --backend nccl --world 1 2>&1 | grep -v "^USDT\|warn" | tail -6
for t in "$OUT"/grad-sync/*/rank*.json.gz; do
  echo "== $t"
  python3 - "$t" <<'PY'
import sys
from bambaprof.analysis.analysis import analyze
a = analyze(sys.argv[1]); s = a.summary
print({k: s[k] for k in s if k.startswith(("grad_sync", "wrapped")) or k in ("collective_us", "gpu_window_us")})
print([(f["id"], f["severity"], f.get("time_us")) for f in a.findings])
PY
done
tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
