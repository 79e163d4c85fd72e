"""Record real traces of cached generation whose prefill computes logits at every prompt position, and of the same
generation computing the last position's only.

    python benchmarks/prefill_logits_traces.py OUT [--device cuda] [--prompt 256] [--vocab 32000]

The project's model (the ``tiny`` preset with a vocabulary of ``--vocab`` words, float32), one prompt of
``--prompt`` tokens with the cache, then 4 decode steps, as a hand-written generation loop does it:
``model(ids, cache=cache)`` and the last row of its logits (``all-positions.json.gz``), or
``model(ids, cache=cache, last_logits_only=True)`` (``last-position.json.gz``), shapes recorded. Fixtures of
``tests/analysis/test_prefill_logits.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import profile

from bambaprof.collect.measure import export_trace
from bambaprof.model import build_model
from bambaprof.model.config import preset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_recording import activities, recorder_parser, written  # noqa: E402

STEPS = 4


def generate(model, ids: torch.Tensor, last_only: bool) -> torch.Tensor:
    """Greedy tokens after ``ids`` with the cache: the prefill, then STEPS decode steps."""
    cache = model.new_cache()
    out = []
    logits = model(ids, cache=cache, last_logits_only=last_only)[:, -1]
    for _ in range(STEPS):
        token = logits.argmax(-1, keepdim=True)
        out.append(token)
        logits = model(token, cache=cache, last_logits_only=last_only)[:, -1]
    return torch.cat(out, dim=1)


def main() -> None:
    parser = recorder_parser(__doc__)
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=32000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = preset("tiny", vocab_size=args.vocab)
    model = build_model(cfg, "default", seed=0, device=args.device)
    ids = torch.randint(0, args.vocab, (1, args.prompt), generator=torch.Generator().manual_seed(0)).to(args.device)
    tokens = {}
    with torch.no_grad():
        for name, last_only in (("all-positions", False), ("last-position", True)):
            generate(model, ids, last_only)  # warm up
            with profile(activities=activities(args.device), record_shapes=True) as prof:
                tokens[name] = generate(model, ids, last_only)
                if args.device == "cuda":
                    torch.cuda.synchronize()
            path = args.out / f"{name}.json.gz"
            export_trace(prof, path)
            written(path)
    assert torch.equal(tokens["all-positions"], tokens["last-position"])  # the same tokens either way


if __name__ == "__main__":
    main()
