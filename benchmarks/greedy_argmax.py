"""Greedy sampling over Bamba's vocabulary on the GPU: ``bambaprof/ssm/kernels/sample.py``'s one-launch
argmax against torch's ``argmax``, side by side in one process.

For batch 1, 4 and 16 and bf16 / float32 logits (128,256 a row): the GPU kernel time a call (profiler, 50
calls), the ``do_bench`` median (us), the host time to issue a call (us, 200 calls back to back), and whether
the indices are equal. Then the cached ``generate`` token of the ``triton`` variant (bamba-9b, 4 layers, no
attention, bf16, batch 1, 512-token prefill) with each sampler, 5 interleaved rounds of 16 synchronised
tokens, eagerly and under ``reduce-overhead`` (CUDA graphs; the sampler runs after the graph, eagerly).

    python benchmarks/greedy_argmax.py OUT.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import torch
import triton

sys.path.insert(0, ".")
from bambaprof._env import environment  # noqa: E402
from bambaprof.collect.host_speed import probe_us  # noqa: E402
from bambaprof.collect.workloads import _CompiledModel  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.ssm.kernels import sample  # noqa: E402

VOCAB, TOKENS = 128256, 16
#: ROUNDS=N: interleaved rounds of the token comparison; EAGER_ONLY=1: the eager token only (no kernels table,
#: no compiled side)
ROUNDS = int(os.environ.get("ROUNDS", "5"))
EAGER_ONLY = os.environ.get("EAGER_ONLY") == "1"
SIDES = {"torch argmax": lambda x: x.argmax(-1, keepdim=True), "one launch": sample.argmax_rows}


def kernel_us(fn, x, calls: int = 50) -> float:
    fn(x)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn(x)
        torch.cuda.synchronize()
    return sum(e.device_time for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA) / calls


def host_us(fn, x, calls: int = 200) -> float:
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(calls):
        fn(x)
    host = (time.perf_counter() - t) / calls * 1e6
    torch.cuda.synchronize()
    return host


def kernels() -> dict:
    out = {}
    g = torch.Generator(device="cuda").manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        for b in (1, 4, 16):
            x = torch.randn(b, VOCAB, device="cuda", dtype=dtype, generator=g)
            row = {name: {"kernel_us": kernel_us(fn, x),
                          "do_bench_us": 1e3 * triton.testing.do_bench(lambda fn=fn, x=x: fn(x), warmup=25, rep=200,
                                                                       return_mode="median"),
                          "host_us": host_us(fn, x)} for name, fn in SIDES.items()}
            row["equal"] = bool(torch.equal(SIDES["torch argmax"](x), sample.argmax_rows(x)))
            out[f"{str(dtype).split('.')[-1]} batch {b}"] = row
            print(dtype, b, row, flush=True)
    return out


def tokens(model, runner, ids) -> dict:
    times = {n: [] for n in SIDES}
    chosen = {}

    def run(name) -> list:
        model.fused_sampling = name == "one launch"
        cache = runner.new_cache()
        out, toks = [], []
        with torch.no_grad():
            nxt = runner.greedy(runner(ids, cache=cache, last_logits_only=True)[:, -1])
            for _ in range(TOKENS):
                torch.cuda.synchronize()
                t = time.perf_counter()
                nxt = runner.greedy(runner(nxt, cache=cache, last_logits_only=True)[:, -1])
                torch.cuda.synchronize()
                out.append((time.perf_counter() - t) * 1e3)
                toks.append(int(nxt))
        chosen[name] = toks
        return out[2:]

    for n in SIDES:  # warm-up (and, compiled, recording)
        run(n)
        run(n)
    for r in range(ROUNDS):
        for n in (list(SIDES) if r % 2 == 0 else list(SIDES)[::-1]):
            times[n] += run(n)
    issued = {n: [] for n in SIDES}
    for _ in range(3):  # host time to enqueue a token, 16 back to back (no synchronisation between them)
        for n in SIDES:
            model.fused_sampling = n == "one launch"
            cache = runner.new_cache()
            with torch.no_grad():
                nxt = runner.greedy(runner(ids, cache=cache, last_logits_only=True)[:, -1])
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(TOKENS):
                    nxt = runner.greedy(runner(nxt, cache=cache, last_logits_only=True)[:, -1])
                issued[n].append((time.perf_counter() - t) / TOKENS * 1e6)
                torch.cuda.synchronize()
    model.fused_sampling = True
    res = {n: {"issued_host_us_per_token": statistics.median(issued[n]), "synchronised_ms_per_token": statistics.median(v),
               "p10_p90_ms": statistics.quantiles(v, n=10)[::8], "samples": len(v)} for n, v in times.items()}
    res["ratio"] = res["one launch"]["synchronised_ms_per_token"] / res["torch argmax"]["synchronised_ms_per_token"]
    res["tokens_equal"] = chosen["torch argmax"] == chosen["one launch"]
    print("tokens", res, flush=True)
    return res


def main(out_path: str) -> int:
    result = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"), "host_probe_us_before": probe_us(),
              "kernels": {} if EAGER_ONLY else kernels()}
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, 512), device="cuda",
                        generator=torch.Generator(device="cuda").manual_seed(0))
    result["token"] = {"eager": tokens(model, _CompiledModel(model, model), ids)}
    if not EAGER_ONLY:
        result["token"]["reduce-overhead"] = tokens(
            model, _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True), ids)
    result["host_probe_us_after"] = probe_us()
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
