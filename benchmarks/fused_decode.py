"""Cached decoding of the ``triton`` variant: the one-launch decode step (conv + SiLU + SSM step, caches in
place), with and without the decoder's RMSNorm in one launch, against the variant's step after torch's conv,
and against the study's torch conv and norm; eager and under ``reduce-overhead`` (CUDA graphs, where inductor
fuses the norms itself), side by side in one process on a GPU.

bamba-9b, 4 layers, no attention, bf16, batch 1: a 2048-token prefill, then 16 decode steps, each timed with a
device synchronisation around it; rounds alternate the sides. Under CUDA graphs the model goes through the
same wrapper as the ``generate`` workload (cache tensors a step replaced are copied out of the graph pool;
tensors updated in place are not). Reports per side and mode the median ms per token, the GPU kernel time
per token (the profiler's trace read by ``bambaprof analyze``) and the cache bytes copied per decode step.

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
from bambaprof.collect.workloads import _CompiledModel  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.cache import ModelCache  # noqa: E402

PREFILL, TOKENS, ROUNDS = 2048, 16, 3
SIDES = {  # (the mixer's fused conv and gated norm, its one-launch decode, the decoder's RMSNorm in one launch)
    "torch conv+norm": (False, False, False),
    "variant step": (True, False, False),
    "one launch": (True, True, False),
    "one launch + fused RMSNorm": (True, True, True),
}
COPIED = []


def _counting_copy(real):
    def copy(self, kept=None):
        COPIED.append(real(self, kept))
        return COPIED[-1]
    return copy


def set_side(model, side: str) -> None:
    mixer, decode, norm = SIDES[side]
    for m in model.modules():
        if type(m).__name__ == "Mamba2Mixer":
            m.fused, m.fused_decode = mixer, decode
        elif type(m).__name__ == "RMSNorm":
            m.fused = norm


def decode_ms(model, ids) -> tuple:
    cache = model.new_cache()
    with torch.no_grad():
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        COPIED.clear()
        times = []
        for _ in range(TOKENS):
            torch.cuda.synchronize()
            t = time.perf_counter()
            nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t) * 1e3)
    copied = statistics.median(COPIED) if COPIED else 0
    return times, copied


def decode_analysis(model, ids):
    """``bambaprof analyze`` of a profiler trace of TOKENS decode tokens after a prefill of ``ids``."""
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
    return analyze(path)


def kernel_us_per_token(model, ids) -> float:
    return decode_analysis(model, ids).summary["kernel_us"] / TOKENS


def measure(runner, model, ids, sides) -> dict:
    per = {s: [] for s in sides}
    copied = {}
    for side in sides:  # warm-up (and, under compile, recording)
        set_side(model, side)
        for _ in range(2):
            decode_ms(runner, ids)
    for _ in range(ROUNDS):
        for side in sides:
            set_side(model, side)
            times, copied[side] = decode_ms(runner, ids)
            per[side] += times[2:]  # the first steps warm the allocator
    out = {}
    for side in sides:
        set_side(model, side)
        out[side] = {"ms_per_token": statistics.median(per[side]), "kernel_us_per_token": kernel_us_per_token(runner, ids),
                     "cache_bytes_copied_per_step": copied[side], "samples_ms": per[side]}
        print(side, {k: v for k, v in out[side].items() if k != "samples_ms"}, flush=True)
    return out


def main(out: str) -> int:
    ModelCache.copy_tensors_ = _counting_copy(ModelCache.copy_tensors_)
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda")
    result = {
        "what": "cached decoding, triton variant: one-launch decode step vs the variant's step after torch's conv "
                "vs the study's torch conv and norm; eager and reduce-overhead (CUDA graphs, the generate "
                f"workload's cache handling); bamba-9b 4 layers no attention bf16 batch 1, {PREFILL}-token prefill, "
                f"{TOKENS} tokens x {ROUNDS} rounds (first 2 of each dropped); median ms per token (wall, "
                "synchronised), kernel us per token (profiler), cache bytes copied per decode step",
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
        "cuda": torch.version.cuda, "date": datetime.date.today().isoformat(),
    }
    result["eager"] = measure(model, model, ids, list(SIDES))
    compiled = _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)
    result["reduce-overhead"] = measure(compiled, model, ids, ["variant step", "one launch"])  # norms: inductor's
    for mode in ("eager", "reduce-overhead"):
        r = result[mode]
        r["one_launch_over_variant_step"] = r["one launch"]["ms_per_token"] / r["variant step"]["ms_per_token"]
    r = result["eager"]
    r["fused_rmsnorm_over_variant_step"] = (r["one launch + fused RMSNorm"]["ms_per_token"]
                                            / r["variant step"]["ms_per_token"])
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
