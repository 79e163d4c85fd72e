"""The decode GEMVs with the norm or the activation in their launch (``bambaprof/ssm/kernels/gemv.py``) on the
GPU: their launch configurations tried at Bamba-9B's shapes, each against the ops it replaces, then the eager
decode token with them against the ops apart, side by side in one process.

1. Kernels (batch 1, bf16): ``in_proj`` (16768 x 4096) after the residual add and RMSNorm, the MLP's stacked
   gate and up projection (28672 x 4096) after them, ``down_proj`` (4096 x 14336) after the activation.
   Each one-row configuration's kernel time (``triton.testing.do_bench``, median, us) beside the separate ops'
   (``add_rmsnorm`` then ``F.linear``; ``F.silu``, the product, ``F.linear``) and ``F.linear`` alone; the
   best configuration of each shape is used for part 2 (``CONFIGS``) and recorded.
2. The token (bamba-9b, 4 layers, no attention, bf16, batch 1, 2048-token prefill): per round and side, 16
   synchronised tokens and the host time of 16 tokens issued back to back, rounds alternating the order;
   the GPU kernel time a token (profiler); teacher-forced logits of both sides over the same 12 tokens.

    [SWEEP=0] python benchmarks/decode_gemv.py OUT.json
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys

import torch
import triton
from torch.nn import functional as F

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from decode_norm_in_step import forced_logits, greedy, issue_us  # noqa: E402
from fused_decode import decode_ms, kernel_us_per_token  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.host_speed import probe_us  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.decoder import DecoderLayer  # noqa: E402
from bambaprof.model.mlp import GatedMLP  # noqa: E402
from bambaprof.ssm.kernels import gemv  # noqa: E402
from bambaprof.ssm.kernels.mixer import add_rmsnorm  # noqa: E402

HIDDEN, INTER, PROJ = 4096, 14336, 16768
PREFILL, ROUNDS = 2048, 7
#: SWEEP=0: time only the committed configurations (CONFIGS_ONE_ROW), no sweep
SWEEP = os.environ.get("SWEEP", "1") != "0"
SIDES = ("ops apart", "fused into the GEMVs")
#: one-row configurations (CUDA-core products): the (BLOCK_N, BLOCK_K) float32 tile at most 128 values a thread
CANDIDATES = [gemv.GemvConfig(bn, bk, st, w) for bn, bk, st, w in
              itertools.product((4, 8, 16, 32), (256, 512, 1024), (1, 3), (4, 8)) if bn * bk <= 128 * 32 * w]


def bench_us(fn) -> float:
    return 1e3 * triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def kernels() -> dict:
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(1, 1, HIDDEN, device=dev, dtype=dt, generator=g)
    d = torch.randn(1, 1, HIDDEN, device=dev, dtype=dt, generator=g)
    nw = torch.ones(HIDDEN, device=dev, dtype=dt)
    w_in = torch.randn(PROJ, HIDDEN, device=dev, dtype=dt, generator=g) / 64
    w_gu = torch.randn(2 * INTER, HIDDEN, device=dev, dtype=dt, generator=g) / 64
    w_down = torch.randn(HIDDEN, INTER, device=dev, dtype=dt, generator=g) / 120
    gu = torch.randn(1, 1, 2 * INTER, device=dev, dtype=dt, generator=g)
    shapes = {
        "in_proj": ((PROJ, HIDDEN), lambda: gemv.rmsnorm_linear(x, d, nw, 1e-5, w_in),
                    lambda: F.linear(add_rmsnorm(x, d, nw, 1e-5)[0], w_in), lambda: F.linear(x, w_in), PROJ * HIDDEN),
        "gate_up_proj": ((2 * INTER, HIDDEN), lambda: gemv.rmsnorm_linear(x, d, nw, 1e-5, w_gu),
                         lambda: F.linear(add_rmsnorm(x, d, nw, 1e-5)[0], w_gu), lambda: F.linear(x, w_gu),
                         2 * INTER * HIDDEN),
        "down_proj": ((HIDDEN, INTER), lambda: gemv.silu_mul_linear(gu, w_down),
                      lambda: F.linear(F.silu(gu[..., :INTER]) * gu[..., INTER:], w_down),
                      lambda: F.linear(gu[..., :INTER], w_down), HIDDEN * INTER),
    }
    out = {}
    for name, (key, fused, apart, linear, elems) in shapes.items():
        tried = {}
        for cfg in CANDIDATES if SWEEP else [gemv.CONFIGS_ONE_ROW.get(key, gemv.DEFAULT_ONE_ROW)]:
            gemv.CONFIGS_ONE_ROW[key] = cfg
            try:
                tried[",".join(map(str, cfg))] = bench_us(fused)
            except Exception as e:  # noqa: BLE001 - a configuration that does not compile or fit: recorded
                tried[",".join(map(str, cfg))] = f"failed: {type(e).__name__}: {str(e)[:120]}"
        timed = {k: v for k, v in tried.items() if isinstance(v, float)}
        best = min(timed, key=timed.get)
        gemv.CONFIGS_ONE_ROW[key] = gemv.GemvConfig(*map(int, best.split(",")))
        row = {"shape_NxK": list(key), "best_config": best, "best_us": timed[best], "ops_apart_us": bench_us(apart),
               "linear_alone_us": bench_us(linear), "configs_us": tried}
        row["best_weight_gbps"] = elems * 2 / row["best_us"] / 1e3
        row["linear_weight_gbps"] = elems * 2 / row["linear_alone_us"] / 1e3
        print(name, {k: v for k, v in row.items() if k != "configs_us"}, flush=True)
        out[name] = row
    return out


def set_side(model, side: str) -> None:
    fused = side == SIDES[1]
    DecoderLayer.fuse_norm_gemvs = fused
    for m in model.modules():
        if type(m) is GatedMLP:
            m.fused = fused


def tokens() -> dict:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda",
                        generator=torch.Generator(device="cuda").manual_seed(0))
    synced, issued = {n: [] for n in SIDES}, {n: [] for n in SIDES}
    set_side(model, SIDES[0])
    forced_tokens = greedy(model, ids, 12)
    logits = {}
    for n in SIDES:
        set_side(model, n)
        logits[n] = forced_logits(model, ids, forced_tokens)
        decode_ms(model, ids)
    probe_before = probe_us()
    for r in range(ROUNDS):
        for n in SIDES if r % 2 == 0 else SIDES[::-1]:
            set_side(model, n)
            synced[n] += decode_ms(model, ids)[0][2:]
            issued[n].append(issue_us(model, ids))
    probe_after = probe_us()
    result = {"shape": f"bamba-9b, 4 layers, no attention, bf16, batch 1, {PREFILL}-token prefill, 16 tokens a round "
                       f"and side, {ROUNDS} rounds (order alternating)",
              "host_probe_us": {"before": probe_before, "after": probe_after}, "sides": {},
              "teacher_forced": [{"max_abs_logit_diff": float((a - b).abs().max()),
                                  "top2_margin_ops_apart": float(torch.topk(a, 2).values.diff().abs()),
                                  "argmax_equal": bool(int(a.argmax()) == int(b.argmax()))}
                                 for a, b in zip(logits[SIDES[0]], logits[SIDES[1]])]}
    for n in SIDES:
        set_side(model, n)
        result["sides"][n] = {"synchronised_ms_per_token": statistics.median(synced[n]),
                              "issued_host_us_per_token": statistics.median(issued[n]),
                              "kernel_us_per_token": kernel_us_per_token(model, ids),
                              "issued_host_us_rounds": issued[n], "synchronised_ms_samples": synced[n]}
        print(n, {k: v for k, v in result["sides"][n].items() if not k.endswith(("rounds", "samples"))}, flush=True)
    set_side(model, SIDES[1])
    a, b = (result["sides"][n] for n in SIDES)
    result["ratios_fused_over_apart"] = {k: b[k] / a[k] for k in ("synchronised_ms_per_token",
                                                                    "issued_host_us_per_token", "kernel_us_per_token")}
    print("ratios", result["ratios_fused_over_apart"], "probe", result["host_probe_us"])
    print("teacher forced", [(round(r["max_abs_logit_diff"], 4), r["argmax_equal"]) for r in result["teacher_forced"]])
    return result


def main(out_path: str) -> int:
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"), "kernels": kernels()}
    result["configs_used"] = {f"{k[0]}x{k[1]}": list(v) for k, v in gemv.CONFIGS_ONE_ROW.items()}
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    result["token"] = tokens()
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
