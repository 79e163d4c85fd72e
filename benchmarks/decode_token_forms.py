"""A cached decode token of the ``triton`` variant before and after three changes, side by side in one process:
the residual adds taken by the fused RMSNorms after them (``add_rmsnorm``), the MLP's gate and up projections
stacked into one GEMV, and the decode step's kernel in four warps instead of eight.

bamba-9b, 4 layers, no attention, bf16, batch 1, a 2048-token prefill, then 16 tokens a round, each
synchronised before and after (``benchmarks/fused_decode.py``'s timing); rounds alternate the sides. Each side
puts back the earlier form of what it leaves out: the decoder loop with a torch add before each norm
(``BambaForCausalLM.defer_residual_adds = False``), two
GEMVs on the stacked weight's halves (the same weights, the same cuBLAS calls as two ``nn.Linear``), and
``DECODE_WARPS = 8``. Reports per side the median ms a token (eager), the GPU kernel time a token (profiler),
and under ``reduce-overhead`` (CUDA graphs; compiled code keeps torch's norms, which inductor fuses) the first
and last sides.

    python benchmarks/decode_token_forms.py OUT.json

``GRAPHS_ONLY=1``: only the ``reduce-overhead`` part; ``GRAPH_ORDER=reverse``: its committed side first (each side
is compiled after the other's graphs, so the order is a variable of its own).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from contextlib import contextmanager
from typing import Dict, Iterator

import torch
from torch.nn import functional as F

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from fused_decode import decode_ms, kernel_us_per_token  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.workloads import _CompiledModel  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.decoder import BambaForCausalLM  # noqa: E402
from bambaprof.model.mlp import GatedMLP  # noqa: E402
from bambaprof.ssm.kernels import mixer as kernels  # noqa: E402

PREFILL, ROUNDS = 2048, 5
#: side -> (adds in the norms, stacked gate/up GEMV, decode step warps)
SIDES = {
    "before": (False, False, 8),
    "adds in norms": (True, False, 8),
    "adds in norms + stacked gate/up": (True, True, 8),
    "all three (committed)": (True, True, 4),
}


def _mlp_two_gemvs(self, x):
    gate_w, up_w = self.stacked_weights()
    return self.down_proj(F.silu(F.linear(x, gate_w)) * F.linear(x, up_w))


@contextmanager
def side(name: str) -> Iterator[None]:
    adds_in_norms, stacked, warps = SIDES[name]
    saved = (BambaForCausalLM.defer_residual_adds, GatedMLP.forward, kernels.DECODE_WARPS)
    BambaForCausalLM.defer_residual_adds = adds_in_norms
    if not stacked:
        GatedMLP.forward = _mlp_two_gemvs  # type: ignore[method-assign]
    kernels.DECODE_WARPS = warps
    try:
        yield
    finally:
        BambaForCausalLM.defer_residual_adds, GatedMLP.forward, kernels.DECODE_WARPS = saved  # type: ignore[method-assign]


def measure(runner, ids, names) -> Dict[str, dict]:
    samples: Dict[str, list] = {n: [] for n in names}
    for n in names:  # warm-up (compiles each side's kernels; under graphs, records)
        with side(n):
            decode_ms(runner, ids)
    for _ in range(ROUNDS):
        for n in names:
            with side(n):
                samples[n] += decode_ms(runner, ids)[0][2:]  # the first steps warm the allocator
    out = {}
    for n in names:
        with side(n):
            out[n] = {"ms_per_token": statistics.median(samples[n]), "kernel_us_per_token": kernel_us_per_token(runner, ids),
                      "samples_ms": samples[n]}
        print(n, {k: v for k, v in out[n].items() if k != "samples_ms"}, flush=True)
    return out


def main(out_path: str) -> int:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda")
    tokens = {}
    for n in SIDES:  # the sides take the same greedy tokens (equal logits up to rounding)
        with side(n), torch.no_grad():
            cache = model.new_cache()
            nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            seq = [int(nxt)]
            for _ in range(8):
                nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
                seq.append(int(nxt))
            tokens[n] = seq
    print("greedy tokens per side", tokens, flush=True)
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"),
              "shape": f"bamba-9b, 4 layers, no attention, bf16, batch 1, {PREFILL}-token prefill, 16 tokens a round, "
                       f"{ROUNDS} rounds (first 2 tokens of each dropped)", "sides": {n: dict(zip(
                           ("adds_in_norms", "stacked_gate_up", "decode_step_warps"), v)) for n, v in SIDES.items()},
              "greedy_tokens": tokens}
    first, last = list(SIDES)[0], list(SIDES)[-1]
    if os.environ.get("GRAPHS_ONLY") != "1":
        result["eager"] = measure(model, ids, list(SIDES))
        result["ratios"] = {"eager_committed_over_before": result["eager"][last]["ms_per_token"]
                            / result["eager"][first]["ms_per_token"]}
    compiled = _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)
    graphs = {}
    order = (last, first) if os.environ.get("GRAPH_ORDER") == "reverse" else (first, last)
    for n in order:  # each side compiled on its own (the MLP's form is traced)
        torch._dynamo.reset()
        graphs.update(measure(compiled, ids, [n]))
    result["reduce-overhead"] = graphs
    result["graph_order"] = list(order)
    result.setdefault("ratios", {})["graphs_committed_over_before"] = (graphs[last]["ms_per_token"]
                                                                       / graphs[first]["ms_per_token"])
    print("ratios", result["ratios"], flush=True)
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
