#!/bin/bash
# One device call (forty-seventh session), any card: (1) real traces of a GPU-bound training loop that reads its loss
# on the host every step, and of the same loop with the reads deferred (benchmarks/sync_traces.py), each analysed
# (--table syncs, --table idle, the findings); real traces of a loop that copies each batch to the GPU on the
# stream that computes, and on a side stream (benchmarks/transfer_traces.py); (2) the compiled function of benchmarks/compilation_trace.py on the GPU
# (a compile and a recompile inside the profiled steps), analysed; (3) on an H200 with MIXER=1, issue #17's mixer
# bench at the five Bamba-9B shapes (session43_device.sh's), and with CORES=1 the cores beside mamba_ssm.
source benchmarks/device_env.sh
name=$(nvidia-smi --query-gpu=name --format=csv,noheader)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
show() {
  local t=$1
  echo "== $(basename "$t")"
  for table in syncs idle findings; do
    python3 -m bambaprof analyze "$t" --table $table 2>&1 | cut -c1-400 | head -14
  done
  python3 -m bambaprof analyze "$t" --format json -o "$t.analysis.json" 2>&1 | tail -1
  python3 - "$t.analysis.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print({k: s.get(k) for k in s if k.startswith(("sync", "idle", "compil", "gpu_")) or k in ("profiled_steps", "span_us")})
PY
}
if [ -z "${SKIP_FIXTURES:-}" ]; then
  timeout 150 python3 benchmarks/sync_traces.py "$OUT/syncs"
  for t in "$OUT"/syncs/*.json.gz; do show "$t"; done
  python3 -m bambaprof compare "$OUT/syncs/item-each-step.json.gz" "$OUT/syncs/item-deferred.json.gz" 2>&1 | head -30
  timeout 120 python3 benchmarks/transfer_traces.py "$OUT/transfers"
  for t in "$OUT"/transfers/*.json.gz; do show "$t"; done
  timeout 150 python3 benchmarks/compilation_trace.py "$OUT/gpu-compile-in-trace.json.gz" cuda && show "$OUT/gpu-compile-in-trace.json.gz"
  echo "fixtures done at ${SECONDS}s"
fi
case "$name" in
  *H200*)
    [ -n "${CORES:-}" ] && BENCH_S=${BENCH_S:-150} bench_ssd_cores
    [ -n "${MIXER:-}" ] && SHAPE_S=70 bench_mixers ${MIXER_SHAPES:-1x2048 1x512 8x2048 1x8192 8x8192} ;;
esac
tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
