"""Record real traces of token-by-token attention decoding with a KV cache grown by ``torch.cat``, and with one
allocated at its final length and written in place.

    python benchmarks/kv_cache_traces.py OUT [--device cpu|cuda] [--prompt 1024] [--tokens 32]

Writes ``OUT/cat.json.gz`` and ``OUT/static.json.gz``: two attention layers (8 heads of 64, float32 on the CPU,
bfloat16 on CUDA) decode ``--tokens`` tokens after a ``--prompt``-token cache, one profiled step per token (after
a warm-up token), with shapes. ``cat`` appends each token's keys and values with ``torch.cat`` (the whole cache
copied every token, as the Foundation Model Stack's and bambaprof's own attention do); ``static`` writes them into
a preallocated cache (``index_copy_``) and attends over the filled part. These traces are fixtures of
``tests/analysis/test_growing_cats.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402

HEADS, HEAD_DIM, LAYERS = 8, 64, 2


def decode(mode: str, path: Path, device: str, prompt: int, tokens: int) -> None:
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    shape = (1, HEADS, prompt, HEAD_DIM)
    if mode == "cat":
        caches = [[torch.randn(shape, device=device, dtype=dtype) for _ in range(2)] for _ in range(LAYERS)]
    else:
        caches = []
        for _ in range(LAYERS):
            kv = [torch.empty(1, HEADS, prompt + tokens + 1, HEAD_DIM, device=device, dtype=dtype) for _ in range(2)]
            for t in kv:
                t[:, :, :prompt] = torch.randn(shape, device=device, dtype=dtype)
            caches.append(kv)
    length = prompt
    with profile(activities=activities(device), record_shapes=True,
                 schedule=schedule(wait=0, warmup=1, active=tokens, repeat=1)) as prof:
        for _ in range(tokens + 1):
            x = torch.randn(1, HEADS, 1, HEAD_DIM, device=device, dtype=dtype)
            for layer in caches:
                k_new, v_new = x * 0.5, x * 0.25
                if mode == "cat":
                    layer[0] = torch.cat([layer[0], k_new], dim=2)
                    layer[1] = torch.cat([layer[1], v_new], dim=2)
                    k, v = layer
                else:
                    at = torch.tensor([length], device=device)
                    layer[0].index_copy_(2, at, k_new)
                    layer[1].index_copy_(2, at, v_new)
                    k, v = layer[0][:, :, :length + 1], layer[1][:, :, :length + 1]
                x = F.scaled_dot_product_attention(x, k, v)
            length += 1
            prof.step()
    export_trace(prof, path)


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--prompt", type=int, default=1024)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for mode in ("cat", "static"):
        path = args.out / f"{mode}.json.gz"
        decode(mode, path, args.device, args.prompt, args.tokens)
        written(path)


if __name__ == "__main__":
    main()
