#!/usr/bin/env bash
# One device call (about 8 minutes): every gpu-marked test and the CUDA runs of the mixer-kernel, model and
# launch tests; the generate workload eagerly (16 new tokens twice, then 64: a 2048-token prefill gives the host
# a head start that 16 tokens may not use up); the reduce-overhead part of decode_token_forms.py with its
# committed side compiled first.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
timeout ${TEST_S:-330} python3 -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 \
  | tee "$OUT/gpu-tests.log" | grep -E "passed|failed|FAILED|Error|SKIPPED" | tail -12
timeout ${TEST_S:-330} python3 -m pytest -q -rs -p no:cacheprovider tests/ssm/test_mixer_kernels.py tests/model \
  tests/ssm/test_launch.py 2>&1 | tee "$OUT/cuda-tests.log" | grep -E "passed|failed|FAILED|Error" | tail -6
echo "tests done at ${SECONDS}s"
for run in 16-a 16-b 64-a; do
  dir="$OUT/runs/$run"
  timeout 100 python3 -m bambaprof profile --preset bamba-9b --layers 4 --no-attention --dtype bf16 \
    --workload generate --seq-len 2048 --new-tokens ${run%-*} --warmup 2 --iters 10 --profile-warmup 1 \
    --profile-active 1 --device cuda --runs "$dir" --variant triton --compile none --format json \
    -o "$OUT/summary-generate-$run.json" > /dev/null 2>"$OUT/profile-$run.err" || tail -3 "$OUT/profile-$run.err"
  python3 - "$dir" "$run" <<'PY'
import glob, json, sys
for m in glob.glob(sys.argv[1] + "/*/bambaprof/manifest.json"):
    t = json.load(open(m))["timings"]["inter_token_ms"]
    print(sys.argv[2], "inter-token ms median %.3f p10 %.3f p90 %.3f n %d" % (t["median"], t["p10"], t["p90"], t["n"]))
PY
done
find "$OUT/runs" -name manifest.json | tar czf "$OUT/manifests.tgz" -T - && rm -rf "$OUT/runs"
echo "generate done at ${SECONDS}s"
GRAPHS_ONLY=1 GRAPH_ORDER=reverse timeout ${GRAPHS_S:-150} python3 benchmarks/decode_token_forms.py \
  "$OUT/decode-token-forms-graphs-reversed.json" 2>&1 | grep -v -i warn
