#!/usr/bin/env bash
# On a two-GPU machine: the same sweep with two local workers (--devices 0,1) and with one
# (--devices 0), wall time of each, and from every run's manifest the GPU its NVML telemetry
# watched (UUID, index) with its utilisation and power. Writes $OUT/h200-sweep-two-gpus.json.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; T=/tmp/sweeps; rm -rf $T
SPEC=${SPEC:-examples/sweeps/h200-two-gpus.toml}
nvidia-smi -L 2>/dev/null
for name in two one; do
  opts=${SLOTS_OPTS:-"--devices 0,1|--devices 0"}
  [ "$name" = two ] && opt=${opts%%|*} || opt=${opts##*|}
  start=$(date +%s%N)
  timeout 200 python3 -m bambaprof sweep run $SPEC $opt --root $T/$name --no-report --timeout 150 2>/dev/null | tail -10
  rc=$?
  echo "$name workers rc=$rc wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))" | tee -a $T/walls.txt
done
python3 - "$T" "$OUT/h200-sweep-two-gpus.json" <<'PY'
import json, sys, glob, os, re
root, out = sys.argv[1], sys.argv[2]
walls = {k: int(v) / 1e3 for k, v in re.findall(r"(\w+) workers rc=\d+ wall_ms=(\d+)", open(os.path.join(root, "walls.txt")).read())}
from bambaprof._env import environment
doc = {"environment": environment("cuda" if os.environ.get("SLOTS_OPTS") is None else "cpu"),
       "spec": open(os.environ.get("SPEC", "examples/sweeps/h200-two-gpus.toml")).read(), "sweeps": {}}
for name in ("two", "one"):
    runs = []
    for m in sorted(glob.glob(f"{root}/{name}/runs/*/manifest.json")):
        d = json.load(open(m))
        nv = (d.get("device") or {}).get("nvml") or {}
        tel = ((d.get("telemetry") or {}).get("summary") or {}).get("nvml") or {}
        runs.append({"run_id": d["run_id"], "status": d["status"], "created": d["created"], "finished": d["finished"],
                     "gpu_uuid": nv.get("uuid"), "nvml_index": nv.get("nvml_index"),
                     "gpu_util_pct": tel.get("gpu_util_pct"), "power_w": tel.get("power_w"),
                     "latency_median_ms": ((d.get("timings") or {}).get("latency_ms") or {}).get("median")})
    index = json.load(open(f"{root}/{name}/index.json"))
    doc["sweeps"][name] = {"workers": 2 if name == "two" else 1, "wall_s": walls.get(name),
                           "runs": runs, "index_states": [e.get("state") for e in index["configs"]]}
    print(name, "wall", walls.get(name), "s;", [(r["run_id"][:40], r["nvml_index"], (r["gpu_uuid"] or "")[-8:], r["status"]) for r in runs])
json.dump(doc, open(out, "w"), indent=1)
PY
