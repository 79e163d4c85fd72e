"""The eager decode token's host time with the row and decode-step launch wrappers of one commit against
another's, side by side in one process (interleaved rounds, the same kernels).

The earlier commit's ``bambaprof/ssm/kernels/{mixer,launch,metadata}.py`` are loaded as modules of their own
(``OLD_DIR`` holds them as ``_old_mixer.py``, ``_old_launch.py``, ``_old_metadata.py``, the mixer's imports
pointing at the other two and its ``torch.library`` ops left out), copied into the package for the run;
the model takes one side or the other through the module its norms and mixers launch from
(``bambaprof.model.norm._kernels_module``). bamba-9b, 4 layers, no attention, bf16, batch 1, a 2048-token
prefill, then per round and side: 16 synchronised tokens (``benchmarks/fused_decode.py``'s timing) and the
host time of 16 tokens issued back to back. Greedy tokens of both sides are compared (the same kernels, so
they must be equal), and the fixed Python probe is timed before and after.

    python benchmarks/decode_host_paths.py OLD_DIR OUT.json
"""

from __future__ import annotations

import importlib
import json
import shutil
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from decode_norm_in_step import greedy, issue_us  # noqa: E402
from fused_decode import decode_ms  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.host_speed import probe_us  # noqa: E402
from bambaprof.model import build_model, norm, preset  # noqa: E402

PREFILL, ROUNDS = 2048, 9
SIDES = ("earlier wrappers", "current wrappers")


def main(old_dir: str, out_path: str) -> int:
    package = Path("bambaprof/ssm/kernels")
    copied = [shutil.copy(f, package / f.name) for f in Path(old_dir).glob("_old_*.py")]
    try:
        old = importlib.import_module("bambaprof.ssm.kernels._old_mixer")
    finally:
        for f in copied:
            Path(f).unlink()
    new = importlib.import_module("bambaprof.ssm.kernels.mixer")
    modules = dict(zip(SIDES, (old, new)))
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda",
                        generator=torch.Generator(device="cuda").manual_seed(0))
    tokens, synced, issued = {}, {n: [] for n in SIDES}, {n: [] for n in SIDES}
    probe_before = probe_us()
    for n in SIDES:  # warm-up (both sides compile and keep their kernels), and the greedy tokens
        norm._kernels_module = modules[n]
        tokens[n] = greedy(model, ids, 12)
        decode_ms(model, ids)
    for r in range(ROUNDS):
        for n in SIDES if r % 2 == 0 else SIDES[::-1]:
            norm._kernels_module = modules[n]
            synced[n] += decode_ms(model, ids)[0][2:]
            issued[n].append(issue_us(model, ids))
    probe_after = probe_us()
    norm._kernels_module = new
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"),
              "shape": f"bamba-9b, 4 layers, no attention, bf16, batch 1, {PREFILL}-token prefill, 16 tokens a "
                       f"round and side, {ROUNDS} rounds (order alternating)",
              "greedy_tokens_equal": tokens[SIDES[0]] == tokens[SIDES[1]],
              "host_probe_us": {"before": probe_before, "after": probe_after}, "sides": {}}
    for n in SIDES:
        result["sides"][n] = {"synchronised_ms_per_token": statistics.median(synced[n]),
                              "issued_host_us_per_token": statistics.median(issued[n]),
                              "issued_host_us_rounds": issued[n], "synchronised_ms_samples": synced[n]}
        print(n, {k: v for k, v in result["sides"][n].items() if not k.endswith(("rounds", "samples"))}, flush=True)
    a, b = (result["sides"][n] for n in SIDES)
    result["ratios_current_over_earlier"] = {k: b[k] / a[k] for k in ("synchronised_ms_per_token",
                                                                        "issued_host_us_per_token")}
    result["issued_round_ratios"] = [y / x for x, y in zip(a["issued_host_us_rounds"], b["issued_host_us_rounds"])]
    print("greedy tokens equal", result["greedy_tokens_equal"], "ratios", result["ratios_current_over_earlier"],
          "probe", result["host_probe_us"])
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
