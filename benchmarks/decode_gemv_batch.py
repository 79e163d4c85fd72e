"""The decode GEMVs' padded-rows form (2 to 16 rows on the tensor cores, ``bambaprof/ssm/kernels/gemv.py``)
weighed at batches 2 to 16: its kernels against the ops apart, and the eager decode token with it against
the ops apart, side by side in one process on a GPU.

1. Kernels (bf16, Bamba-9B): ``in_proj`` (16768 x 4096) and the stacked gate/up projection (28672 x 4096),
   each after the residual add and RMSNorm, at each batch: ``rmsnorm_linear`` against ``add_rmsnorm`` then
   ``F.linear`` (``triton.testing.do_bench`` medians, us).
2. The token (bamba-9b, 4 layers, no attention, bf16, a 512-token prefill) at each batch: per round and
   side, 16 synchronised tokens and the host time of 16 tokens issued back to back, rounds alternating the
   order; the GPU kernel time a token (profiler); teacher-forced logits of both sides over the same 8
   tokens (largest difference, share of rows whose argmax agrees). At batch 2 and more the MLP's
   activation stays apart on both sides (``ACTIVATION_MAX_ROWS``), so the sides differ by the norms only.

    python benchmarks/decode_gemv_batch.py OUT.json
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Optional, Tuple

import torch
import triton
from torch.nn import functional as F

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from decode_norm_in_step import issue_us  # noqa: E402
from fused_decode import decode_ms, kernel_us_per_token  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.host_speed import probe_us  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.decoder import DecoderLayer  # noqa: E402
from bambaprof.ssm.kernels import gemv  # noqa: E402
from bambaprof.ssm.kernels.mixer import add_rmsnorm  # noqa: E402

HIDDEN, INTER, PROJ = 4096, 14336, 16768
BATCHES, PREFILL, ROUNDS, FORCED = (2, 4, 8, 16), 512, 5, 8
SIDES = ("ops apart", "fused into the GEMVs")


def bench_us(fn) -> float:
    return 1e3 * triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def kernels() -> dict:
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    nw = torch.ones(HIDDEN, device=dev, dtype=dt)
    weights = {"in_proj": torch.randn(PROJ, HIDDEN, device=dev, dtype=dt, generator=g) / 64,
               "gate_up_proj": torch.randn(2 * INTER, HIDDEN, device=dev, dtype=dt, generator=g) / 64}
    out = {}
    for b in BATCHES:
        x = torch.randn(b, 1, HIDDEN, device=dev, dtype=dt, generator=g)
        d = torch.randn(b, 1, HIDDEN, device=dev, dtype=dt, generator=g)
        for name, w in weights.items():
            fused = bench_us(lambda x=x, d=d, w=w: gemv.rmsnorm_linear(x, d, nw, 1e-5, w))
            apart = bench_us(lambda x=x, d=d, w=w: F.linear(add_rmsnorm(x, d, nw, 1e-5)[0], w))
            out[f"{name} batch {b}"] = {"fused_us": fused, "ops_apart_us": apart, "ratio": fused / apart}
            print(name, b, out[f"{name} batch {b}"], flush=True)
    return out


def forced(model, ids, steps: int, tokens: Optional[list] = None) -> Tuple[list, list]:
    """``(tokens, logits)`` of ``steps`` decode steps after the prefill of ``ids``: the float32 last-position
    logits ``(b, vocab)`` of each step, decoding ``tokens`` when given (teacher forcing), else the model's own
    greedy ones (returned, to force the other side along them)."""
    cache = model.new_cache()
    logits, chosen = [], []
    with torch.no_grad():
        out = model(ids, cache=cache, last_logits_only=True)[:, -1].float()
        for i in range(steps):
            logits.append(out)
            nxt = tokens[i] if tokens is not None else out.argmax(-1, keepdim=True)
            chosen.append(nxt)
            out = model(nxt, cache=cache, last_logits_only=True)[:, -1].float()
    return chosen, logits


def tokens(model, vocab: int, b: int) -> dict:
    ids = torch.randint(0, vocab, (b, PREFILL), device="cuda", generator=torch.Generator(device="cuda").manual_seed(b))
    DecoderLayer.fuse_norm_gemvs = False
    toks, apart = forced(model, ids, FORCED)
    DecoderLayer.fuse_norm_gemvs = True
    _, fused = forced(model, ids, FORCED, toks)
    synced, issued = {n: [] for n in SIDES}, {n: [] for n in SIDES}
    for n in SIDES:  # warm-up
        DecoderLayer.fuse_norm_gemvs = n == SIDES[1]
        decode_ms(model, ids)
    for r in range(ROUNDS):
        for n in SIDES if r % 2 == 0 else SIDES[::-1]:
            DecoderLayer.fuse_norm_gemvs = n == SIDES[1]
            synced[n] += decode_ms(model, ids)[0][2:]
            issued[n].append(issue_us(model, ids))
    result = {"teacher_forced": [{"max_abs_logit_diff": float((a - f).abs().max()),
                                  "argmax_agree": float((a.argmax(-1) == f.argmax(-1)).float().mean())}
                                 for a, f in zip(apart, fused)], "sides": {}}
    for n in SIDES:
        DecoderLayer.fuse_norm_gemvs = n == SIDES[1]
        result["sides"][n] = {"synchronised_ms_per_token": statistics.median(synced[n]),
                              "issued_host_us_per_token": statistics.median(issued[n]),
                              "kernel_us_per_token": kernel_us_per_token(model, ids)}
    a, f = (result["sides"][n] for n in SIDES)
    result["ratios_fused_over_apart"] = {k: f[k] / a[k] for k in a}
    print("batch", b, result["sides"], result["ratios_fused_over_apart"],
          [(round(r["max_abs_logit_diff"], 3), r["argmax_agree"]) for r in result["teacher_forced"]], flush=True)
    return result


def main(out_path: str) -> int:
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"), "kernels": kernels()}
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    probe_before = probe_us()
    result["token"] = {f"batch {b}": tokens(model, cfg.vocab_size, b) for b in BATCHES}
    result["host_probe_us"] = {"before": probe_before, "after": probe_us()}
    result["shape"] = (f"bamba-9b, 4 layers, no attention, bf16, {PREFILL}-token prefill, 16 tokens a round and side, "
                       f"{ROUNDS} rounds (order alternating), batches {BATCHES}")
    DecoderLayer.fuse_norm_gemvs = True
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
