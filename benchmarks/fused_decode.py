"""Cached decoding with the ``triton`` mixer's fused kernels (conv step, gated RMSNorm) against the same model
with torch's conv and norm, side by side in one process on a GPU, eager.

bamba-9b, 4 layers, no attention, bf16, batch 1: a 2048-token prefill, then 16 decode steps, each timed with a
device synchronisation around it; rounds alternate the two sides. Reports the median ms per token per side, and
the GPU kernel time per token from the profiler's trace read by ``bambaprof analyze``.

    python benchmarks/fused_decode.py OUT.json
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
import tempfile
import time

import torch
import triton
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, ".")
from bambaprof import analyze  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402

PREFILL, TOKENS, ROUNDS = 2048, 16, 3


def decode_ms(model, ids) -> list:
    cache = model.new_cache()
    with torch.no_grad():
        logits = model(ids, cache=cache, last_logits_only=True)[:, -1]
        nxt = logits.argmax(-1, keepdim=True)
        times = []
        for _ in range(TOKENS):
            torch.cuda.synchronize()
            t = time.perf_counter()
            logits = model(nxt, cache=cache, last_logits_only=True)[:, -1]
            nxt = logits.argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t) * 1e3)
    return times


def kernel_us_per_token(model, ids) -> float:
    cache = model.new_cache()
    with torch.no_grad():
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(TOKENS):
                nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
    path = tempfile.mkdtemp() + "/trace.json"
    prof.export_chrome_trace(path)
    return analyze(path).summary["kernel_us"] / TOKENS


def main(out: str) -> int:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    mixers = [m for m in model.modules() if type(m).__name__ == "Mamba2Mixer"]
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda", generator=None)
    per = {"fused": [], "unfused": []}
    for _ in range(ROUNDS):
        for side in ("unfused", "fused"):
            for m in mixers:
                m.fused = side == "fused"
            per[side] += decode_ms(model, ids)[2:]  # the first steps warm the allocator
    kernels = {}
    for side in ("unfused", "fused"):
        for m in mixers:
            m.fused = side == "fused"
        kernels[side] = kernel_us_per_token(model, ids)
    result = {
        "what": "cached decoding, triton variant, fused conv step + gated RMSNorm vs torch conv and norm, eager; "
                f"bamba-9b 4 layers no attention bf16 batch 1, {PREFILL}-token prefill, {TOKENS} tokens x {ROUNDS} "
                "rounds (first 2 of each dropped); ms per token (wall, synchronised) and kernel us per token",
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
        "date": datetime.date.today().isoformat(),
        "unfused_ms_per_token": statistics.median(per["unfused"]), "fused_ms_per_token": statistics.median(per["fused"]),
        "unfused_kernel_us_per_token": kernels["unfused"], "fused_kernel_us_per_token": kernels["fused"],
        "samples": per,
    }
    result["wall_ratio"] = result["fused_ms_per_token"] / result["unfused_ms_per_token"]
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
