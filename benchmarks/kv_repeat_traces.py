"""Record real traces of grouped-query attention's decode steps three ways: keys and values repeated to the query's
heads by ``repeat_interleave``, by Hugging Face's ``repeat_kv`` (expand and reshape), and read in place with
``enable_gqa=True``.

    python benchmarks/kv_repeat_traces.py OUT [--device cuda] [--length 2048] [--dtype bf16]

Each trace holds 8 decode steps (one query token) of one attention layer of Bamba-9B's shapes (32 query heads, 8
key and value heads of 128) over a static cache of ``--length`` tokens and more, under a ``record_function``
named ``attention``, with shapes recorded: ``repeat-interleave.json.gz``, ``repeat-kv.json.gz``, ``enable-gqa.json.gz``.
The first two are fixtures of ``tests/analysis/test_kv_repeats.py`` (``--table repeats``, ``repeated-kv``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import profile, record_function

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402

HEADS, KV_HEADS, HEAD_DIM, STEPS = 32, 8, 128, 8


def repeat_kv(x: torch.Tensor, r: int) -> torch.Tensor:
    """Hugging Face's ``repeat_kv``: ``[b, h, S, d]`` to ``[b, h * r, S, d]`` through an expanded view."""
    b, h, s, d = x.shape
    return x[:, :, None].expand(b, h, r, s, d).reshape(b, h * r, s, d)


FORMS = {
    "repeat-interleave": lambda q, k, v, r: F.scaled_dot_product_attention(q, k.repeat_interleave(r, dim=1),
                                                                           v.repeat_interleave(r, dim=1)),
    "repeat-kv": lambda q, k, v, r: F.scaled_dot_product_attention(q, repeat_kv(k, r), repeat_kv(v, r)),
    "enable-gqa": lambda q, k, v, r: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
}


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    g = torch.Generator().manual_seed(0)
    cache = [torch.randn(1, KV_HEADS, args.length + STEPS, HEAD_DIM, generator=g).to(args.device, dtype)
             for _ in range(2)]
    queries = torch.randn(STEPS, 1, HEADS, 1, HEAD_DIM, generator=g).to(args.device, dtype)
    for name, attend in FORMS.items():
        def step(i: int, attend=attend) -> torch.Tensor:
            s = args.length + i + 1
            with record_function("attention"):
                return attend(queries[i], cache[0][:, :, :s], cache[1][:, :, :s], HEADS // KV_HEADS)
        for i in range(2):  # warm up
            step(i)
        with profile(activities=activities(args.device), record_shapes=True) as prof:
            for i in range(STEPS):
                step(i)
            if args.device == "cuda":
                torch.cuda.synchronize()
        path = args.out / f"{name}.json.gz"
        export_trace(prof, path)
        written(path)


if __name__ == "__main__":
    main()
