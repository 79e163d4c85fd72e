"""Is the decode step's in-launch gated norm deterministic? A race detector for its hand-off (each program
counts itself done; the row's last program reads the whole row back and normalises it).

At the Bamba-9B step (128 heads of 64, state 128, 1 group, conv 4, bf16), for batch 1 and 4: the same step,
from the same states, many times in a row. Each repeat restores the states and the counter, runs the step
with the norm in its launch, and compares the output bit for bit with the first repeat's (any difference:
a program read a value of the row before it was written, or another nondeterminism); it also counts the
outputs that differ from the step without the norm followed by ``gated_rmsnorm`` (the two compiled forms of
the step may round the state update differently: such differences are the same at every repeat).

Then the model (4 layers, no attention, 2048-token prompts): for several prompts, each side decodes the
norm-apart side's greedy tokens twice (teacher forcing), and the steps whose logits differ between the two
runs of one side (nondeterminism) and between the sides are counted.

    python benchmarks/decode_norm_race.py OUT.json
"""

from __future__ import annotations

import json
import sys
import time

import torch

sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from decode_norm_in_step import SIDES, forced_logits, greedy, side  # noqa: E402

from bambaprof._env import environment  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.ssm.kernels.mixer import gated_rmsnorm, mixer_decode_step, new_step_counter  # noqa: E402

H, P, N, G, K = 128, 64, 128, 1, 4
REPEATS, PROMPTS, TOKENS, PREFILL = 3000, 6, 12, 2048


def step_repeats(batch: int) -> dict:
    """The step with the norm in its launch, REPEATS times from the same states, against its first repeat and
    against the step then the separate norm."""
    g = torch.Generator().manual_seed(batch)
    dev, dtype = "cuda", torch.bfloat16
    inter, conv_dim = H * P, H * P + 2 * G * N

    def rand(*shape, dt=dtype, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dev, dt)

    proj = rand(batch, inter + conv_dim + H)
    gate, xbc, dt_raw = proj[:, :inter], proj[:, inter:inter + conv_dim], proj[:, inter + conv_dim:]
    conv0, state0 = rand(batch, conv_dim, K), rand(batch, H, P, N, dt=torch.float32)
    w, cb, norm_w = rand(conv_dim, 1, K, scale=0.5), rand(conv_dim), rand(inter, scale=0.1) + 1
    A_log, D, dt_bias = rand(H, dt=torch.float32), rand(H, dt=torch.float32), rand(H, dt=torch.float32)
    args = (A_log, D, dt_bias, 0.0, float("inf"), H, G)
    counter0 = new_step_counter(batch, 2048, H, P, torch.device(dev))
    conv, state, counter = conv0.clone(), state0.clone(), counter0.clone()
    y = mixer_decode_step(xbc, dt_raw, conv, w, cb, state, counter, *args)
    apart = gated_rmsnorm(y, gate, norm_w, 1e-5, dtype)
    first = None
    differ_first = differ_apart = 0
    t = time.perf_counter()
    for i in range(REPEATS):
        conv.copy_(conv0)
        state.copy_(state0)
        counter.copy_(counter0)
        if i % 2:  # the counts carried on from earlier steps, as in decoding
            counter[1:] += 512 * i
        out = mixer_decode_step(xbc, dt_raw, conv, w, cb, state, counter, *args, gate=gate, norm_weight=norm_w,
                                eps=1e-5, out_dtype=dtype)
        if first is None:
            first = out.clone()
            apart_values = int((out != apart).sum())
        differ_first += int(not torch.equal(out, first))
        differ_apart += int(not torch.equal(out, apart))
    torch.cuda.synchronize()
    return {"batch": batch, "repeats": REPEATS, "repeats_differing_from_the_first": differ_first,
            "repeats_differing_from_step_then_norm": differ_apart,
            "values_differing_from_step_then_norm": apart_values, "values": batch * inter,
            "seconds": time.perf_counter() - t}


def model_runs() -> list:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    for p in range(PROMPTS):
        ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda", generator=gen)
        with side(SIDES[0]):
            tokens = greedy(model, ids, TOKENS)
        runs = {}
        for n in SIDES:
            with side(n):
                runs[n] = [forced_logits(model, ids, tokens) for _ in range(2)]

        def steps_differing(a, b):
            return sum(int(not torch.equal(x, y)) for x, y in zip(a, b))

        row = {"prompt": p, "steps": len(tokens)}
        for n in SIDES:
            row[f"{n}: steps differing between two runs"] = steps_differing(*runs[n])
        row["steps differing between the sides"] = steps_differing(runs[SIDES[0]][0], runs[SIDES[1]][0])
        row["largest logit difference between the sides"] = max(
            float((x - y).abs().max()) for x, y in zip(runs[SIDES[0]][0], runs[SIDES[1]][0]))
        print(row, flush=True)
        rows.append(row)
    return rows


def main(out_path: str) -> int:
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"), "step": [], "model": []}
    for batch in (1, 4):
        result["step"].append(step_repeats(batch))
        print(result["step"][-1], flush=True)
    result["model"] = model_runs()
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
