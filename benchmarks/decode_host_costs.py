"""Host time of each call of a cached decode token, eager, on a GPU: where the eager token's wall time goes.

bamba-9b, 4 layers, no attention, bf16, batch 1, the ``triton`` variant: a 2048-token prefill, then each call
of one layer's token (and the model's head) repeated with its real inputs. For each call: ``host_us``, the
host time a call (issuing ``n`` calls back to back, no synchronisation between them), and ``wall_us``, the
time a call until the GPU has finished them all (``wall > host``: the GPU is the limit; ``host >= wall``: the
host is). Then a token synchronised before and after (as ``benchmarks/fused_decode.py`` times one; the
``generate`` workload instead reads CUDA events between tokens) split into the host's issue and the wait
for the GPU after it. Also the launch shortcut's modes (off, kept, on) side by side in interleaved rounds,
torch's BLAS back-ends, other forms of a GEMV (the MLP's gate and up GEMVs merged into one), and a GEMV
against a tiny weight (the fixed cost of a linear).

    python benchmarks/decode_host_costs.py [-o out.json]
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from typing import Callable, Dict

import torch
from torch.nn import functional as F

sys.path.insert(0, ".")
from host_time_mixer import MODES, launch_shortcut  # noqa: E402  (benchmarks/ is this script's folder)

from bambaprof._env import environment  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402
from bambaprof.ssm.kernels import mixer as mk  # noqa: E402

#: a smoke run on the CPU: SMOKE=1 TRITON_INTERPRET=1 python benchmarks/decode_host_costs.py (tiny preset)
SMOKE = os.environ.get("SMOKE") == "1"
ROUNDS = 1 if SMOKE else 7
DEVICE = "cpu" if SMOKE else "cuda"


def _sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def host_and_wall(fn: Callable[[], object], n: int = 40) -> Dict[str, float]:
    """Median over rounds of host us a call and wall us a call (``n`` calls a round)."""
    n = 1 if SMOKE else n
    fn()
    _sync()
    hosts, walls = [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t1 = time.perf_counter()
        _sync()
        t2 = time.perf_counter()
        hosts.append((t1 - t0) / n * 1e6)
        walls.append((t2 - t0) / n * 1e6)
    return {"host_us": round(statistics.median(hosts), 2), "wall_us": round(statistics.median(walls), 2)}


def main() -> int:
    out_path = sys.argv[sys.argv.index("-o") + 1] if "-o" in sys.argv else None
    cfg = preset("tiny" if SMOKE else "bamba-9b", layers=4, attention=False, dtype="float32" if SMOKE else "bfloat16")
    model = build_model(cfg, "triton", seed=0, device=DEVICE)
    ids = torch.randint(0, cfg.vocab_size, (1, 64 if SMOKE else 2048), device=DEVICE)
    results: Dict[str, Dict[str, float]] = {}
    with torch.no_grad():
        cache = model.new_cache()
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        for _ in range(4):
            nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        _sync()
        layer = model.model.layers[0]
        mixer, mlp = layer.mamba, layer.feed_forward
        lc = cache.layers[0]
        hidden = model.model.embed_tokens(nxt)
        normed = layer.input_layernorm(hidden)
        proj = mixer.in_proj(normed)
        gate, xBC, dt = proj.split([mixer.intermediate, mixer.conv_dim, mixer.n_heads], dim=-1)
        mixer_out = mixer(normed, lc, 0)
        w_gate, w_up = mlp.stacked_weights()
        g, u = mlp.gate_up_proj(normed).chunk(2, dim=-1)
        act = F.silu(g) * u
        hw = model.model.final_layernorm(hidden)
        logits = model.lm_head(hw)
        y0 = mixer._decode_fused(xBC[:, 0], dt[:, 0], lc).reshape(1, 1, mixer.intermediate)
        yn = mk.gated_rmsnorm(y0, gate, mixer.norm.weight, mixer.norm.eps, hidden.dtype)
        calls: Dict[str, Callable[[], object]] = {
            "token (model forward, argmax)": lambda: model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(
                -1, keepdim=True),
            "layer": lambda: layer(hidden, lc, 0),
            "layer, residual adds in the norms": lambda: layer.forward_deferred(hidden, mixer_out, lc, 0),
            "mixer": lambda: mixer(normed, lc, 0),
            "mlp": lambda: mlp(normed),
            "rmsnorm (triton)": lambda: layer.input_layernorm(hidden),
            "residual add + rmsnorm (triton)": lambda: layer.input_layernorm.add_forward(hidden, mixer_out),
            "in_proj linear": lambda: mixer.in_proj(normed),
            "split of in_proj's output": lambda: proj.split([mixer.intermediate, mixer.conv_dim, mixer.n_heads],
                                                           dim=-1),
            "decode step (triton)": lambda: mixer._decode_fused(xBC[:, 0], dt[:, 0], lc),
            "gated rmsnorm (triton)": lambda: mk.gated_rmsnorm(y0, gate, mixer.norm.weight, mixer.norm.eps,
                                                               hidden.dtype),
            "out_proj linear": lambda: mixer.out_proj(yn),
            "residual add": lambda: hidden + mixer_out,
            "gate_up_proj linear (gate and up stacked)": lambda: mlp.gate_up_proj(normed),
            "silu": lambda: F.silu(g),
            "mul": lambda: g * u,
            "down_proj linear": lambda: mlp.down_proj(act),
            "lm_head linear": lambda: model.lm_head(hw),
            "argmax over vocab": lambda: logits[:, -1].argmax(-1, keepdim=True),
            "embedding": lambda: model.model.embed_tokens(nxt),
        }
        tiny_w = torch.randn(64, 64, device=DEVICE, dtype=hidden.dtype)
        tiny_x = torch.randn(1, 1, 64, device=DEVICE, dtype=hidden.dtype)
        calls["linear 64->64 (fixed cost)"] = lambda: F.linear(tiny_x, tiny_w)
        calls["mm 1x64 @ 64x64"] = lambda: torch.mm(tiny_x[0], tiny_w.t())
        calls["add 64 (fixed cost of an op)"] = lambda: tiny_x + tiny_x
        flat = normed.reshape(-1)
        calls["gate and up, two linears (as before they were stacked)"] = lambda: (F.linear(normed, w_gate),
                                                                                  F.linear(normed, w_up))
        calls["in_proj as torch.mv"] = lambda: torch.mv(mixer.in_proj.weight, flat)
        calls["in_proj as matmul"] = lambda: torch.matmul(normed, mixer.in_proj.weight.t())
        for name, fn in calls.items():
            results[name] = host_and_wall(fn)
            print(f"{name:36s} host {results[name]['host_us']:8.1f} us  wall {results[name]['wall_us']:8.1f} us",
                  flush=True)
        # a token synchronised before and after (as fused_decode.py times one): the host's issue, then the GPU wait
        issue, total = [], []
        for _ in range(4 if SMOKE else 48):
            _sync()
            t0 = time.perf_counter()
            model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            t1 = time.perf_counter()
            _sync()
            t2 = time.perf_counter()
            issue.append((t1 - t0) * 1e6)
            total.append((t2 - t0) * 1e6)
        synced = {"issue_us": round(statistics.median(issue[4:] or issue), 1),
                  "token_us": round(statistics.median(total[4:] or total), 1)}
        synced["wait_us"] = round(synced["token_us"] - synced["issue_us"], 1)
        print("synchronised token", synced, flush=True)
        # where a token's host time goes, by function (cProfile's own time, us a token; the profiler's own cost
        # inflates each call, so the split matters, not the sum)
        tokens = 4 if SMOKE else 100
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(tokens):
            model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        prof.disable()
        _sync()
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        by_fn = sorted(((tt, nc, f"{fn[0].split('site-packages/')[-1]}:{fn[1]}({fn[2]})")
                        for fn, (_cc, nc, tt, _ct, _callers) in stats.items()), reverse=True)
        host_profile = [{"function": name, "calls_per_token": nc / tokens, "own_us_per_token": tt / tokens * 1e6}
                        for tt, nc, name in by_fn[:40]]
        for row in host_profile[:25]:
            print(f"  {row['own_us_per_token']:8.1f} us {row['calls_per_token']:6.1f}x  {row['function']}", flush=True)
        # the launch shortcut's modes (bambaprof.ssm.kernels.launch), in interleaved rounds
        modes: Dict[str, Dict[str, list]] = {}
        mode_calls = {
            "token": (lambda: model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True), 16),
            "rmsnorm (triton)": (lambda: layer.input_layernorm(hidden), 40),
            "decode step (triton)": (lambda: mixer._decode_fused(xBC[:, 0], dt[:, 0], lc), 40),
            "gated rmsnorm (triton)": (lambda: mk.gated_rmsnorm(y0, gate, mixer.norm.weight, mixer.norm.eps,
                                                                hidden.dtype), 40),
        }
        for _ in range(3):
            for mode in MODES:
                with launch_shortcut(mode):
                    for name, (fn, n) in mode_calls.items():
                        modes.setdefault(mode, {}).setdefault(name, []).append(host_and_wall(fn, n))
        shortcut = {mode: {name: {k: statistics.median(r[k] for r in rs) for k in ("host_us", "wall_us")}
                           for name, rs in by_name.items()} for mode, by_name in modes.items()}
        for mode, by_name in shortcut.items():
            print("launch shortcut", mode, json.dumps(by_name), flush=True)
        backends = {}
        get = getattr(torch.backends.cuda, "preferred_blas_library", None)
        if get is not None:
            before = get()
            for lib in ("cublas", "cublaslt"):
                try:
                    get(lib)
                except Exception as e:  # noqa: BLE001 - reported, not fatal
                    backends[lib] = {"error": str(e)}
                    continue
                backends[lib] = {
                    "in_proj": host_and_wall(lambda: mixer.in_proj(normed)),
                    "tiny": host_and_wall(lambda: F.linear(tiny_x, tiny_w)),
                    "token": host_and_wall(lambda: model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(
                        -1, keepdim=True), n=16),
                }
                print(lib, backends[lib], flush=True)
            get(before)
    doc = {"what": __doc__.split("\n\n")[0], "environment": environment(DEVICE), "shape": "bamba-9b 4 layers bf16 b1, "
           "after a 2048-token prefill", "rounds": ROUNDS,
           "weights (out x in)": {name: list(m.weight.shape) for name, m in (
               ("in_proj", mixer.in_proj), ("out_proj", mixer.out_proj), ("gate_up_proj", mlp.gate_up_proj),
               ("down_proj", mlp.down_proj), ("lm_head", model.lm_head))}, "calls": results, "synchronised_token": synced,
           "host_profile_top": host_profile,
           "launch_shortcut_modes": shortcut,
           "blas_backends": backends}
    if out_path:
        with open(out_path, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
