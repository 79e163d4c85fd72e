#!/usr/bin/env bash
# Real Nsight Systems inputs for two readers (one device call, a few minutes):
# 1. a two-rank job (benchmarks/nsys_job.py: torchrun, gloo, both ranks on GPU 0, rank 1 the straggler) under
#    the PyTorch profiler ($OUT/job-kineto/, one trace per rank) and under one `nsys profile` ($OUT/job.sqlite.gz,
#    both processes in one export): `analyze` of each, side by side, should give the same kernels per rank;
# 2. GPU metrics (`--gpu-metrics-devices=0`) over long kernels of known traffic
#    (benchmarks/nsys_metrics_workload.py): the schema of GPU_METRICS and TARGET_INFO_GPU_METRICS, their metric
#    names, and a trimmed export ($OUT/gpu-metrics.sqlite.gz) to build and check a reader on;
# and between them, benchmarks/nsys_workload.py under emit_nvtx and nsys ($OUT/workload-emit-nvtx.sqlite.gz):
# the operators bambaprof reads from its NVTX ranges against the PyTorch profiler's ($OUT/workload.kineto.json.gz);
# 4. with_stack traces: a training step (benchmarks/modules_train.py, $OUT/train-modules.json.gz: modules against
#    its block.<i> phases, backward work on autograd's thread) and a profiled 4-layer generate.
set -uo pipefail
source benchmarks/device_env.sh
use_nsys
run2() { timeout 200 python3 -m torch.distributed.run --nproc-per-node 2 --master-port "$1" benchmarks/nsys_job.py "${@:2}"; }

echo "== 1. two ranks, Kineto then nsys"
run2 29611 kineto "$OUT/job-kineto" 2>&1 | grep -v USDT | tail -2
timeout 300 "$NSYS" profile -t cuda,nvtx -s none --cpuctxsw=none -o /tmp/job -f true \
  python3 -m torch.distributed.run --nproc-per-node 2 --master-port 29612 benchmarks/nsys_job.py 2>&1 \
  | grep -v -e Processing -e USDT | tail -3
"$NSYS" export -t sqlite -o "$OUT/job.sqlite" /tmp/job.nsys-rep 2>&1 | grep -v Processing | tail -1
gzip -9 "$OUT/job.sqlite"
python3 -m bambaprof analyze "$OUT/job.sqlite.gz" 2>&1 | head -30
python3 -m bambaprof analyze "$OUT/job-kineto" 2>&1 | head -30
python3 -m bambaprof analyze "$OUT/job.sqlite.gz" --format json > "$OUT/job-nsys-analysis.json"
python3 -m bambaprof analyze "$OUT/job-kineto" --format json > "$OUT/job-kineto-analysis.json"

echo "== 2. emit_nvtx: PyTorch operators as NVTX ranges, against the PyTorch profiler's launches"
python3 benchmarks/nsys_workload.py kineto "$OUT/workload.kineto.json" && gzip -9 "$OUT/workload.kineto.json"
timeout 300 "$NSYS" profile -t cuda,nvtx --cuda-graph-trace=node --capture-range=cudaProfilerApi \
  --capture-range-end=stop -s none --cpuctxsw=none -o /tmp/ops -f true python3 benchmarks/nsys_workload.py emit_nvtx \
  2>&1 | grep -v Processing | tail -2
"$NSYS" export -t sqlite -o "$OUT/workload-emit-nvtx.sqlite" /tmp/ops.nsys-rep 2>&1 | grep -v Processing | tail -1
python3 - "$OUT/workload-emit-nvtx.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute("SELECT text, start, end, eventType FROM NVTX_EVENTS ORDER BY start LIMIT 40"):
    print(row)
PY
gzip -9 "$OUT/workload-emit-nvtx.sqlite"
python3 -m bambaprof analyze "$OUT/workload-emit-nvtx.sqlite.gz" --top 12 2>&1 | head -60
python3 -m bambaprof analyze "$OUT/workload.kineto.json.gz" --top 12 --table kernels 2>&1 | head -20
python3 -m bambaprof compare "$OUT/workload.kineto.json.gz" "$OUT/workload-emit-nvtx.sqlite.gz" 2>&1 | head -30

