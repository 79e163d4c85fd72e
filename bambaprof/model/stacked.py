"""Linears whose weight stacks the rows of several checkpoint projections: the MLP's gate and up, attention's query,
key and value. One product then does their work in one launch and one pass over the input (``bambaprof analyze``'s
``split-projections`` finds the projections a model runs apart); the state dict still names the projections apart,
as Hugging Face's checkpoints do, and loading one stacks them."""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Sequence

import torch
from torch import nn


def register_stacked(module: nn.Module, stacked: str, parts: Sequence[str], sizes: Sequence[int]) -> None:
    """Hooks on ``module`` whose Linear ``stacked`` holds the rows of the projections ``parts`` (``sizes`` rows each,
    in order): its state dict names the parts (views of the stacked weight), and loading a state dict with all of
    them stacks them. Where one is missing or a part's rows differ from its size, they are left as they are, and
    the error ``load_state_dict`` raises names them all."""
    module._register_state_dict_hook(partial(_split, stacked=stacked, parts=tuple(parts), sizes=tuple(sizes)))
    module._register_load_state_dict_pre_hook(partial(_merge, stacked=stacked, parts=tuple(parts), sizes=tuple(sizes)))


def stacked_views(weight: torch.Tensor, sizes: Sequence[int]) -> List[torch.Tensor]:
    """The parts of a stacked weight, views in order (``sizes`` rows each)."""
    return list(weight.split(list(sizes), dim=0))


def _split(module: nn.Module, state: Dict[str, Any], prefix: str, _metadata: Any, *, stacked: str,
           parts: tuple, sizes: tuple) -> None:
    weight = state.pop(f"{prefix}{stacked}.weight", None)
    if weight is not None:
        for name, part in zip(parts, stacked_views(weight, sizes)):
            state[f"{prefix}{name}.weight"] = part


def _merge(state: Dict[str, Any], prefix: str, _metadata: Any, _strict: bool, _missing: List[str],
           _unexpected: List[str], errors: List[str], *, stacked: str, parts: tuple, sizes: tuple) -> None:
    names = [f"{prefix}{name}.weight" for name in parts]
    present = [n for n in names if n in state]
    shapes = [tuple(state[n].shape) for n in present]
    if len(present) == len(names) and all(len(s) == 2 and s[0] == rows and s[1] == shapes[0][1]
                                          for s, rows in zip(shapes, sizes)):
        state[f"{prefix}{stacked}.weight"] = torch.cat([state.pop(n) for n in names], dim=0)
    elif present:
        got = ", ".join(f"{n} {s}" for n, s in zip(present, shapes))
        together = f"{', '.join(names[:-1])} and {names[-1]}"
        errors.append(f"{together} load together, as one stacked weight of {' + '.join(map(str, sizes))} rows; "
                      f"got {got}")
