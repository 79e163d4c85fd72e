#!/bin/bash
# A fifth device call (forty-ninth session), any card: cached generation against its floor (decode-floor): the
# Bamba-9B shapes of issue #17 (4 layers, no attention, bf16, the triton variant, a 512-token prompt, 16 tokens)
# eagerly, and the tiny preset, each run directory analysed.
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # run LABEL LIMIT_S ARGS...: one profile run into $OUT/runs/LABEL, then its decode figures and findings
  local label=$1 limit=$2; shift 2
  timeout "$limit" python3 -m bambaprof profile --workload generate --variant triton --device cuda --new-tokens 16 \
    --warmup 2 --iters 5 --profile-warmup 1 --profile-active 1 --runs "$OUT/runs/$label" "$@" > /dev/null 2>"$OUT/$label.err" \
    || tail -2 "$OUT/$label.err"
  python3 - "$OUT"/runs/$label/*/ <<'PY'
import sys
from bambaprof.analysis import analyze
for d in sys.argv[1:]:
    a = analyze(d); s = a.summary
    print(d.rsplit("/", 2)[-2], {k: s[k] for k in s if k.startswith("decode")})
    print("  ", [(f["id"], f["severity"]) for f in a.findings][:6])
    print("  ", next((f["message"] + " || " + f["suggestion"] for f in a.findings if f["id"] == "decode-floor"), "no decode-floor"))
PY
  echo "$label done at ${SECONDS}s"
}
run bamba-eager 110 --preset bamba-9b --layers 4 --no-attention --dtype bf16 --seq-len 512
run tiny 50 --preset tiny --seq-len 16

tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
