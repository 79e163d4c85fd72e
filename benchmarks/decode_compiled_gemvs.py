"""A cached decode token under ``reduce-overhead`` (CUDA graphs) with the decode GEMVs' library ops against
compiled code that keeps torch's form, side by side in one process.

With the ops (``RMSNorm.fused_linear_compiled``, ``GatedMLP.fused_compiled``, the default), a compiled decode
token takes the residual add, the RMSNorm and ``in_proj`` (and the MLP's stacked gate/up projection) in one
launch each, and at batch 1 the activation with ``down_proj``; without them inductor fuses the add and the
norm into a kernel of its own, then calls cuBLAS. Two models with the same weights (bamba-9b, 4 layers, no
attention, bf16, the ``triton`` variant, a 2048-token prefill), one a side, each compiled once; rounds of 16
synchronised tokens alternate the sides (``benchmarks/fused_decode.py``'s timing). Reports per side the median
ms a token, the GPU kernel time a token and its ten largest kernels (profiler, ``bambaprof analyze``), and the
sides' teacher-forced logits over the same tokens.

    python benchmarks/decode_compiled_gemvs.py OUT.json [BATCH]

The ops were measured and not merged (no gain, ``h200-decode-compiled-gemvs.json``): apply
``benchmarks/forms/decode-gemv-ops-compiled.patch`` to the tree first (``benchmarks/h200_decode_compiled_gemvs.sh``
does, on the device's copy).
"""

from __future__ import annotations

import json
import statistics
import sys

import torch

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from fused_decode import TOKENS, decode_analysis, decode_ms  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.workloads import _CompiledModel  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.mlp import GatedMLP  # noqa: E402
from bambaprof.model.norm import RMSNorm  # noqa: E402

PREFILL, ROUNDS, FORCED = 2048, 7, 12
SIDES = ("torch's form", "GEMV ops")


def build(ops: bool, batch: int):
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    for m in model.modules():
        if type(m) is RMSNorm:
            m.fused_linear_compiled = ops
        elif type(m) is GatedMLP:
            m.fused_compiled = ops
    return model, _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)


def kernels_of(runner, ids) -> dict:
    """Kernel us a token and the ten largest kernels (us a token) over 16 tokens."""
    a = decode_analysis(runner, ids)
    top = sorted(a.kernels, key=lambda k: -k["total_us"])[:10]
    return {"kernel_us_per_token": a.summary["kernel_us"] / TOKENS,
            "top_kernels": [{"name": k["name"][:120], "us_per_token": k["total_us"] / TOKENS,
                             "count_per_token": k["count"] / TOKENS} for k in top]}


def forced(runner, ids, tokens) -> list:
    cache = runner.new_cache()
    out = []
    with torch.no_grad():
        out.append(runner(ids, cache=cache, last_logits_only=True)[:, -1].float())
        for t in tokens:
            out.append(runner(t, cache=cache, last_logits_only=True)[:, -1].float())
    return out


def main(out_path: str, batch: int = 1) -> int:
    runners = {}
    for side, ops in zip(SIDES, (False, True)):
        runners[side] = build(ops, batch)[1]
    cfg = runners[SIDES[0]].config
    ids = torch.randint(0, cfg.vocab_size, (batch, PREFILL), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    later = [torch.randint(0, cfg.vocab_size, (batch, 1), device="cuda") for _ in range(FORCED)]
    for side in SIDES:  # compile and record each side's graphs
        for _ in range(2):
            decode_ms(runners[side], ids)
    samples = {s: [] for s in SIDES}
    for r in range(ROUNDS):
        for side in (SIDES if r % 2 == 0 else SIDES[::-1]):
            samples[side] += decode_ms(runners[side], ids)[0][2:]  # the first steps warm the allocator
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"),
              "shape": f"bamba-9b, 4 layers, no attention, bf16, batch {batch}, {PREFILL}-token prefill, "
                       f"{TOKENS} synchronised tokens a round, {ROUNDS} rounds alternating (first 2 tokens dropped)",
              "sides": {}}
    for side in SIDES:
        result["sides"][side] = {"ms_per_token": statistics.median(samples[side]),
                                 "p10_ms": statistics.quantiles(samples[side], n=10)[0],
                                 "p90_ms": statistics.quantiles(samples[side], n=10)[-1],
                                 **kernels_of(runners[side], ids), "samples_ms": samples[side]}
        print(side, {k: v for k, v in result["sides"][side].items() if k not in ("samples_ms", "top_kernels")},
              flush=True)
        for k in result["sides"][side]["top_kernels"]:
            print("   %8.1f us x%.0f %s" % (k["us_per_token"], k["count_per_token"], k["name"][:90]))
    a, b = (forced(runners[s], ids, later) for s in SIDES)
    result["teacher_forced"] = [{"max_abs_logit_diff": float((x - y).abs().max()),
                                 "argmax_equal": bool(torch.equal(x.argmax(-1), y.argmax(-1)))} for x, y in zip(a, b)]
    torch_side, ops_side = (result["sides"][s] for s in SIDES)
    result["ratios"] = {"ms_per_token": ops_side["ms_per_token"] / torch_side["ms_per_token"],
                        "kernel_us_per_token": ops_side["kernel_us_per_token"] / torch_side["kernel_us_per_token"]}
    print("ratios (ops / torch's form)", result["ratios"], "teacher-forced max |diff|",
          max(r["max_abs_logit_diff"] for r in result["teacher_forced"]),
          "argmax equal", all(r["argmax_equal"] for r in result["teacher_forced"]), flush=True)
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *(int(a) for a in sys.argv[2:3])))