echo "== 3. GPU metrics"
timeout 300 "$NSYS" profile -t cuda,nvtx --gpu-metrics-devices=0 --gpu-metrics-frequency=20000 \
  --capture-range=cudaProfilerApi --capture-range-end=stop -s none --cpuctxsw=none -o /tmp/gm -f true \
  python3 benchmarks/nsys_metrics_workload.py 2>&1 | grep -v Processing | tail -3
"$NSYS" export -t sqlite -o /tmp/gm.sqlite /tmp/gm.nsys-rep 2>&1 | grep -v Processing | tail -1
python3 - /tmp/gm.sqlite "$OUT/gpu-metrics.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
print("tables with METRIC:", [t for t in tables if "METRIC" in t.upper()])
for t in ("GPU_METRICS", "TARGET_INFO_GPU_METRICS"):
    if t in tables:
        print(db.execute("SELECT sql FROM sqlite_master WHERE name=?", (t,)).fetchone()[0])
        print(t, "rows", db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
if "TARGET_INFO_GPU_METRICS" in tables:
    for row in db.execute("SELECT * FROM TARGET_INFO_GPU_METRICS"):
        print(row)
if "GPU_METRICS" in tables:
    for row in db.execute("SELECT * FROM GPU_METRICS ORDER BY timestamp LIMIT 60"):
        print(row)
    print(db.execute("SELECT MIN(timestamp), MAX(timestamp) FROM GPU_METRICS").fetchone())
for row in db.execute("SELECT start, end, deviceId, (SELECT value FROM StringIds WHERE id = shortName) "
                      "FROM CUPTI_ACTIVITY_KIND_KERNEL ORDER BY start"):
    print("kernel", row)
print(db.execute("SELECT id, cuDevice, memoryBandwidth FROM TARGET_INFO_GPU").fetchall())
keep = {"StringIds", "GPU_METRICS", "TARGET_INFO_GPU_METRICS", "TARGET_INFO_GPU", "CUPTI_ACTIVITY_KIND_KERNEL",
        "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_RUNTIME", "ENUM_CUDA_MEMCPY_OPER", "ENUM_CUDA_MEM_KIND"}
db.execute(f"ATTACH DATABASE '{sys.argv[2]}' AS out")
for t in tables:
    if t in keep:
        db.execute(f"CREATE TABLE out.[{t}] AS SELECT * FROM main.[{t}]")
db.commit()
PY
gzip -9 "$OUT/gpu-metrics.sqlite"
python3 -m bambaprof analyze "$OUT/gpu-metrics.sqlite.gz" 2>&1 | head -20

echo "== 4. nn.Module calls (with_stack): a training step (backward on autograd's thread), a profiled generate"
python3 benchmarks/modules_train.py "$OUT/train-modules.json" 2>&1 | grep -v USDT | tail -2
gzip -9 "$OUT/train-modules.json"
python3 -m bambaprof analyze "$OUT/train-modules.json.gz" --table modules 2>&1 | head -40
python3 -m bambaprof analyze "$OUT/train-modules.json.gz" --table phases 2>&1 | head -20
timeout 300 "$NSYS" profile -t cuda,nvtx --capture-range=cudaProfilerApi --capture-range-end=stop -s none \
  --cpuctxsw=none -o /tmp/train -f true python3 benchmarks/modules_train.py --emit-nvtx 2>&1 | grep -v Processing | tail -2
"$NSYS" export -t sqlite -o "$OUT/train-emit-nvtx.sqlite" /tmp/train.nsys-rep 2>&1 | grep -v Processing | tail -1
python3 - "$OUT/train-emit-nvtx.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute("SELECT DISTINCT COALESCE(text, (SELECT value FROM StringIds WHERE id = textId)) AS t "
                      "FROM NVTX_EVENTS WHERE t LIKE '%Backward%' LIMIT 12"):
    print("backward range:", row[0])
PY
gzip -9 "$OUT/train-emit-nvtx.sqlite"
python3 -m bambaprof analyze "$OUT/train-emit-nvtx.sqlite.gz" --table phases 2>&1 | head -20
python3 -m bambaprof profile --preset bamba-9b --layers 4 --variant triton --workload generate --with-stack \
  --runs /tmp/modruns 2>&1 | tail -3
for run in /tmp/modruns/*/; do
  python3 -m bambaprof analyze "$run" --table modules --top 30 2>&1 | head -40
  python3 -m bambaprof analyze "$run" --format json > "$OUT/generate-with-stack-analysis.json"
done
ls -la "$OUT" "$OUT/job-kineto"
