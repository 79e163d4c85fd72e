"""Record real traces of one attention block trained three steps, its attention computed three ways.

    python benchmarks/attention_traces.py OUT [--device cpu|cuda] [--dtype float32|bfloat16]

Writes ``OUT/<mode>.json.gz`` for each mode:

- ``sdpa``: ``F.scaled_dot_product_attention(q, k, v, is_causal=True)``, PyTorch's choice of backend (a fused one:
  FlashAttention on the CPU and, for 16-bit inputs, on the GPU);
- ``math``: the same call inside ``sdpa_kernel(SDPBackend.MATH)``, PyTorch's fallback (the backend a call falls to
  when no fused one takes its inputs, or when a user pins it);
- ``eager``: attention written by hand, as Hugging Face's ``eager`` attention is: ``q @ k^T`` scaled, a causal mask
  added, a float32 softmax, ``@ v``;
- ``flex``: ``flex_attention(q, k, v, block_mask=causal)`` called eagerly, which runs its unfused implementation
  (the score matrix stored; PyTorch warns once); on the CPU, where FlexAttention has no backward, forwards only
  under ``no_grad``;
- ``flex-compiled`` (CUDA only): the same call through ``torch.compile(flex_attention)``, inductor's fused Triton
  kernel (on the CPU its compiled kernel records nothing in the trace).

Each trace holds three profiled steps (forward, backward, an AdamW step) after a warm-up step, with shapes
(``record_shapes=True``). The block: batch 2, 256 tokens, 4 heads of 32 (``--heads``, ``--tokens``, ``--head-dim``).
These traces are the fixtures of ``tests/analysis/test_attention.py`` (CPU, float32).
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
from torch.profiler import profile, schedule

from bambaprof.collect.measure import export_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402


class Block(torch.nn.Module):
    def __init__(self, heads: int, head_dim: int, mode: str) -> None:
        super().__init__()
        self.heads, self.head_dim, self.mode = heads, head_dim, mode
        width = heads * head_dim
        self.qkv = torch.nn.Linear(width, 3 * width, bias=False)
        self.out = torch.nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.mode == "eager":
            scores = torch.matmul(q, k.transpose(2, 3)) * self.head_dim ** -0.5
            causal = torch.full((n, n), float("-inf"), device=x.device, dtype=scores.dtype).triu(1)
            weights = F.softmax(scores + causal, dim=-1, dtype=torch.float32).to(q.dtype)
            y = torch.matmul(weights, v)
        elif self.mode == "math":
            with sdpa_kernel(SDPBackend.MATH):
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif self.mode.startswith("flex"):
            mask = create_block_mask(_causal, None, None, n, n, device=x.device)
            attend = _compiled_flex() if self.mode == "flex-compiled" else flex_attention
            y = attend(q, k, v, block_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


def _causal(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
    return q_idx >= kv_idx


@functools.lru_cache(maxsize=None)
def _compiled_flex() -> Any:
    return torch.compile(flex_attention)


def record(mode: str, out: Path, device: str, dtype: torch.dtype, heads: int, tokens: int, head_dim: int) -> Path:
    torch.manual_seed(0)
    block = Block(heads, head_dim, mode).to(device=device, dtype=dtype)
    opt = torch.optim.AdamW(block.parameters(), lr=1e-3)
    x = torch.randn(2, tokens, heads * head_dim, device=device, dtype=dtype)
    with profile(activities=activities(device), record_shapes=True,
                 schedule=schedule(wait=0, warmup=1, active=3, repeat=1)) as prof:
        for _ in range(4):
            if mode.startswith("flex") and device == "cpu":  # FlexAttention has no backward on the CPU
                with torch.no_grad():
                    block(x)
            else:
                loss = block(x).float().pow(2).mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            prof.step()
    path = out / f"{mode}.json.gz"
    export_trace(prof, path)
    return path


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--head-dim", type=int, default=32)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
    modes = ("sdpa", "math", "eager", "flex") + (("flex-compiled",) if args.device == "cuda" else ())
    for mode in modes:
        path = record(mode, args.out, args.device, getattr(torch, args.dtype), args.heads, args.tokens, args.head_dim)
        written(path)


if __name__ == "__main__":
    main()
