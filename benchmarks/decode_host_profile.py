"""Where a cached decode token's time goes, eager, on a GPU: the host (cProfile of the Python calls) and the
GPU (the top kernels of the profiler's trace, read by ``bambaprof analyze``).

bamba-9b, 4 layers, no attention, bf16, batch 1, the ``triton`` variant (one-launch decode step): a 2048-token
prefill, then 16 tokens. ``--compiled`` runs the same under ``reduce-overhead`` for the kernel table.

    python benchmarks/decode_host_profile.py [--compiled]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, ".")
from bambaprof import analyze  # noqa: E402
from bambaprof.collect.workloads import _CompiledModel  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402


def main() -> int:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    runner = model
    if "--compiled" in sys.argv:
        runner = _CompiledModel(model, torch.compile(model, mode="reduce-overhead"), copy_cache=True)
    ids = torch.randint(0, cfg.vocab_size, (1, 2048), device="cuda")
    with torch.no_grad():
        for _ in range(2):  # warm-up
            cache = model.new_cache()
            nxt = runner(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            for _ in range(8):
                nxt = runner(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        if "--compiled" not in sys.argv:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(16):
                nxt = runner(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(22)
            print("\n".join(out.getvalue().splitlines()[:45]))
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            for _ in range(16):
                nxt = runner(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
    path = tempfile.mkdtemp() + "/trace.json"
    p.export_chrome_trace(path)
    a = analyze(path)
    print("kernel us per token", a.summary["kernel_us"] / 16, "span us per token", a.summary["span_us"] / 16)
    for k in a.kernels[:12]:
        print(f"{k['total_us'] / 16:8.1f} us/token x{k['count'] // 16:3d} {k['achieved_gbps'] or 0:7.0f} GB/s "
              f"{(k['name'] or '')[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
