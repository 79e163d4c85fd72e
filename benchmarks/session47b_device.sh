#!/bin/bash
# Second device call (forty-seventh session), any card: the NVML GPU test (the PCIe link it now reads), and the
# same-stream copy loop of benchmarks/transfer_traces.py recorded as a run directory by bambaprof.record (its manifest
# holding the device's PCIe link), analysed: exposed-transfers then rates the copies against that link; and
# benchmarks/gemm_alignment.py (bf16 GEMMs with a dim not a multiple of 8 beside the same padded).
source benchmarks/device_env.sh
nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv,noheader
TEST_LOG=nvml-tests TEST_S=90 gpu_tests 90 4 tests/collect/test_nvml.py
timeout 150 python3 benchmarks/transfer_traces.py "$OUT/runs" run
run=$(ls -d "$OUT"/runs/*/ | head -1)
python3 - "$run" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "bambaprof/manifest.json"))
print("nvml:", {k: v for k, v in (m["device"].get("nvml") or {}).items() if k.startswith("pcie") or k == "name"})
PY
python3 -m bambaprof analyze "$run" --table transfers
python3 -m bambaprof analyze "$run" --table findings 2>&1 | cut -c1-600 | head -12
timeout 90 python3 benchmarks/gemm_alignment.py | tee "$OUT/gemm-alignment.jsonl"
tar czf "$OUT/files.tgz" -C "$OUT" --exclude files.tgz . 2>/dev/null
echo "done at ${SECONDS}s"
