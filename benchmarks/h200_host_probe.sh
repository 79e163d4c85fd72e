#!/usr/bin/env bash
# One device call (about 6 minutes): every gpu-marked test, then the generate workload eagerly twice (16 tokens
# after 2048) with the host probe in their manifests, the two runs compared (compare's host-speed warnings) and
# each analysed (diagnose's findings). Results under $OUT: gpu-tests.log, manifests.tgz, compare.txt, log.txt.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
timeout ${TEST_S:-330} python3 -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 \
  | tee "$OUT/gpu-tests.log" | grep -E "passed|failed|FAILED|Error|SKIPPED" | tail -12
echo "tests done at ${SECONDS}s"
for run in a b; do generate_run "$run" 16 none; done
python3 - "$OUT/runs" <<'PY'
import glob, json, sys
for m in sorted(glob.glob(sys.argv[1] + "/*/*/bambaprof/manifest.json")):
    print(m.split("/")[-4], "host", json.load(open(m)).get("host"))
PY
python3 -m bambaprof compare "$OUT"/runs/a/*/ "$OUT"/runs/b/*/ --format table > "$OUT/compare.txt" 2>&1
grep -E "warning|latency" "$OUT/compare.txt" | head -8
for run in a b; do
  python3 -m bambaprof analyze "$OUT"/runs/$run/*/ --format json 2>/dev/null | python3 -c "
import json, sys; d = json.load(sys.stdin); print('$run findings', [f['id'] for f in d.get('findings', [])])"
done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
echo "all done at ${SECONDS}s"
