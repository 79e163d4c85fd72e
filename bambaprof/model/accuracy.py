"""How far each SSD variant moves the model's outputs from the exact recurrence.

For every variant and prompt, against ``reference`` run on the same weights in
float64 (or float32) on the same prompts:

- ``kl_mean``: mean over positions and batch of KL(p_ref || p_variant) between
  next-token distributions (nats), ``kl_max`` the largest;
- ``top1_agreement_pct``: positions where both pick the same most likely token;
- ``greedy_agreement_pct`` (with cache) and ``greedy_agreement_nocache_pct``:
  the share of the N greedily generated tokens equal, position by position, to
  the reference's greedy tokens; ``first_divergence`` the first index that differs
  (``None`` if none);
- ``perplexity`` / ``reference_perplexity`` on a text when a tokenizer and a text are given.

Rows carry the prompt length and the number of chunks it spans, so the growth of
the ``independent`` approximation with length is visible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import first_line
from .decoder import BambaForCausalLM
from .generate import generate


@dataclass
class AccuracyRow:
    variant: str
    prompt: str
    batch: int
    seq_len: int
    chunks: int
    new_tokens: int
    reference_dtype: str
    kl_mean: Optional[float]
    kl_max: Optional[float]
    top1_agreement_pct: Optional[float]
    greedy_agreement_pct: Optional[float]
    greedy_agreement_nocache_pct: Optional[float]
    first_divergence: Optional[int]
    status: str = "ok"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> tuple:
    same = (a == b)
    pct = 100.0 * same.float().mean().item()
    diff = (~same).nonzero()
    return pct, (int(diff[:, 1].min().item()) if len(diff) else None)


@torch.no_grad()
def _run(model: BambaForCausalLM, ids: torch.Tensor, new_tokens: int) -> Dict[str, torch.Tensor]:
    logits = model(ids).double()
    out = {"logp": F.log_softmax(logits, dim=-1)}
    if new_tokens > 0:
        L = ids.shape[1]
        out["greedy"] = generate(model, ids, new_tokens, use_cache=True).tokens[:, L:]
        out["greedy_nocache"] = generate(model, ids, new_tokens, use_cache=False).tokens[:, L:]
    return out


@torch.no_grad()
def measure_accuracy(
    model: BambaForCausalLM,
    variants: Sequence[str],
    prompts: Sequence[Dict[str, Any]],
    new_tokens: int = 16,
    reference_dtype: torch.dtype = torch.float64,
    progress: Optional[Callable[[str], None]] = None,
) -> List[AccuracyRow]:
    """Rows of accuracy metrics; ``prompts`` are ``{"name", "ids": LongTensor (b, L)}``.

    The model is cast to ``reference_dtype`` for the reference pass and back (lossless for
    float32/bf16/fp16 weights into float64), so only one copy of the weights is held.
    """
    work_dtype = next(model.parameters()).dtype
    original_variant = model.variant
    chunk = model.config.mamba_chunk_size
    rows: List[AccuracyRow] = []
    for prompt in prompts:
        ids = prompt["ids"]
        model.to(reference_dtype)
        model.set_variant("reference")
        ref = _run(model, ids, new_tokens)
        model.to(work_dtype)
        for name in variants:
            if progress:
                progress(f"{name} {prompt['name']}")
            base = dict(variant=name, prompt=prompt["name"], batch=ids.shape[0], seq_len=ids.shape[1],
                        chunks=math.ceil(ids.shape[1] / chunk), new_tokens=new_tokens,
                        reference_dtype=str(reference_dtype).replace("torch.", ""))
            try:
                model.set_variant(name)
                got = _run(model, ids, new_tokens)
            except Exception as exc:  # noqa: BLE001 - one failing variant must not hide the others
                msg = first_line(exc)
                rows.append(AccuracyRow(**base, kl_mean=None, kl_max=None, top1_agreement_pct=None,
                                        greedy_agreement_pct=None, greedy_agreement_nocache_pct=None,
                                        first_divergence=None, status=f"error: {msg}"))
                continue
            kl = (ref["logp"].exp() * (ref["logp"] - got["logp"])).sum(-1)  # (b, L)
            top1 = 100.0 * (ref["logp"].argmax(-1) == got["logp"].argmax(-1)).float().mean().item()
            greedy = nocache = first = None
            if new_tokens > 0:
                greedy, first = _agreement(got["greedy"], ref["greedy"])
                nocache, _ = _agreement(got["greedy_nocache"], ref["greedy_nocache"])
            rows.append(AccuracyRow(**base, kl_mean=kl.mean().item(), kl_max=kl.max().item(),
                                    top1_agreement_pct=top1, greedy_agreement_pct=greedy,
                                    greedy_agreement_nocache_pct=nocache, first_divergence=first))
    model.set_variant(original_variant)
    return rows


@torch.no_grad()
def perplexity(model: BambaForCausalLM, token_ids: Sequence[int], window: int, device: str) -> Optional[float]:
    """exp(mean negative log-likelihood) of ``token_ids`` in non-overlapping windows of ``window`` tokens."""
    ids = torch.tensor(list(token_ids), dtype=torch.long, device=device)
    total, count = 0.0, 0
    for start in range(0, len(ids) - 1, window):
        piece = ids[start:start + window + 1]
        if len(piece) < 2:
            break
        logits = model(piece[None, :-1]).double()
        nll = F.cross_entropy(logits[0], piece[1:], reduction="sum")
        total += nll.item()
        count += len(piece) - 1
    return math.exp(total / count) if count else None
