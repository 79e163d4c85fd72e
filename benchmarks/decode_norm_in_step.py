"""The eager decode token of the ``triton`` variant with the mixer's gated RMSNorm in the decode step's launch
(the row's last program normalises it) against the norm in a launch of its own, side by side in one process.

bamba-9b, 4 layers, no attention, bf16, batch 1, a 2048-token prefill, then 16 tokens a round; rounds alternate
the sides. Per side: the median ms of a synchronised token (``benchmarks/fused_decode.py``'s timing), the host
time of a token issued back to back (16 tokens enqueued without synchronising, over 16; the GPU keeps up, so
this is the host's), the GPU kernel time a token (profiler), and the greedy tokens. Where the sides' greedy
tokens part, ``teacher_forced`` says whether that is a near-tie: both sides decode the norm-apart side's
tokens, and at each step it records the largest logit difference between them, the norm-apart logits' margin
between their top two, and whether the two sides' argmax agree (a near-tie: the margin is within the
difference, which rounding order alone moves).

    python benchmarks/decode_norm_in_step.py OUT.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import torch

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from fused_decode import TOKENS, decode_ms, kernel_us_per_token  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.model.mixer import Mamba2Mixer  # noqa: E402

PREFILL, ROUNDS = 2048, 7
SIDES = ("norm apart", "norm in the step")


@contextmanager
def side(name: str) -> Iterator[None]:
    saved = Mamba2Mixer._norm_in_step
    if name == "norm apart":
        Mamba2Mixer._norm_in_step = lambda self, *args: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        Mamba2Mixer._norm_in_step = saved  # type: ignore[method-assign]


def issue_us(model, ids) -> float:
    """Host time (us) to enqueue one token, over TOKENS tokens enqueued back to back."""
    cache = model.new_cache()
    with torch.no_grad():
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(TOKENS):
            nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        host = (time.perf_counter() - t) / TOKENS * 1e6
        torch.cuda.synchronize()
    return host


def greedy(model, ids, n: int = 8) -> list:
    cache = model.new_cache()
    with torch.no_grad():
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        out = [int(nxt)]
        for _ in range(n):
            nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            out.append(int(nxt))
    return out


def forced_logits(model, ids, tokens: list) -> list:
    """The float32 last-position logits of each step while decoding ``tokens`` (teacher forcing)."""
    cache = model.new_cache()
    out = []
    with torch.no_grad():
        out.append(model(ids, cache=cache, last_logits_only=True)[0, -1].float())
        for t in tokens[:-1]:
            nxt = torch.tensor([[t]], device=ids.device)
            out.append(model(nxt, cache=cache, last_logits_only=True)[0, -1].float())
    return out


def teacher_forced(model, ids, tokens: list) -> list:
    """Per step: the largest |logit difference| between the sides, the norm-apart logits' top-2 margin, and
    whether the sides' argmax agree, both decoding ``tokens``."""
    logits = {}
    for n in SIDES:
        with side(n):
            logits[n] = forced_logits(model, ids, tokens)
    rows = []
    for a, b in zip(*(logits[n] for n in SIDES)):
        top2 = torch.topk(a, 2).values
        rows.append({"max_abs_logit_diff": float((a - b).abs().max()),
                     "top2_margin_norm_apart": float(top2[0] - top2[1]),
                     "argmax_equal": bool(int(a.argmax()) == int(b.argmax()))})
    return rows


def main(out_path: str) -> int:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda")
    tokens, synced, issued = {}, {n: [] for n in SIDES}, {n: [] for n in SIDES}
    for n in SIDES:  # warm-up, and each side's greedy tokens
        with side(n):
            tokens[n] = greedy(model, ids)
            decode_ms(model, ids)
    for _ in range(ROUNDS):
        for n in SIDES:
            with side(n):
                synced[n] += decode_ms(model, ids)[0][2:]  # the first steps warm the allocator
                issued[n].append(issue_us(model, ids))
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"),
              "shape": f"bamba-9b, 4 layers, no attention, bf16, batch 1, {PREFILL}-token prefill, {TOKENS} tokens a "
                       f"round, {ROUNDS} rounds", "greedy_tokens": tokens,
              "greedy_tokens_equal": len({tuple(t) for t in tokens.values()}) == 1,
              "teacher_forced": teacher_forced(model, ids, tokens[SIDES[0]]), "sides": {}}
    for n in SIDES:
        with side(n):
            result["sides"][n] = {"synchronised_ms_per_token": statistics.median(synced[n]),
                                  "issued_host_us_per_token": statistics.median(issued[n]),
                                  "kernel_us_per_token": kernel_us_per_token(model, ids),
                                  "issued_host_us_rounds": issued[n], "synchronised_ms_samples": synced[n]}
        print(n, {k: v for k, v in result["sides"][n].items() if not k.endswith(("rounds", "samples"))}, flush=True)
    a, b = (result["sides"][n] for n in SIDES)
    result["ratios_in_step_over_apart"] = {k: b[k] / a[k] for k in ("synchronised_ms_per_token",
                                                                     "issued_host_us_per_token", "kernel_us_per_token")}
    print("greedy tokens equal", result["greedy_tokens_equal"], "ratios", result["ratios_in_step_over_apart"])
    for i, row in enumerate(result["teacher_forced"]):
        print("step", i, row)
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
