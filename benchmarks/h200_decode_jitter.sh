#!/usr/bin/env bash
# One device call (about 3 minutes): what the host is doing while eager decode tokens move
# (benchmarks/decode_host_jitter.py: blocks of tokens free, pinned to one CPU and with the garbage collector off,
# a pure-Python probe of the host's speed before each), with the host's CPUs and load, then the generate
# workload eagerly twice (16 tokens after 2048) as the README's figures are taken.
set -uo pipefail
source benchmarks/device_env.sh
SECONDS=0
lscpu | grep -E "Model name|^CPU\(s\)|Thread|MHz|NUMA node\(s\)" ; uptime
timeout 240 python3 benchmarks/decode_host_jitter.py "$OUT/decode-host-jitter.json" 2>&1 | grep -v -i warn
echo "jitter done at ${SECONDS}s"; uptime
for run in a b; do generate_run "$run" 16 none; done
rm -rf "$OUT/runs"; echo "all done at ${SECONDS}s"
