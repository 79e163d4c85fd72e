"""The workloads a run measures: one mixer forward, a model prefill, or token generation.

A :class:`Workload` runs one iteration per call of ``step(stopwatch)``; it marks
the stopwatch at the start and end (and, for generation, after every token),
so the runner gets per-iteration times and, for generation, time to first
token and inter-token latencies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from ..errors import UsageError
from ..model import build_mixer, build_model, generate
from ..model.config import BambaConfig
from ..ranges import phase
from ..run import WORKLOADS
from .compile import compile_callable, uses_cudagraphs
from .timing import Stopwatch


@dataclass
class Workload:
    """One measurable iteration. ``tokens``: tokens processed (forward) or produced (generate) per step."""

    name: str
    step: Callable[[Optional[Stopwatch]], None]
    tokens: int
    per_token_marks: bool = False
    notes: List[str] = field(default_factory=list)


@dataclass
class _Stack:
    """What the workloads need of a model stack (bambaprof's own model, or a host).

    ``mixer``: the first Mamba2 mixer (the mixer workload builds only this); ``model``: the
    interface :func:`generate` uses, ``model(ids, cache=None, last_logits_only=False) -> logits``
    (and ``new_cache()`` for bambaprof's own model; hosts run without cache), with its calls going
    through the compiled forward.
    """

    config: BambaConfig
    mixer: Optional[Callable[..., Any]] = None
    model: Optional[Any] = None


HOSTS = ("bambaprof", "hf", "fms")


def build_workload(
    name: str,
    config: BambaConfig,
    variant: str,
    batch: int,
    seq_len: int,
    new_tokens: int,
    use_cache: bool,
    compile_mode: str,
    compile_options: Dict[str, Any],
    dynamic: bool,
    device: str,
    seed: int,
    prompt_ids: Optional[List[int]] = None,
    checkpoint: Optional[str] = None,
    host: str = "bambaprof",
) -> Workload:
    """Build the modules and inputs of a workload on ``device`` (seeded, or from ``checkpoint``)
    and return its step. With a checkpoint, the model's configuration is the checkpoint's."""
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r} (choose from {', '.join(WORKLOADS)})")
    if host not in HOSTS:
        raise UsageError(f"unknown host {host!r} (choose from {', '.join(HOSTS)})")
    if name == "generate" and new_tokens <= 0:
        raise UsageError("--new-tokens must be positive for the generate workload")
    if name == "generate" and use_cache and host != "bambaprof":
        raise UsageError(f"--host {host} generates without the cache: add --no-cache")
    graphs = replays_cuda_graphs(device, compile_mode, compile_options)

    def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
        return compile_callable(fn, compile_mode, compile_options, dynamic)

    if host == "bambaprof":
        stack = _own_stack(name, config, variant, seed, device, checkpoint, compiled, copy_cache=graphs)
    else:
        stack = _hosted_stack(host, name, config, variant, seed, device, checkpoint, compiled)
    config = stack.config
    gen = torch.Generator(device="cpu").manual_seed(seed + 1)

    if name == "mixer":
        hidden = torch.randn(batch, seq_len, config.hidden_size, generator=gen).to(device=device,
                                                                                   dtype=config.torch_dtype)
        fn = compiled(stack.mixer)
        return Workload(name, _timed(lambda: fn(hidden)), batch * seq_len)

    if prompt_ids is not None:
        if any(not 0 <= t < config.vocab_size for t in prompt_ids):
            raise UsageError(f"prompt token ids must lie in [0, {config.vocab_size})")
        ids = torch.tensor([prompt_ids] * batch, dtype=torch.long)
    else:
        ids = torch.randint(0, config.vocab_size, (batch, seq_len), generator=gen)
    ids = ids.to(device)
    model = stack.model

    if name == "prefill":
        return Workload(name, _timed(lambda: model(ids, last_logits_only=True)), batch * ids.shape[1])

    notes = []
    if compile_mode != "none" and not use_cache and not dynamic:
        notes.append("generation without cache grows the input every token: without --dynamic each new "
                     "length recompiles")
    if use_cache and graphs:  # hosts generate without the cache, so the cache here is _CompiledModel's
        notes.append("CUDA graphs: the cache's tensors are copied out of the graph pool after every step "
                     "(the next replay overwrites them); the copies are part of the measured time")

    def step(sw: Optional[Stopwatch]) -> None:
        if sw:
            sw.mark()
        generate(model, ids, new_tokens, use_cache=use_cache, on_token=(lambda _i: sw.mark()) if sw else None)

    return Workload(name, step, batch * new_tokens, per_token_marks=True, notes=notes)


def replays_cuda_graphs(device: str, compile_mode: str, compile_options: Dict[str, Any]) -> bool:
    """Whether compiled calls on ``device`` replay CUDA graphs (inductor records them on CUDA only)."""
    return device.startswith("cuda") and uses_cudagraphs(compile_mode, compile_options)


def _timed(call: Callable[[], Any]) -> Callable[[Optional[Stopwatch]], None]:
    """A step that runs ``call`` once, marking the stopwatch before and after."""
    def step(sw: Optional[Stopwatch]) -> None:
        if sw:
            sw.mark()
        call()
        if sw:
            sw.mark()

    return step


def _own_stack(name: str, config: BambaConfig, variant: str, seed: int, device: str, checkpoint: Optional[str],
               compiled: Callable[[Any], Any], copy_cache: bool = False) -> _Stack:
    """bambaprof's own model (seeded, or from a checkpoint); the mixer workload builds one mixer only."""
    loaded = None
    if checkpoint is not None:
        from ..model.checkpoint import load_checkpoint

        loaded, config, _ = load_checkpoint(checkpoint, variant, device, config.dtype)
    if name == "mixer":
        if loaded is None:
            return _Stack(config, mixer=build_mixer(config, variant, seed, device))
        mixers = [layer.mamba for layer in loaded.model.layers if layer.layer_type == "mamba"]
        if not mixers:
            raise UsageError(f"{checkpoint}: the checkpoint has no Mamba2 layer to profile")
        return _Stack(config, mixer=mixers[0])
    model = loaded if loaded is not None else build_model(config, variant, seed, device)
    return _Stack(config, model=_CompiledModel(model, compiled(model), copy_cache=copy_cache))


def _hosted_stack(host: str, name: str, config: BambaConfig, variant: str, seed: int, device: str,
                  checkpoint: Optional[str], compiled: Callable[[Any], Any]) -> _Stack:
    """transformers' or FMS's Bamba hosting ``variant`` (no cache: see bambaprof.model.hosts)."""
    from ..model.hosts import build_fms_host, build_transformers_host

    if host == "hf":
        model = build_transformers_host(config, variant, seed, device, checkpoint)
        mixers = [layer.mamba for layer in model.model.layers if hasattr(layer, "mamba")]
        call = lambda ids: model(ids, use_cache=False).logits  # noqa: E731
    else:
        if checkpoint is not None:
            raise UsageError("--host fms builds FMS's model from the preset: --checkpoint is not supported")
        model = build_fms_host(config, variant, seed, device)
        mixers = [layer.ssm for layer in model.base_model.layers if getattr(layer, "ssm", None) is not None]
        call = lambda ids: model(ids)  # noqa: E731
    if name == "mixer":
        return _Stack(config, mixer=mixers[0])
    return _Stack(config, model=_HostedModel(config, compiled(call)))


class _HostedModel:
    """What :func:`generate` needs of a model, for a host (no cache): logits through ``forward``."""

    def __init__(self, config: Any, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.config = config
        self._forward = forward

    def __call__(self, input_ids: torch.Tensor, cache=None, last_logits_only: bool = False) -> torch.Tensor:
        out = self._forward(input_ids)
        return out[:, -1:] if last_logits_only else out


class _CompiledModel:
    """The model's interface for :func:`generate`, with calls going through the compiled forward.

    ``copy_cache``: copy the cache tensors each call replaced (see :meth:`ModelCache.copy_tensors_`),
    needed when the forward replays CUDA graphs; tensors updated in place are not copied."""

    def __init__(self, model: Any, forward: Callable, copy_cache: bool = False) -> None:
        self._model = model
        self._forward = forward
        self.config = model.config
        self.copy_cache = copy_cache

    def new_cache(self):
        return self._model.new_cache()

    def greedy(self, logits: torch.Tensor) -> torch.Tensor:
        return self._model.greedy(logits)

    def __call__(self, input_ids: torch.Tensor, cache=None, last_logits_only: bool = False):
        kept = cache.tensor_ids() if self.copy_cache and cache is not None else None
        out = self._forward(input_ids, cache=cache, last_logits_only=last_logits_only)
        if self.copy_cache and cache is not None:
            with phase("cache_copy"):  # only what the step replaced: a cache updated in place stays
                cache.copy_tensors_(kept)
        return out


def load_prompts(path: str) -> List[Dict[str, Any]]:
    """Prompts from a JSON file: ``{"prompts": [{"name": ..., "tokens": N} | {"name": ..., "token_ids": [...]}]}``.

    Without a tokenizer, a prompt is its length (random token ids are drawn) or
    explicit token ids. Returns ``[{"name", "length", "token_ids" or None}]``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"--prompts {path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"--prompts {path}: invalid JSON ({exc})") from None
    items = data.get("prompts") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise UsageError(f"--prompts {path}: expected {{\"prompts\": [...]}} with at least one prompt")
    out = []
    for i, p in enumerate(items):
        if not isinstance(p, dict):
            raise UsageError(f"--prompts {path}: prompt {i} is not an object")
        ids = p.get("token_ids")
        if ids is not None:
            if not isinstance(ids, list) or not ids or not all(isinstance(t, int) for t in ids):
                raise UsageError(f"--prompts {path}: prompt {i} token_ids must be a non-empty list of integers")
            length = len(ids)
        else:
            length = p.get("tokens")
            if not isinstance(length, int) or length <= 0:
                raise UsageError(f"--prompts {path}: prompt {i} needs a positive integer 'tokens' or 'token_ids'")
        out.append({"name": str(p.get("name", f"prompt{i}")), "length": length, "token_ids": ids})
    return out
