#!/bin/bash
# One device call (forty-fourth session), any card: (1) a real Nsight Compute capture of two processes
# (benchmarks/ncu_two_processes.py, ncu --target-processes all) beside each process's own PyTorch profiler trace,
# each trace analysed with the one capture; (2) the default variant's mixer profiled eagerly and under
# torch.compile (bamba-9b, 1 x 512, one layer), each run analysed for contractions computed elementwise.
# On an H200 it then runs benchmarks/session43_device.sh's bench (mixers and cores beside mamba_ssm).
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; ncu --version | tail -1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
mkdir -p "$OUT/two"
python3 benchmarks/ncu_two_processes.py trace "$OUT/two/two" 2>&1 | tail -2
timeout 200 ncu --target-processes all --clock-control none --nvtx --nvtx-include "measure/" --section SpeedOfLight \
  --section LaunchStats --section Occupancy --metrics dram__bytes_read.sum,dram__bytes_write.sum \
  --csv --page raw python3 benchmarks/ncu_two_processes.py ncu > "$OUT/two/two-ncu-raw.csv" 2>/tmp/ncu2.log
echo "ncu rc=$? at ${SECONDS}s"; tail -2 /tmp/ncu2.log; grep -c '^"[0-9]' "$OUT/two/two-ncu-raw.csv"
for r in 0 1; do
  python3 -m bambaprof analyze "$OUT/two/two-rank$r.json.gz" --ncu "$OUT/two/two-ncu-raw.csv" --format json \
    -o "$OUT/two/analysis-rank$r.json" 2>&1 | tail -1
  python3 - "$OUT/two/analysis-rank$r.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
print(sys.argv[1].split("/")[-1], [n for n in a["notes"] if "Nsight" in n])
for r in a["ncu"] or []:
    print("  ", r["ncu_id"], r["matched"], r.get("same_launch"), r["name"][:70], r.get("gbps_ratio"))
PY
done
gzip -9 "$OUT/two/two-ncu-raw.csv"
for c in none default; do
  timeout 240 python3 -m bambaprof profile --preset bamba-9b --layers 1 --no-attention --dtype bf16 --workload mixer \
    --seq-len 512 --warmup 2 --iters 5 --device cuda --variant default --compile $c --runs "$OUT/runs-$c" \
    --format json -o "$OUT/summary-$c.json" > /dev/null 2>"$OUT/profile-$c.err" || tail -3 "$OUT/profile-$c.err"
  for d in "$OUT"/runs-$c/*/; do
    python3 -m bambaprof analyze "$d" --table contractions 2>&1 | head -8
    python3 -m bambaprof analyze "$d" --table findings 2>&1 | cut -c1-400 | grep -v '^ *try' | head -4
    python3 -m bambaprof analyze "$d" --table kernels --top 8 2>&1 | cut -c1-120 | head -12
  done
done
case "$name" in
  *H200*) SHAPE_S=70 bench_mixers 1x2048 1x512 8x2048 1x8192 8x8192; BENCH_S=${BENCH_S:-150} bench_ssd_cores ;;
esac
echo "done at ${SECONDS}s"
