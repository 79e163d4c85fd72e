"""Greedy generation with and without the cache.

``use_cache=True``: one prefill, then one token per step through the conv
state, SSM state and KV cache. ``use_cache=False``: the whole prefix is
recomputed for every new token (what the study timed for performance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from ..ranges import phase
from .decoder import BambaForCausalLM


@dataclass
class GenerationOutput:
    """``tokens (b, prompt + new)``; ``step_logits``: the logits ``(b, vocab)`` that chose each new token."""

    tokens: torch.Tensor
    step_logits: List[torch.Tensor]


@torch.no_grad()
def generate(
    model: BambaForCausalLM,
    input_ids: torch.Tensor,
    new_tokens: int,
    use_cache: bool = True,
    on_token: Optional[Callable[[int], None]] = None,
    keep_logits: bool = False,
) -> GenerationOutput:
    """Greedily append ``new_tokens`` tokens to ``input_ids (b, L)``.

    ``on_token(i)`` is called after token ``i`` (0-based) is chosen, e.g. to
    time the first token and the gaps between tokens.
    """
    tokens = input_ids
    chosen: List[torch.Tensor] = []  # with the cache, the new tokens are joined once at the end (no launch a step)
    cache = model.new_cache() if use_cache else None
    step_logits: List[torch.Tensor] = []
    next_input = input_ids
    greedy = getattr(model, "greedy", None)
    for i in range(new_tokens):
        if use_cache:
            logits = model(next_input, cache=cache, last_logits_only=True)[:, -1]
        else:
            logits = model(tokens, last_logits_only=True)[:, -1]
        with phase("sample"):
            # the model's greedy choice (one Triton launch for the triton variant), torch's argmax for others
            nxt = greedy(logits) if greedy is not None else logits.argmax(dim=-1, keepdim=True)
            if use_cache:
                chosen.append(nxt)
            else:
                tokens = torch.cat([tokens, nxt], dim=1)
        next_input = nxt
        if keep_logits:
            step_logits.append(logits.to(torch.float32, copy=True))
        if on_token is not None:
            on_token(i)
    if chosen:
        tokens = torch.cat([tokens, *chosen], dim=1)
    return GenerationOutput(tokens=tokens, step_logits=step_logits)
