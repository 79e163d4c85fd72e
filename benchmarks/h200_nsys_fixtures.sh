#!/usr/bin/env bash
# The Nsight Systems fixtures (one device call, about a minute): benchmarks/nsys_workload.py under the PyTorch
# profiler ($OUT/workload.kineto.json.gz) and under `nsys profile --capture-range=cudaProfilerApi`, exported to
# SQLite: with CUDA graphs traced node by node ($OUT/workload.sqlite.gz) and whole, nsys's default
# ($OUT/workload-graphs.sqlite.gz). The nsys that ships inside Nsight Compute needs libdw (elfutils) to import
# its capture: carry it under .peers/libs (NSYS and NSYS_HOST point at the CLI and its importer's folder).
set -uo pipefail
source benchmarks/device_env.sh
use_nsys
python3 benchmarks/nsys_workload.py kineto "$OUT/workload.kineto.json" && gzip -9 "$OUT/workload.kineto.json"
for graphs in node graph; do
  name=workload$([ $graphs = graph ] && echo -graphs)
  timeout 300 "$NSYS" profile -t cuda,nvtx --cuda-graph-trace=$graphs --capture-range=cudaProfilerApi \
    --capture-range-end=stop -s none --cpuctxsw=none -o /tmp/$name -f true python3 benchmarks/nsys_workload.py \
    2>&1 | grep -v Processing | tail -2
  "$NSYS" export -t sqlite -o "$OUT/$name.sqlite" /tmp/$name.nsys-rep 2>&1 | grep -v Processing | tail -1
  gzip -9 "$OUT/$name.sqlite"
  python3 -m bambaprof compare "$OUT/workload.kineto.json.gz" "$OUT/$name.sqlite.gz" 2>&1 | head -22
done
ls -la "$OUT"
